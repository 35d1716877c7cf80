// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapd's STATUS and STATS replies.
 */
#include <errno.h>
#include <string.h>

#include "xsnapd.h"

int op_status(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	char name[IF_NAMESIZE];
	struct xp_msg m;
	uint32_t n = 0;

	xp_get_str(in, name, sizeof(name), true);
	if (xp_done(in))
		return reply_err(d, c, XP_STATUS, -EBADMSG, "malformed STATUS");
	if (*name && !iface_find(d, name, false))
		return reply_err(d, c, XP_STATUS, -ENOENT, "%s is not attached", name);
	xp_begin(&m, d->out, sizeof(d->out), XP_STATUS, 0);
	for (int i = 0; i < MAX_IFACES; i++)
		n += d->ifs[i].used && (!*name || !strcmp(d->ifs[i].name, name));
	xp_put_u32(&m, n);
	for (int i = 0; i < MAX_IFACES; i++) {
		struct iface *f = &d->ifs[i];
		struct xsnap_ctx *ctx = f->ctx;
		uint32_t flags = 0;

		if (!f->used || (*name && strcmp(f->name, name)))
			continue;
		if (f->gone)
			flags |= XP_IF_GONE;
		if (ctx && ctx->nq && ctx->q[0].zerocopy)
			flags |= XP_IF_ZEROCOPY;
		xp_put_str(&m, f->name);
		xp_put_u32(&m, (uint32_t)f->ifindex);
		xp_put_u32(&m, flags);
		xp_put_u32(&m, ctx ? ctx->steer.mode : 0);
		xp_put_u32(&m, ctx ? ctx->umem.nframes : 0);
		xp_put_u32(&m, iface_nsocks(d, i));
		xp_put_str(&m, ctx ? ctx->steer.pin_dir : "");
		xp_put_u32(&m, ctx ? ctx->nq : 0);
		for (uint32_t q = 0; ctx && q < ctx->nq; q++) {
			xp_put_u32(&m, ctx->q[q].id);
			xp_put_u32(&m, ctx->q[q].zerocopy);
		}
	}
	n = 0;
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		n += d->tenants[i].used;
	xp_put_u32(&m, n);
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		struct dtenant *t = &d->tenants[i];
		uint32_t ns = 0;

		if (!t->used)
			continue;
		for (int k = 0; k < MAX_DSOCKS; k++)
			ns += d->socks[k].s && !strcmp(d->socks[k].s->t->name, t->name);
		xp_put_str(&m, t->name);
		xp_put_u32(&m, t->quota);
		xp_put_u32(&m, t->pool);
		xp_put_i64(&m, t->uid);
		xp_put_i64(&m, t->gid);
		xp_put_u32(&m, ns);
	}
	n = 0;
	for (int i = 0; i < MAX_DRULES; i++)
		n += d->rules[i].used;
	xp_put_u32(&m, n);
	for (int i = 0; i < MAX_DRULES; i++) {
		struct drule *r = &d->rules[i];

		if (!r->used)
			continue;
		xp_put_u32(&m, r->id);
		xp_put_str(&m, r->tenant);
		xp_put_str(&m, r->match);
		xp_put_u32(&m, r->prio);
		xp_put_u32(&m, r->action);
	}
	if (m.err)
		return reply_err(d, c, XP_STATUS, -EMSGSIZE, "status too large for one message");
	return reply(c, &m, NULL, 0);
}

static void stats_add(struct xsnap_stats *a, const struct xsnap_stats *b)
{
#define X(f) a->f += b->f;
	XP_STATS_FIELDS(X)
#undef X
	for (int i = 0; i < XP_STATS_XDP; i++)
		a->xdp[i] += b->xdp[i];
}

/* Sum of @tenant's (NULL: every tenant's) counters over live interfaces. */
static void stats_sum(struct daemon *d, const char *tenant, struct xsnap_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->sz = sizeof(*out);
	for (int i = 0; i < MAX_IFACES; i++) {
		XSNAP_OPTS(xsnap_stats, st);

		if (!d->ifs[i].used || !d->ifs[i].ctx)
			continue;
		if (!xsnap_stats(d->ifs[i].ctx, tenant, &st))
			stats_add(out, &st);
	}
}

int op_stats(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	char name[TENANT_NAME_MAX];
	struct xsnap_stats st;
	struct xp_msg m;
	uint32_t n = 0;

	xp_get_str(in, name, sizeof(name), true);
	if (xp_done(in))
		return reply_err(d, c, XP_STATS, -EBADMSG, "malformed STATS");
	if (*name && !tenant_find(d, name))
		return reply_err(d, c, XP_STATS, -ENOENT, "no tenant %s", name);
	xp_begin(&m, d->out, sizeof(d->out), XP_STATS, 0);
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		n += d->tenants[i].used && (!*name || !strcmp(d->tenants[i].name, name));
	xp_put_u32(&m, n + 1);
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		struct dtenant *t = &d->tenants[i];

		if (!t->used || (*name && strcmp(t->name, name)))
			continue;
		stats_sum(d, t->name, &st);
		xp_put_str(&m, t->name);
		xp_put_stats(&m, &st);
	}
	stats_sum(d, NULL, &st);
	xp_put_str(&m, "");
	xp_put_stats(&m, &st);
	return reply(c, &m, NULL, 0);
}

