// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapd's STATUS and STATS replies, and the figures behind them.
 *
 * Least disclosure.  Root and the admin group see everything.  Any other
 * client sees the interfaces and their interface-wide figures (not which
 * classifier serves the rules, which follows from every tenant's), and of
 * the tenants only those it may consume (may_consume(): its uid is the
 * tenant's --uid or one of its groups the tenant's --gid), with their
 * rules; in STATS its totals are sums over those tenants.  A tenant it may
 * not see is answered as one that does not exist.
 *
 * Cost.  A reply costs one pass over the tenants and the client sockets of
 * each interface, plus a getsockopt per queue and a BPF map lookup per
 * drop reason and per tenant; nothing walks frames.  The library holds its
 * engine lock only while it copies the engine's counters
 * (serve_tenant_figures(), serve_if_figures(): the kernel and BPF counters
 * are read after it), and the reply is built from the copies.
 *
 * "delivered".  The counters a consumer writes into its control page
 * (delivered, bad_releases, skipped) are its own word: a hostile one can
 * write anything there.  So a tenant's delivered figure comes from state
 * the daemon owns: for each socket, the sequence numbers its release
 * watermark has passed since it opened, the watermark being the socket's
 * `low` clipped to the log's head and never allowed to go back.  For a
 * fan-out socket these are the frames it received and released.  The
 * members of a share group split the frames and each one's watermark also
 * passes its mates' frames, so a group counts once, up to its slowest
 * member's watermark.  A socket that closes is folded into its tenant's
 * figure.  A consumer can thus neither inflate its tenant's figure beyond
 * the frames its tenant logged nor move any other tenant's.  bad_releases
 * and recvfrom_skipped, which only the consumer can know, are reported per
 * tenant as its consumers report them (saturating, never wrapping a sum).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xsnapd.h"

/* The tenants @c may see, a mask over d->tenants. */
static uint32_t visible(struct daemon *d, const struct conn *c)
{
	uint32_t m = 0;

	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		if (d->tenants[i].used && may_consume(c, &d->tenants[i]))
			m |= 1u << i;
	return m;
}

/* Tenant @name if it is among @want, else NULL: a tenant a client may not
 * see does not exist for it. */
static struct dtenant *visible_tenant(struct daemon *d, uint32_t want, const char *name)
{
	struct dtenant *t = tenant_find(d, name);

	return t && want & 1u << (t - d->tenants) ? t : NULL;
}

/* --- delivered: release watermarks ---------------------------------------- */

/* Move @ds's watermark to its socket's `low`, clipped to the log's head. */
static void watermark(struct dsock *ds)
{
	uint64_t low = serve_sock_low(ds->s);

	if (low > ds->low_seen)
		ds->low_seen = low;
}

/* Is @b another member of @a's share group? */
static bool same_group(const struct dsock *a, const struct dsock *b)
{
	uint32_t ga, gb;

	return a != b && b->s && a->ifc == b->ifc && a->dt == b->dt &&
	       serve_sock_share(b->s, &gb) && serve_sock_share(a->s, &ga) && ga == gb;
}

void dsock_opened(struct daemon *d, uint32_t idx)
{
	struct dsock *ds = &d->socks[idx];

	uint32_t group;

	/* a new socket starts at the head: it has passed nothing */
	ds->start = ds->low_seen = ds->group_base = serve_sock_cursor(ds->s);
	if (!serve_sock_share(ds->s, &group))
		return;
	/* its group's count goes on from where the group started; the
	 * group's slowest watermark is unchanged (ours is at the head) */
	for (int i = 0; i < MAX_DSOCKS; i++) {
		if (same_group(ds, &d->socks[i])) {
			ds->group_base = d->socks[i].group_base;
			break;
		}
	}
}

void dsock_closing(struct daemon *d, uint32_t idx)
{
	struct dsock *ds = &d->socks[idx];
	uint32_t group;

	watermark(ds);
	if (serve_sock_share(ds->s, &group)) {
		/* the others carry the group's count on (their slowest
		 * watermark can only be ahead of the group's so far) */
		for (int i = 0; i < MAX_DSOCKS; i++)
			if (same_group(ds, &d->socks[i]))
				return;
		d->tenants[ds->dt].fig[ds->ifc].delivered_closed += ds->low_seen - ds->group_base;
		return;
	}
	d->tenants[ds->dt].fig[ds->ifc].delivered_closed += ds->low_seen - ds->start;
}

static int key_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Add the delivered figures of the open sockets on interface @ifc to
 * st[tenant] for the tenants in @want.  Share groups:
 * sorted by (tenant, group), each run of one group counts once.
 */
static void open_delivered(struct daemon *d, int ifc, uint32_t want, struct xsnap_stats *st)
{
	static uint64_t keys[MAX_DSOCKS];	/* tenant << 42 | group << 10 | index */
	unsigned int nk = 0;

	for (uint32_t i = 0; i < MAX_DSOCKS; i++) {
		struct dsock *ds = &d->socks[i];
		uint32_t group;

		if (!ds->s || ds->ifc != ifc || !(want & 1u << ds->dt))
			continue;
		watermark(ds);
		if (serve_sock_share(ds->s, &group))
			keys[nk++] = (uint64_t)ds->dt << 42 | (uint64_t)group << 10 | i;
		else
			st[ds->dt].delivered += ds->low_seen - ds->start;
	}
	qsort(keys, nk, sizeof(keys[0]), key_cmp);
	for (unsigned int i = 0; i < nk;) {
		struct dsock *first = &d->socks[keys[i] & 1023];
		uint64_t slowest = first->low_seen;
		unsigned int j = i + 1;

		for (; j < nk && keys[j] >> 10 == keys[i] >> 10; j++)
			if (d->socks[keys[j] & 1023].low_seen < slowest)
				slowest = d->socks[keys[j] & 1023].low_seen;
		st[first->dt].delivered += slowest - first->group_base;
		i = j;
	}
}

/* --- STATS ------------------------------------------------------------------ */
void iface_figures(struct daemon *d, struct iface *f, uint32_t want, struct xsnap_stats *tst,
		   struct xsnap_stats *ist)
{
	int ifc = (int)(f - d->ifs);

	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		struct dtenant *t = &d->tenants[i];

		if (!(want & 1u << i))
			continue;
		serve_tenant_figures(f->ctx, t->name, &tst[i]);
		tst[i].delivered += t->fig[ifc].delivered_closed;
		tst[i].tx_refused += t->fig[ifc].tx_refused;
		tst[i].tx_copied += t->fig[ifc].tx_copied;
	}
	open_delivered(d, ifc, want, tst);
	serve_if_figures(f->ctx, ist);
}

static void stats_add(struct xsnap_stats *a, const struct xsnap_stats *b)
{
#define X(f) a->f += b->f;
	XP_STATS_FIELDS(X)
#undef X
	for (int i = 0; i < XP_STATS_XDP; i++)
		a->xdp[i] += b->xdp[i];
}

/*
 * The interface-wide figures of every attached interface into *@ist:
 * counts add up, but zerocopy and xdp_mode are states, not counts: zerocopy
 * is 1 when every interface runs zero-copy, xdp_mode the mode they all run
 * (0 when they differ).  Per interface, STATUS has both.
 */
static void all_figures(struct daemon *d, uint32_t want, struct xsnap_stats *tst,
			struct xsnap_stats *ist)
{
	uint32_t zc = 1, mode = 0;
	bool any = false;

	for (int i = 0; i < MAX_IFACES; i++) {
		struct xsnap_stats one = { 0 };

		if (!d->ifs[i].used || !d->ifs[i].ctx)
			continue;
		iface_figures(d, &d->ifs[i], want, tst, &one);
		zc &= one.zerocopy;
		mode = !any || one.xdp_mode == mode ? one.xdp_mode : 0;
		any = true;
		one.zerocopy = one.xdp_mode = 0;
		stats_add(ist, &one);
	}
	ist->zerocopy = any ? zc : 0;
	ist->xdp_mode = mode;
}

int op_stats(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	static struct xsnap_stats tst[XSNAP_MAX_TENANTS];
	struct xsnap_stats ist, tot;
	char name[TENANT_NAME_MAX];
	uint32_t want, n = 0;
	struct dtenant *one = NULL;
	struct xp_msg m;

	xp_get_str(in, name, sizeof(name), true);
	if (xp_done(in))
		return reply_err(d, c, XP_STATS, -EBADMSG, "malformed STATS");
	want = visible(d, c);
	if (*name && !(one = visible_tenant(d, want, name)))
		return reply_err(d, c, XP_STATS, -ENOENT, "no tenant %s", name);
	memset(tst, 0, sizeof(tst));
	memset(&ist, 0, sizeof(ist));
	all_figures(d, want, tst, &ist);
	memset(&tot, 0, sizeof(tot));
	tot.sz = sizeof(tot);
	xp_begin(&m, d->out, sizeof(d->out), XP_STATS, 0);
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		n += (want & 1u << i) && (!one || one == &d->tenants[i]);
	xp_put_u32(&m, n + 1);
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		if (!(want & 1u << i))
			continue;
		stats_add(&tot, &tst[i]);
		if (one && one != &d->tenants[i])
			continue;
		stats_add(&tst[i], &ist);
		xp_put_str(&m, d->tenants[i].name);
		xp_put_stats(&m, &tst[i]);
	}
	/* the total: the tenants it may see, and the interfaces */
	tot.xdp_tenant_frames = 0;
	stats_add(&tot, &ist);
	xp_put_str(&m, "");
	xp_put_stats(&m, &tot);
	return reply(c, &m, NULL, 0);
}

/*
 * STATS_IF: the figures of one attached interface, from slot @from on,
 * each of its tenants' apart from the interface-wide ones (which STATS adds
 * to every tenant's); xsnapctl stats --prometheus asks for each in turn.
 */
int op_stats_if(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	static struct xsnap_stats tst[XSNAP_MAX_TENANTS];
	struct xsnap_stats ist = { .sz = sizeof(ist) };
	char name[TENANT_NAME_MAX];
	struct dtenant *one = NULL;
	struct iface *f = NULL;
	uint32_t want, from;
	struct xp_msg m;

	xp_get_str(in, name, sizeof(name), true);
	from = xp_get_u32(in);
	if (xp_done(in))
		return reply_err(d, c, XP_STATS_IF, -EBADMSG, "malformed STATS_IF");
	want = visible(d, c);
	if (*name && !(one = visible_tenant(d, want, name)))
		return reply_err(d, c, XP_STATS_IF, -ENOENT, "no tenant %s", name);
	if (one)
		want = 1u << (one - d->tenants);
	for (uint32_t i = from; !f && i < MAX_IFACES; i++)
		if (d->ifs[i].used && d->ifs[i].ctx)
			f = &d->ifs[i];
	xp_begin(&m, d->out, sizeof(d->out), XP_STATS_IF, 0);
	xp_put_u32(&m, !!f);
	if (!f)
		return reply(c, &m, NULL, 0);
	memset(tst, 0, sizeof(tst));
	iface_figures(d, f, want, tst, &ist);
	xp_put_u32(&m, (uint32_t)(f - d->ifs));
	xp_put_str(&m, f->name);
	xp_put_stats(&m, &ist);
	xp_put_u32(&m, (uint32_t)__builtin_popcount(want));
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		if (!(want & 1u << i))
			continue;
		xp_put_str(&m, d->tenants[i].name);
		xp_put_stats(&m, &tst[i]);
	}
	if (m.err)
		return reply_err(d, c, XP_STATS_IF, -EMSGSIZE, "figures too large for one message");
	return reply(c, &m, NULL, 0);
}

/* --- STATUS ------------------------------------------------------------------ */
int op_status(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	unsigned int if_socks[MAX_IFACES] = { 0 }, t_socks[XSNAP_MAX_TENANTS] = { 0 };
	char name[IF_NAMESIZE];
	struct xp_msg m;
	uint32_t want, n = 0;

	uint32_t from, next = 0;
	size_t room;

	xp_get_str(in, name, sizeof(name), true);
	from = xp_get_u32(in);
	if (xp_done(in) || from > MAX_DRULES)
		return reply_err(d, c, XP_STATUS, -EBADMSG, "malformed STATUS");
	if (*name && !iface_find(d, name, false))
		return reply_err(d, c, XP_STATUS, -ENOENT, "%s is not attached", name);
	want = visible(d, c);
	for (int i = 0; i < MAX_DSOCKS; i++) {
		if (!d->socks[i].s)
			continue;
		if_socks[d->socks[i].ifc]++;
		t_socks[d->socks[i].dt]++;
	}
	xp_begin(&m, d->out, sizeof(d->out), XP_STATUS, 0);
	for (int i = 0; i < MAX_IFACES; i++)
		n += d->ifs[i].used && (!*name || !strcmp(d->ifs[i].name, name));
	xp_put_u32(&m, n);
	for (int i = 0; i < MAX_IFACES; i++) {
		struct iface *f = &d->ifs[i];
		struct serve_if_info info = { .pin_dir = "" };
		struct serve_attach at = { 0 };
		uint32_t flags = 0;

		if (!f->used || (*name && strcmp(f->name, name)))
			continue;
		if (f->ctx) {	/* a gone interface has none */
			serve_if_info(f->ctx, &info);
			/* asked of the kernel now, not what the attach meant to do */
			if (serve_attach_info(f->ctx, &at))
				log_debug("%s: attachment query: %s", f->name, strerror(errno));
		}
		if (f->gone)
			flags |= XP_IF_GONE;
		if (info.nq && info.q[0].zerocopy)
			flags |= XP_IF_ZEROCOPY;
		else if (info.nq && info.q[0].zc_reason == ZC_NOT_REQUESTED)
			flags |= XP_IF_ZC_NOT_REQUESTED;
		else if (info.nq && info.q[0].zc_reason == ZC_NO_DRIVER)
			flags |= XP_IF_ZC_NO_DRIVER;
		if (info.xdp_stamp)
			flags |= XP_IF_XDP_STAMP;
		if (info.huge)
			flags |= XP_IF_HUGEPAGES;
		/* the classifier follows from every tenant's rules: least
		 * disclosure, for root and the admin group only */
		if (!c->admin) {
			flags |= XP_IF_SPEC_HIDDEN;
			info.spec_keys = 0;
		} else if (f->ctx && !info.spec_on) {
			flags |= XP_IF_SPEC_OFF;
		}
		xp_put_str(&m, f->name);
		xp_put_u32(&m, (uint32_t)f->ifindex);
		xp_put_u32(&m, flags);
		xp_put_u32(&m, info.xdp_mode);
		xp_put_u32(&m, info.nframes);
		xp_put_u32(&m, if_socks[i]);
		xp_put_str(&m, info.pin_dir);
		xp_put_u32(&m, info.ngroups);
		xp_put_u32(&m, info.nq);
		for (uint32_t q = 0; q < info.nq; q++) {
			xp_put_u32(&m, info.q[q].id);
			xp_put_u32(&m, info.q[q].zerocopy);
			xp_put_u32(&m, info.q[q].group + 1);
		}
		xp_put_u32(&m, at.link_id);
		xp_put_u32(&m, at.kind);
		xp_put_u32(&m, at.prog_id);
		xp_put_u32(&m, at.if_prog_id);
		xp_put_str(&m, at.if_prog_name);
		xp_put_u32(&m, at.if_mode);
		xp_put_u32(&m, info.spec_keys);
	}
	xp_put_u32(&m, (uint32_t)__builtin_popcount(want));
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		struct dtenant *t = &d->tenants[i];

		if (!(want & 1u << i))
			continue;
		xp_put_str(&m, t->name);
		xp_put_u32(&m, t->quota);
		xp_put_u32(&m, t->pool);
		xp_put_i64(&m, t->uid);
		xp_put_i64(&m, t->gid);
		xp_put_u32(&m, t_socks[i]);
		xp_put_str(&m, t->view);
		xp_put_u32(&m, t->qgroup);
	}
	/* rules from slot @from on, as many as one message holds; @next
	 * says where the next page starts (0: none), so that 10 000 rules
	 * come in pages rather than fail (a page is consistent in itself;
	 * the client asks again for the rest) */
	room = m.cap > m.len + 8 ? m.cap - m.len - 8 : 0;
	n = 0;
	for (uint32_t i = from; i < d->rules_end; i++) {
		struct drule *r = &d->rules[i];
		size_t sz;

		if (!r->used || !(want & 1u << r->dt))
			continue;
		sz = 4 + 2 + strlen(r->tenant) + 2 + strlen(r->match) + 4 + 4;
		if (sz > room) {
			next = i;
			break;
		}
		room -= sz;
		n++;
	}
	xp_put_u32(&m, n);
	for (uint32_t i = from; i < d->rules_end && n; i++) {
		struct drule *r = &d->rules[i];

		if (!r->used || !(want & 1u << r->dt))
			continue;
		n--;
		xp_put_u32(&m, r->id);
		xp_put_str(&m, r->tenant);
		xp_put_str(&m, r->match);
		xp_put_u32(&m, r->prio);
		xp_put_u32(&m, r->action);
	}
	xp_put_u32(&m, next);
	if (m.err)
		return reply_err(d, c, XP_STATUS, -EMSGSIZE, "status too large for one message");
	return reply(c, &m, NULL, 0);
}
