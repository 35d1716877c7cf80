// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Snapshots: a consistent, immutable view of a tenant's log as of one
 * instant.
 *
 * Under the engine lock the range [first, end) is chosen (end = the log's
 * head: nothing that arrives later can be in it) and the tenant's commit
 * stamp recorded.  The snapshot then pins `first` like a socket's `low`: the
 * engine never evicts at or past it, and keeps the old versions of frames
 * committed in the range.  Nothing is copied when it is taken (a view array
 * is reserved, untouched); xsnap_snap_next() reads each entry and, if a
 * commit replaced it after the snapshot's stamp, returns the version that
 * was current at the stamp from the tenant's list of superseded versions:
 * multi-version reads, as in a database with snapshot isolation.
 */
#include <stdlib.h>
#include <time.h>

#include "xsnap_internal.h"

struct xsnap_snap *xsnap_snapshot(struct xsnap_sock *s, const struct xsnap_snap_opts *opts)
{
	uint32_t nframes, last_ms;
	uint64_t seq_first, seq_last;
	int selectors;

	if (!s || !opts || !OPTS_VALID(opts, xsnap_snap_opts)) {
		errno = EINVAL;
		return NULL;
	}
	nframes = OPTS_GET(opts, frames, 0);
	last_ms = OPTS_GET(opts, last_ms, 0);
	seq_first = OPTS_GET(opts, seq_first, 0);
	seq_last = OPTS_GET(opts, seq_last, 0);
	selectors = !!nframes + !!last_ms + !!seq_first;
	if (selectors != 1 || (seq_last && seq_last < seq_first)) {
		pr_warn("snapshot: give exactly one of frames, last_ms or a sequence range\n");
		errno = EINVAL;
		return NULL;
	}
	return s->ctx->be->snapshot(s, nframes, last_ms, seq_first, seq_last);
}

struct xsnap_snap *local_snapshot(struct xsnap_sock *s, uint32_t nframes, uint32_t last_ms,
				  uint64_t seq_first, uint64_t seq_last)
{
	uint64_t first, end;
	struct xsnap_snap *sn;
	struct xsnap_ctx *ctx;
	struct tenant *t;

	sn = calloc(1, sizeof(*sn));
	if (!sn) {
		errno = ENOMEM;
		return NULL;
	}
	ctx = s->ctx;
	t = s->t;
	pthread_mutex_lock(&ctx->engine_lock);
	/* bring the log up to date first, so "now" includes what the kernel
	 * has already delivered */
	engine_poll(ctx);
	end = t->head;
	first = t->tail;
	if (nframes) {
		if (end - first > nframes)
			first = end - nframes;
	} else if (last_ms) {
		struct timespec ts;
		uint64_t now, cutoff;

		clock_gettime(CLOCK_MONOTONIC, &ts);	/* the clock of bpf_ktime_get_ns */
		now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		cutoff = now > (uint64_t)last_ms * 1000000ull ? now - (uint64_t)last_ms * 1000000ull : 0;
		/* receive times grow with seq (one clock; a few ns of skew
		 * between queues at worst): walk back from the newest */
		uint64_t f = end;

		while (f > first && t->log[(f - 1) & (t->quota - 1)].rx_ns >= cutoff)
			f--;
		first = f;
	} else {
		if (seq_first > first)
			first = seq_first;
		/* [seq_first, seq_last] inclusive: compared as seq_last < end - 1,
		 * never as seq_last + 1 < end, which wraps to 0 for UINT64_MAX
		 * (end, the log's head, is at least 1) */
		if (seq_last && seq_last < end - 1)
			end = seq_last + 1;
		if (first > end)
			first = end;	/* empty: it pins nothing (engine_horizon) */
	}
	/* a large calloc is fresh zero pages: reserved here, touched when read */
	sn->views = calloc(end - first ? end - first : 1, sizeof(*sn->views));
	if (!sn->views) {
		pthread_mutex_unlock(&ctx->engine_lock);
		free(sn);
		errno = ENOMEM;
		return NULL;
	}
	sn->stamp = t->commit_stamp;
	sn->sock = s;
	sn->first = sn->pos = first;
	sn->end = end;
	sn->next = t->snaps;
	t->snaps = sn;
	t->snapshots++;
	pthread_mutex_unlock(&ctx->engine_lock);
	ctx_reap(ctx);	/* the engine_poll() above may have asked for it */
	return sn;
}

/* The version of @seq current at the snapshot's stamp (engine lock held). */
static void snap_version(const struct xsnap_snap *sn, const struct tenant *t, uint64_t seq,
			 struct log_ent *e)
{
	uint32_t cap = sn->sock->ctx->umem.pool_frames + 1;

	*e = t->log[seq & (t->quota - 1)];
	if (e->stamp <= sn->stamp)
		return;
	/* replaced after the snapshot: the superseded version whose life
	 * [stamp, replaced) covers the snapshot's stamp */
	for (uint32_t i = 0; i < t->nold; i++) {
		const struct superseded *o = &t->old[(t->old_head + cap - 1 - i) % cap];

		if (o->seq == seq && o->stamp <= sn->stamp && o->replaced > sn->stamp) {
			e->addr = o->addr;
			e->len = o->len;
			e->version = o->version;
			return;
		}
	}
}

int xsnap_snap_next(struct xsnap_snap *sn, struct xsnap_frame **v, unsigned int n)
{
	struct xsnap_ctx *ctx;
	struct tenant *t;
	unsigned int got = 0;

	if (!sn || !v)
		return err_ret(EINVAL);
	ctx = sn->sock->ctx;
	t = sn->sock->t;
	/* under the engine lock: no commit changes entries while we read */
	pthread_mutex_lock(&ctx->engine_lock);
	while (got < n && sn->pos < sn->end) {
		struct xsnap_frame *f = &sn->views[sn->pos - sn->first];
		struct log_ent e;

		snap_version(sn, t, sn->pos, &e);
		f->data = sn->sock->ro + e.addr;
		f->seq = e.seq;
		f->rx_ns = e.rx_ns;
		f->addr = e.addr;
		f->len = e.len;
		f->version = e.version;
		f->queue = e.queue;
		f->flags = VIEW_SNAP;
		v[got++] = f;
		sn->pos++;
	}
	pthread_mutex_unlock(&ctx->engine_lock);
	return (int)got;
}

uint64_t xsnap_snap_len(const struct xsnap_snap *sn)
{
	return sn ? sn->end - sn->first : 0;
}

void xsnap_snap_close(struct xsnap_snap *sn)
{
	if (sn)
		sn->sock->ctx->be->snap_close(sn);
}

void local_snap_close(struct xsnap_snap *sn)
{
	struct xsnap_ctx *ctx = sn->sock->ctx;
	struct tenant *t = sn->sock->t;


	pthread_mutex_lock(&ctx->engine_lock);
	for (struct xsnap_snap **pp = &t->snaps; *pp; pp = &(*pp)->next) {
		if (*pp == sn) {
			*pp = sn->next;
			break;
		}
	}
	engine_reclaim(ctx, t);
	pthread_mutex_unlock(&ctx->engine_lock);
	free(sn->views);
	free(sn);
}
