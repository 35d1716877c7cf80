// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The reference audit: every chunk's reference count recounted from what
 * should hold it.
 *
 * Frame conservation (free + with the kernel + referenced == total) cannot
 * see a reference that is never dropped (a lost completion, a missed put,
 * an orphaned view): such a chunk simply counts as referenced forever.  The
 * audit recounts, for every chunk of the receive region, of the pools and
 * of every private view, the holders the bookkeeping knows of:
 *
 *   - log entries [tail, head) of every tenant, live or deleted, in the
 *     tenant's view (a private view's chunk, or a receive or pool chunk);
 *   - superseded versions still kept for readers;
 *   - private versions and fresh frames held by sockets (pool chunks);
 *   - transmits in flight: their addresses are with the kernel, so only
 *     their number is known (the owner FIFO): the excess of the reference
 *     counts over the holders must equal it, chunk by chunk never below.
 *
 * It also checks that a chunk on a free stack has no reference and no
 * holder, and that the held counters (umem.nheld, view.nheld) agree.  Run
 * with the engine lock held; it costs time in proportion to the region, so
 * it is a check for tests and operators, never part of stats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsnap_internal.h"

struct tally {
	uint32_t *umem;		/* expected references per UMEM chunk */
	int problems;
	char *why;
	size_t len;
};

static void problem(struct tally *ta, const char *fmt, unsigned long long a,
		    unsigned long long b, unsigned long long c)
{
	if (!ta->problems++ && ta->why)
		snprintf(ta->why, ta->len, fmt, a, b, c);
}

/* One holder of the chunk at @addr of view @v's range (NULL: the UMEM). */
static void hold(struct xsnap_ctx *ctx, struct tally *ta, struct view *v, uint32_t *vexp,
		 uint64_t addr)
{
	uint64_t chunk = addr >> FRAME_SHIFT;

	if (v && chunk < v->nframes)
		vexp[chunk]++;
	else if (chunk < ctx->umem.nchunks)
		ta->umem[chunk]++;
	else
		problem(ta, "a holder names address 0x%llx, beyond the %llu chunks%.0llu",
			(unsigned long long)addr, (unsigned long long)ctx->umem.nchunks, 0);
}

static void tenant_holders(struct xsnap_ctx *ctx, struct tally *ta, struct tenant *t,
			   uint32_t *vexp)
{
	uint32_t cap = ctx->umem.pool_frames + 1;

	for (uint64_t seq = t->tail; seq < t->head; seq++) {
		uint64_t addr = t->log[seq & (t->quota - 1)].addr;
		uint64_t chunk = addr >> FRAME_SHIFT;

		hold(ctx, ta, t->view, vexp, addr);
		/* a tenant pinned to a queue group logs its group's chunks only
		 * (on the shared view its consumers can map nothing else) */
		if (!t->view && t->qgroup && chunk < ctx->umem.nframes &&
		    umem_group(&ctx->umem, (uint32_t)chunk) != t->qgroup - 1)
			problem(ta, "a tenant of queue group %llu logged chunk %llu of group %llu",
				t->qgroup, chunk, umem_group(&ctx->umem, (uint32_t)chunk) + 1);
	}
	for (uint32_t i = 0; i < t->nold; i++)
		hold(ctx, ta, t->view, vexp, t->old[(t->old_head + cap - 1 - i) % cap].addr);
	for (unsigned int i = 0; i < t->nsocks; i++) {
		const struct xsnap_sock *s = t->socks[i];

		for (uint32_t k = 0; k < t->quota; k++)
			if (s->held[k] && (s->views[k].flags & VIEW_PRIVATE))
				hold(ctx, ta, t->view, vexp, s->views[k].addr);
		for (uint32_t k = 0; k < ctx->umem.pool_frames; k++)
			if (s->fresh[k].flags & VIEW_PRIVATE)
				hold(ctx, ta, t->view, vexp, s->fresh[k].addr);
	}
}

/* The tenants that read @v (NULL: the shared view), live and deleted. */
static void view_holders(struct xsnap_ctx *ctx, struct tally *ta, struct view *v, uint32_t *vexp)
{
	for (uint32_t i = 0; i < XSNAP_MAX_TENANTS; i++)
		if (ctx->tenants[i] && ctx->tenants[i]->view == v)
			tenant_holders(ctx, ta, ctx->tenants[i], vexp);
	for (struct tenant *d = ctx->dead; d; d = d->next_dead)
		if (d->view == v)
			tenant_holders(ctx, ta, d, vexp);
}

int ctx_audit(struct xsnap_ctx *ctx, char *why, size_t len)
{
	struct umem *u = &ctx->umem;
	struct tally ta = { .why = why, .len = len };
	uint64_t excess = 0, in_flight = 0, held = 0;
	uint8_t *isfree;

	if (why && len)
		*why = '\0';
	ta.umem = calloc(u->nchunks ? u->nchunks : 1, sizeof(*ta.umem));
	isfree = calloc(u->nchunks ? u->nchunks : 1, 1);
	if (!ta.umem || !isfree) {
		free(ta.umem);
		free(isfree);
		return -ENOMEM;
	}
	view_holders(ctx, &ta, NULL, NULL);
	/* private views: their own chunks, checked here; pool chunks they
	 * reference are counted in the UMEM's tally */
	for (struct view *v = ctx->views; v; v = v->next) {
		uint32_t *vexp = calloc(v->nframes, sizeof(*vexp));
		uint32_t vheld = 0;

		if (!vexp) {
			ta.problems = -ENOMEM;
			break;
		}
		view_holders(ctx, &ta, v, vexp);
		for (uint32_t i = 0; i < v->nfree; i++)
			if (v->ref[v->free[i]] || vexp[v->free[i]])
				problem(&ta, "view chunk %llu is free with %llu references, %llu holders",
					v->free[i], v->ref[v->free[i]], vexp[v->free[i]]);
		for (uint32_t c = 0; c < v->nframes; c++) {
			if (v->ref[c] != vexp[c])
				problem(&ta, "view chunk %llu: %llu references, %llu holders", c,
					v->ref[c], vexp[c]);
			vheld += v->ref[c] != 0;
		}
		if (vheld != v->nheld)
			problem(&ta, "view: nheld %llu, chunks referenced %llu%.0llu", v->nheld,
				vheld, 0);
		free(vexp);
	}
	for (uint32_t qi = 0; qi < ctx->nq; qi++)
		in_flight += ctx->q[qi].tx_prod - ctx->q[qi].tx_cons;
	for (uint32_t g = 0, n = 0; g < u->ngroups; g++) {
		for (uint32_t i = 0; i < u->gfree[g]; i++) {
			uint32_t c = u->free[g * u->gframes + i];

			/* a group's stack holds only the group's chunks */
			if (c >= u->nframes || umem_group(u, c) != g)
				problem(&ta, "chunk %llu on the free stack of queue group %llu%.0llu",
					c, g + 1, 0);
			else
				isfree[c] = 1;
		}
		n += u->gfree[g];
		if (g == u->ngroups - 1 && n != u->nfree)
			problem(&ta, "free stacks hold %llu chunks, nfree says %llu%.0llu", n,
				u->nfree, 0);
	}
	for (uint32_t p = 0; p < u->npools; p++)
		for (uint32_t i = 0; i < u->npool_free[p]; i++)
			isfree[u->pool_free[p * u->pool_frames + i]] = 1;
	for (uint32_t c = 0; c < u->nchunks; c++) {
		if (u->ref[c] < ta.umem[c])
			problem(&ta, "chunk %llu: %llu references, %llu holders", c, u->ref[c],
				ta.umem[c]);
		else
			excess += u->ref[c] - ta.umem[c];
		if (isfree[c] && u->ref[c])
			problem(&ta, "chunk %llu is free with %llu references%.0llu", c, u->ref[c], 0);
		if (c < u->nframes)
			held += u->ref[c] != 0;
	}
	/* what is left over can only be transmits in flight */
	if (excess != in_flight)
		problem(&ta, "%llu references without a holder, %llu transmits in flight%.0llu",
			excess, in_flight, 0);
	if (held != u->nheld)
		problem(&ta, "nheld %llu, receive chunks referenced %llu%.0llu", u->nheld, held, 0);
	free(ta.umem);
	free(isfree);
	return ta.problems;
}

int xsnap_audit(struct xsnap_ctx *ctx)
{
	if (!ctx)
		return err_ret(EINVAL);
	return ctx->be->audit(ctx);
}

int local_audit(struct xsnap_ctx *ctx)
{
	char why[256];
	int r;

	pthread_mutex_lock(&ctx->lock);
	pthread_mutex_lock(&ctx->engine_lock);
	r = ctx_audit(ctx, why, sizeof(why));
	pthread_mutex_unlock(&ctx->engine_lock);
	pthread_mutex_unlock(&ctx->lock);
	if (r < 0)
		return err_ret(-r);
	if (r)
		pr_warn("%s: audit: %d inconsistencies; the first: %s\n", ctx->ifname, r, why);
	return r;
}
