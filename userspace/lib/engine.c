// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The engine: moves frames from the kernel's rx rings into tenant logs, and
 * chunks from the logs back to the fill rings.
 *
 * Where it runs: on the context's own engine thread (the default: frames
 * flow and the fill rings are restocked whatever the consumers do), on one
 * thread per queue (XSNAP_ENGINE_PER_QUEUE: queue_run(), each batch taken
 * off the ring under the queue's rx lock alone and logged under
 * ctx->engine_lock), inside the consumers' xsnap_recv() calls
 * (XSNAP_ENGINE_INLINE, for single-threaded programs), or in xsnapd's event
 * loop.  All feed one pacer policy (pacer_feed).  engine_poll() does one
 * pass with ctx->engine_lock held:
 *
 *   1. completes transmits and reclaims superseded versions,
 *   2. peeks up to RX_BATCH descriptors per queue, reads the metadata the XDP
 *      program wrote in front of each frame, and appends one log entry per
 *      tenant in the frame's tenant mask: fan-out to N tenants costs N
 *      entries and a reference count set once, never a copy;
 *   3. publishes each touched log's head with one release store and wakes
 *      that tenant's sleepers (tenant_wake): one FUTEX_WAKE on the log's
 *      wake word for every consumer asleep in xsnap_recv, whatever their
 *      number, and one byte into the notify pipe of each armed xsnap_fd();
 *   4. stocks the fill rings from the free stack.
 *
 * Nothing is allocated and no syscall is made per frame: per run, at most
 * one futex wake per tenant, one pipe write per armed descriptor, and a
 * fill-ring kick when the driver asked for one (need_wakeup).  Nothing the
 * engine writes to can block it: the futex word is memory, and the notify
 * pipes' write ends are the engine's own, non-blocking descriptors (a
 * consumer holds only the read end, a separate open file description).
 *
 * Pacing (interrupt moderation): see struct pacer.  Under load the engine
 * thread ignores rx wake-ups and runs every pacer interval, so each sleeping
 * consumer wakes once per run for everything that came meanwhile instead of
 * once per burst of the kernel's (a NAPI poll: tens of frames).  Where its
 * sleeps wake late and its CPU idles (a vCPU the host deschedules), the
 * thread cuts them into naps (PACE_NAP_NS): each drains the rx rings into
 * the logs, publishes them and stocks the fill rings, but wakes nobody; the
 * run when the interval is up wakes the sleepers of every log touched since
 * the last one.  A late wake-up then overflows neither ring.
 *
 * A full log first evicts what its sockets released; if that frees no
 * slot, the frame is dropped for that tenant only (quota_drops).  Tenants are
 * admitted only while the sum of quotas plus the kernel's share (fill + rx
 * rings of every queue) fits in the receive region, so a stuck tenant can
 * never starve the fill rings or another tenant.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "xsnap_internal.h"
#include "xsnap_parse.h"

/* The smallest sequence number a socket or snapshot of @t still holds,
 * UINT64_MAX if none: what bounds eviction besides the head. */
static uint64_t readers_low(const struct tenant *t)
{
	uint64_t h = UINT64_MAX;

	for (unsigned int i = 0; i < t->nsocks; i++) {
		/* pairs with the release store in advance_low() */
		uint64_t low = atomic_load_explicit(&t->socks[i]->ctl->low, memory_order_acquire);

		if (low < h)
			h = low;
	}
	/* an empty snapshot holds no entry: it must not hold back eviction */
	for (const struct xsnap_snap *sn = t->snaps; sn; sn = sn->next)
		if (sn->first < sn->end && sn->first < h)
			h = sn->first;
	return h;
}

uint64_t engine_horizon(const struct tenant *t)
{
	uint64_t h = readers_low(t);

	return h < t->head ? h : t->head;
}

/* Evict the log's oldest entries, up to (not including) @upto, but never at
 * or past the horizon: what sockets hold or snapshots pin stays. */
static void evict_below(struct xsnap_ctx *ctx, struct tenant *t, uint64_t upto)
{
	uint32_t mask = t->quota - 1;

	for (; t->tail < upto; t->tail++) {
		chunk_put(&ctx->umem, t->view, t->log[t->tail & mask].addr);
		t->evicted++;
	}
}

void engine_evict(struct xsnap_ctx *ctx, struct tenant *t, uint64_t upto)
{
	uint64_t h = engine_horizon(t);

	evict_below(ctx, t, upto < h ? upto : h);
}

/* Free the old versions that no socket or snapshot can hold any more: a
 * reader of seq s holds the tenant's horizon at or below s. */
void engine_reclaim(struct xsnap_ctx *ctx, struct tenant *t)
{
	uint32_t cap = ctx->umem.pool_frames + 1;
	uint64_t h;

	if (!t->nold)
		return;
	h = engine_horizon(t);
	while (t->nold) {
		struct superseded *o = &t->old[(t->old_head + cap - t->nold) % cap];

		if (o->seq >= h)
			break;	/* the ring is in commit order, seqs need not be: stop early */
		chunk_put(&ctx->umem, t->view, o->addr);
		t->nold--;
	}
}

/* Transmit completions: each returns one reference to its chunk. */
void engine_complete(struct xsnap_ctx *ctx)
{
	for (uint32_t qi = 0; qi < ctx->nq; qi++) {
		struct queue *q = &ctx->q[qi];
		uint32_t idx, n;

		if (!q->tx_owner)
			continue;
		n = xsk_ring_cons__peek(&q->comp, RX_BATCH, &idx);
		for (uint32_t i = 0; i < n; i++) {
			uint64_t addr = *xsk_ring_cons__comp_addr(&q->comp, idx + i);
			uint8_t slot = q->tx_owner[q->tx_cons++ & (tx_owner_cap(ctx) - 1)];
			struct tenant *t = slot < XSNAP_MAX_TENANTS ? ctx->tenants[slot] : NULL;

			umem_put(&ctx->umem, xsk_umem__add_offset_to_addr(addr));
			for (struct tenant *d = ctx->dead; !t && d; d = d->next_dead)
				if (d->slot == slot && d->tx_inflight)
					t = d;
			if (t) {
				t->tx_inflight--;
				t->tx_completed++;
				/* only engine_lock is held: the tenant is freed
				 * later, by ctx_reap() (tenant.c) */
				if (t->dead && !t->tx_inflight)
					atomic_store_explicit(&ctx->reap, true, memory_order_relaxed);
			}
		}
		if (n)
			xsk_ring_cons__release(&q->comp, n);
		/* descriptors the kernel has not taken (a kick moves a bounded
		 * batch, or failed): kick again, or they wait for a next send */
		if (q->tx_prod != q->tx_cons && (!q->zerocopy || xsk_ring_prod__needs_wakeup(&q->tx)) &&
		    *q->tx.consumer != *q->tx.producer)
			sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	}
}

void engine_refill(struct xsnap_ctx *ctx)
{
	struct umem *u = &ctx->umem;

	for (uint32_t qi = 0; qi < ctx->nq && u->nfree; qi++) {
		struct queue *q = &ctx->q[qi];
		/* a queue is stocked from its group's stack only */
		uint32_t *stack = u->free + q->group * u->gframes, *depth = &u->gfree[q->group];
		uint32_t want = xsk_prod_nb_free(&q->fill, *depth);
		uint32_t idx, n;

		if (want > *depth)
			want = *depth;
		if (!want)
			continue;
		n = xsk_ring_prod__reserve(&q->fill, want, &idx);
		for (uint32_t i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&q->fill, idx + i) =
				(uint64_t)stack[--*depth] << FRAME_SHIFT;
		u->nfree -= n;
		/* submit has the release barrier: the kernel sees the addresses
		 * before the new producer index */
		xsk_ring_prod__submit(&q->fill, n);
		q->outstanding += n;
		if (n && xsk_ring_prod__needs_wakeup(&q->fill))
			recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

void tenant_wake_all(struct tenant *t)
{
	static const char one = 1;

	atomic_fetch_add_explicit(&t->shm->wake, 1, memory_order_seq_cst);
	for (unsigned int i = 0; i < t->nsocks; i++)
		if (t->socks[i]->nfd >= 0 && write(t->socks[i]->nfd, &one, 1) < 0)
			pr_debug("tenant %s: notify: %s\n", t->name, strerror(errno));
	syscall(SYS_futex, &t->shm->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void tenant_wake(struct tenant *t)
{
	static const char one = 1;
	bool futex = false;

	/* the new head or state is stored before the word changes, and the
	 * word before we look at `waiting`: a consumer that announced its sleep
	 * after reading the old word either sees the new head on its re-check
	 * or is woken here (and its futex wait fails on the changed word) */
	atomic_fetch_add_explicit(&t->shm->wake, 1, memory_order_seq_cst);
	for (unsigned int i = 0; i < t->nsocks; i++) {
		struct xsnap_sock *s = t->socks[i];
		uint32_t w;

		if (!atomic_load_explicit(&s->ctl->waiting, memory_order_seq_cst))
			continue;
		w = atomic_exchange(&s->ctl->waiting, 0);
		if (w & WAIT_FUTEX)
			futex = true;
		/* EAGAIN (pipe full) is fine: it is readable already */
		if ((w & WAIT_FD) && s->nfd >= 0 && write(s->nfd, &one, 1) < 0)
			pr_debug("tenant %s: notify: %s\n", t->name, strerror(errno));
	}
	if (futex)
		syscall(SYS_futex, &t->shm->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * Room in @t's log for one more entry: evict the oldest released frame if
 * it is full; false (and a tail drop counted) if nothing can go.
 *
 * A full log evicts one entry per new frame, and the horizon that bounds it
 * reads the watermark of every socket (a cache miss each: consumers write
 * them).  It is read once per engine pass and kept in t->hz (without the
 * head, which moves within the pass; need never passes the head): within a
 * pass (engine_lock held) watermarks only rise and no snapshot or socket
 * can appear, so an older value is never above the true bound.
 */
static bool log_room(struct xsnap_ctx *ctx, struct tenant *t)
{
	uint64_t need;

	if (t->head - t->tail < t->quota)
		return true;
	need = t->head - t->quota + 1;
	if (t->hz_pass != ctx->pass) {
		/* only this pass's: since the last one, a socket may have
		 * opened or a snapshot been taken below the old value */
		t->hz = readers_low(t);
		t->hz_pass = ctx->pass;
	}
	if (t->hz >= need) {
		evict_below(ctx, t, need);
		return true;
	}
	t->quota_drops++;
	return false;
}

/* What the engine adds to a frame's metadata: its receive time (the XDP
 * program's, or the batch's) and its flow hash (the program's, or computed
 * here for tenants that split by flow; 0 for the others). */
struct rx_frame {
	uint64_t rx_ns;
	uint32_t flow_hash;
};

/* Append the frame at @addr of @t's view to its log (room checked). */
static void log_append(struct tenant *t, uint64_t addr, uint32_t len, uint32_t queue,
		       const struct rx_frame *rf, uint32_t *touched)
{
	struct log_ent *e = &t->log[t->head & (t->quota - 1)];

	e->seq = t->head++;
	e->rx_ns = rf->rx_ns;
	e->addr = addr;
	e->len = len;
	e->version = 0;
	e->stamp = 0;
	e->queue = queue;
	e->flow_hash = rf->flow_hash;
	t->rx_frames++;
	t->rx_bytes += len;
	*touched |= 1u << t->slot;
}

/*
 * The tenants @vm of private view @v receive the frame at UMEM address
 * @addr: one copy into the view (metadata included, at the same offset in
 * the chunk), referenced by each of their logs.
 */
static void view_deliver(struct xsnap_ctx *ctx, struct view *v, uint32_t vm, uint64_t addr,
			 uint32_t len, uint32_t queue, const struct xsnap_meta *m,
			 const struct rx_frame *rf, uint32_t *touched)
{
	uint32_t accept = 0, chunk, refs = 0;
	uint64_t off = addr & (FRAME_SIZE - 1), vaddr;

	for (uint32_t mask = vm; mask; mask &= mask - 1) {
		struct tenant *t = ctx->tenants[__builtin_ctz(mask)];

		if (log_room(ctx, t))
			accept |= 1u << t->slot;
	}
	if (!accept)
		return;
	/* cannot be empty: the region has as many chunks as the sum of its
	 * tenants' quotas may hold, and a full log evicted above */
	if (!v->nfree) {
		for (uint32_t mask = accept; mask; mask &= mask - 1)
			ctx->tenants[__builtin_ctz(mask)]->quota_drops++;
		return;
	}
	chunk = v->free[--v->nfree];
	vaddr = ((uint64_t)chunk << FRAME_SHIFT) + off;
	memcpy(v->rw + vaddr - sizeof(*m), ctx->umem.ro + addr - sizeof(*m), sizeof(*m) + len);
	v->copies++;
	for (uint32_t mask = accept; mask; mask &= mask - 1) {
		log_append(ctx->tenants[__builtin_ctz(mask)], vaddr, len, queue, rf, touched);
		refs++;
	}
	v->ref[chunk] = (uint16_t)refs;
	v->nheld++;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The flow hash of the frame [@p, @p + @len): the parser's, the one the XDP
 * program computed before it left the hash to the engine. */
static uint32_t frame_flow_hash(const uint8_t *p, uint32_t len)
{
	struct xsnap_pkt pkt;

	return xsnap_parse(p, p + len, &pkt) ? 0 : pkt.flow_hash;
}

/*
 * A batch of rx descriptors taken from a queue's ring, read but not yet
 * logged.  Taking it (rx_take) reads what the kernel wrote: the descriptors
 * and the metadata in front of each frame, cache lines another CPU wrote
 * (the one that ran the copy), the expensive part of a frame for the
 * engine.  It needs only the queue's rx ring, so a per-queue engine thread
 * takes its batch without ctx->engine_lock; logging it (rx_log) changes the
 * tenants' logs and the chunks' references, and needs the lock.
 */
struct rx_batch {
	uint32_t n;
	struct rx_ent {
		uint64_t addr;		/* the frame (after the metadata) */
		uint64_t rx_ns;		/* the metadata's stamp (0: none) */
		uint32_t len;
		uint32_t chunk;
		uint32_t mask;		/* the metadata's tenants, 0 if not ours */
		uint32_t flow_hash;	/* the metadata's */
	} e[RX_BATCH];
};

int engine_impl_switch(void *arg, uint32_t mask, uint32_t rule_id)
{
	struct xsnap_ctx *ctx = arg;

	/* all queues or none: a queue whose engine lags this far has not
	 * reached the switches before (its reader frees entries, nobody else
	 * adds any) */
	for (uint32_t qi = 0; qi < ctx->nq; qi++) {
		struct queue *q = &ctx->q[qi];

		if (atomic_load_explicit(&q->impl_tail, memory_order_relaxed) -
			    atomic_load_explicit(&q->impl_head, memory_order_acquire) >=
		    IMPL_SWITCHES)
			return -ENOSPC;
	}
	for (uint32_t qi = 0; qi < ctx->nq; qi++) {
		struct queue *q = &ctx->q[qi];
		uint32_t t = atomic_load_explicit(&q->impl_tail, memory_order_relaxed);
		struct impl_switch *w = &q->impl_next[t % IMPL_SWITCHES];

		w->pos = __atomic_load_n(q->rx.producer, __ATOMIC_ACQUIRE);
		w->o.mask = mask;
		w->o.rule_id = rule_id;
		atomic_store_explicit(&q->impl_tail, t + 1, memory_order_release);
	}
	return 0;
}

/* The implicit outcome of a bare frame at rx ring position @pos of @q:
 * the last switch at or before it (positions as the kernel counts them,
 * modulo 2^32; a switch is never 2^31 frames ahead of the engine). */
static struct impl_outcome impl_at(struct queue *q, uint32_t pos)
{
	uint32_t h = atomic_load_explicit(&q->impl_head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&q->impl_tail, memory_order_acquire);

	while (h != t && (int32_t)(pos - q->impl_next[h % IMPL_SWITCHES].pos) >= 0) {
		q->impl = q->impl_next[h % IMPL_SWITCHES].o;
		atomic_store_explicit(&q->impl_head, ++h, memory_order_release);
	}
	return q->impl;
}

/*
 * A frame the specialised program sent bare (xsnap_spec_impl) at @addr, @len
 * bytes, rx ring position @pos of @q: write in front of it the metadata the
 * program leaves out, as the program writes it for such a frame (untagged
 * IPv4 without options or IPv6, no stamp, no flow hash), and return its
 * tenants.  0 (not ours): no outcome at that position, or not a frame of
 * that kind, which the program never sends bare.
 */
static uint32_t rx_bare(const struct umem *u, struct queue *q, uint32_t pos, uint64_t addr,
			uint32_t len)
{
	const uint32_t eth = sizeof(struct ethhdr);
	const uint8_t *f = u->ro + addr;
	struct impl_outcome o = impl_at(q, pos);
	struct xsnap_meta *m;
	uint16_t l4_off, type;
	uint8_t fam, proto;

	if (!o.mask)
		return 0;
	/* the caller checked 32 bytes: the type and IPv4's protocol */
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == XSNAP_ETH_P_IP) {
		fam = 4;
		proto = f[eth + offsetof(struct iphdr, protocol)];
		l4_off = eth + sizeof(struct iphdr);
	} else if (type == XSNAP_ETH_P_IPV6 && len >= eth + sizeof(struct ipv6hdr)) {
		fam = 6;
		proto = f[eth + offsetof(struct ipv6hdr, nexthdr)];
		l4_off = eth + sizeof(struct ipv6hdr);
	} else {
		return 0;
	}
	m = (struct xsnap_meta *)(u->rw + addr - sizeof(*m));
	*m = (struct xsnap_meta){
		.tenant_mask = o.mask,
		.rule_id = o.rule_id,
		.l3_off = sizeof(struct ethhdr),
		.l4_off = l4_off,
		.l4_proto = proto,
		.l3_proto = fam,
		.magic = XSNAP_META_MAGIC,
	};
	return o.mask;
}

static void rx_take(const struct xsnap_ctx *ctx, struct queue *q, struct rx_batch *b)
{
	const struct umem *u = &ctx->umem;
	/* metadata as the packet's head (steer_meta_in_head()): each
	 * descriptor starts at it and the frame follows, or is the frame
	 * itself (sent bare) */
	const uint32_t head = ctx->steer.meta_head ? (uint32_t)sizeof(struct xsnap_meta) : 0;
	const bool bare = head && (q->impl.mask || atomic_load_explicit(&q->impl_tail,
									 memory_order_relaxed) !=
							   atomic_load_explicit(&q->impl_head,
										memory_order_relaxed));
	uint32_t idx = 0, n;

	n = xsk_ring_cons__peek(&q->rx, RX_BATCH, &idx);
	b->n = n;
	/* The metadata lines were written by whichever CPU ran the copy (the
	 * generator's, with softirq NAPI): ask for all of them first, so the
	 * cross-core transfers overlap instead of stalling one per frame.
	 * Bare frames get their metadata written into the line before. */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = xsk_umem__add_offset_to_addr(xsk_ring_cons__rx_desc(&q->rx, idx + i)->addr) +
			     head;

		if ((a >> FRAME_SHIFT) < u->nframes && (a & (FRAME_SIZE - 1)) >= 2 * sizeof(struct xsnap_meta)) {
			__builtin_prefetch(u->ro + a - sizeof(struct xsnap_meta));
			if (bare)
				__builtin_prefetch(u->rw + a - 2 * sizeof(struct xsnap_meta), 1);
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		struct rx_ent *e = &b->e[i];
		uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
		uint32_t len = d->len, off = (uint32_t)(addr & (FRAME_SIZE - 1));
		const struct xsnap_meta *m;

		e->chunk = (uint32_t)(addr >> FRAME_SHIFT);
		e->mask = 0;
		e->addr = addr;
		e->len = len;
		/* The metadata sits right before the frame, inside the chunk's
		 * headroom; anything else in that spot fails the magic check.
		 * A frame that ends beyond its chunk is never ours either. */
		if (e->chunk >= u->nframes || off + len > FRAME_SIZE)
			continue;
		if (!head) {
			if (off < sizeof(*m))
				continue;
			m = (const struct xsnap_meta *)(u->ro + addr - sizeof(*m));
		} else {
			/* the descriptor starts at the metadata, whose last
			 * word is the magic; a frame sent bare never has the
			 * magic there (the program sends such a frame with
			 * metadata), so it is the frame itself */
			if (len < head)
				continue;
			m = (const struct xsnap_meta *)(u->ro + addr);
			if (m->magic != XSNAP_META_MAGIC) {
				if (off >= sizeof(*m)) {
					e->mask = rx_bare(u, q, idx + i, addr, len);
					e->rx_ns = 0;
					e->flow_hash = 0;
				}
				continue;
			}
			e->addr = addr + head;
			e->len = len - head;
		}
		if (m->magic == XSNAP_META_MAGIC) {
			e->mask = m->tenant_mask;
			e->rx_ns = m->rx_ns;
			e->flow_hash = m->flow_hash;
		}
	}
	/* switches up to where the ring is read are passed, frames or not:
	 * the queue makes room for the next rule change */
	if (bare)
		(void)impl_at(q, q->rx.cached_cons);
}

/* Log batch @b of @q (engine_lock held) and give its entries back to the
 * kernel.  The tenants are the context's at this point: a tenant deleted
 * since the program tagged a frame is not in ctx->tenant_mask any more. */
static void rx_log(struct xsnap_ctx *ctx, struct queue *q, const struct rx_batch *b,
		   uint32_t *touched)
{
	struct umem *u = &ctx->umem;
	int64_t batch_ns = 0;

	for (uint32_t i = 0; i < b->n; i++) {
		const struct rx_ent *e = &b->e[i];
		/* never a tenant pinned to another queue group: its consumers
		 * may not be able to read this chunk */
		uint32_t mask = e->mask & ctx->tenant_mask & ~q->excl, refs = 0;
		struct rx_frame rf;

		if (mask) {
			rf.rx_ns = e->rx_ns;
			if (!rf.rx_ns) {	/* the program left it to us: one clock read per batch */
				if (!batch_ns)
					batch_ns = mono_ns();
				rf.rx_ns = (uint64_t)batch_ns;
			}
			rf.flow_hash = e->flow_hash;
			if (!rf.flow_hash && (mask & ctx->share_mask))
				rf.flow_hash = frame_flow_hash(u->ro + e->addr, e->len);
		}
		/* private views: one copy each, for all of their tenants */
		if (mask & ctx->private_mask) {
			const struct xsnap_meta *m =
				(const struct xsnap_meta *)(u->ro + e->addr - sizeof(*m));

			for (struct view *v = ctx->views; v; v = v->next)
				if (mask & v->mask)
					view_deliver(ctx, v, mask & v->mask, e->addr, e->len, q->id, m,
						     &rf, touched);
			mask &= ~ctx->private_mask;
		}
		/* the shared view: a reference per log, no copy */
		while (mask) {
			struct tenant *t = ctx->tenants[__builtin_ctz(mask)];

			mask &= mask - 1;
			if (!log_room(ctx, t))
				continue;
			log_append(t, e->addr, e->len, q->id, &rf, touched);
			refs++;
		}
		if (e->chunk >= u->nframes)
			continue;	/* not ours: never happens with aligned chunks */
		if (refs) {
			u->ref[e->chunk] = (uint16_t)refs;
			u->nheld++;
		} else {
			umem_free_push(u, e->chunk);
		}
	}
	if (b->n) {
		xsk_ring_cons__release(&q->rx, b->n);
		q->outstanding -= b->n;
	}
}

/*
 * The rx lock of a queue (XSNAP_ENGINE_PER_QUEUE only; the other modes take
 * every batch under engine_lock): held from rx_take() to rx_log(), by the
 * queue's own engine thread with engine_lock taken after it, by anyone
 * else with trylock under engine_lock (a queue whose thread is busy is that
 * thread's to move), and by engine_rx_lock_all() before engine_lock.
 */
static bool rx_trylock(struct xsnap_ctx *ctx, struct queue *q)
{
	return !ctx->rx_locks || !pthread_mutex_trylock(&q->rx_lock);
}

static void rx_unlock(struct xsnap_ctx *ctx, struct queue *q)
{
	if (ctx->rx_locks)
		pthread_mutex_unlock(&q->rx_lock);
}

void engine_rx_lock_all(struct xsnap_ctx *ctx)
{
	for (uint32_t qi = 0; ctx->rx_locks && qi < ctx->nq; qi++)
		pthread_mutex_lock(&ctx->q[qi].rx_lock);
}

void engine_rx_unlock_all(struct xsnap_ctx *ctx)
{
	for (uint32_t qi = ctx->nq; ctx->rx_locks && qi-- > 0;)
		pthread_mutex_unlock(&ctx->q[qi].rx_lock);
}

/* What every engine pass starts with (engine_lock held): transmit
 * completions and superseded versions no reader holds any more. */
static void pass_begin(struct xsnap_ctx *ctx)
{
	uint32_t mask = ctx->tenant_mask;

	ctx->pass++;
	engine_complete(ctx);
	while (mask) {
		engine_reclaim(ctx, ctx->tenants[__builtin_ctz(mask)]);
		mask &= mask - 1;
	}
}

/* Publish the heads of the logs in @touched: awake consumers see the new
 * entries; sleepers are woken by engine_wake(). */
static void publish(struct xsnap_ctx *ctx, uint32_t touched)
{
	while (touched) {
		struct tenant *t = ctx->tenants[__builtin_ctz(touched)];

		touched &= touched - 1;
		/* entries written above become visible before the new head */
		atomic_store_explicit(&t->shm->head_pub, t->head, memory_order_release);
	}
}

void engine_wake(struct xsnap_ctx *ctx, uint32_t touched)
{
	/* a run that gave the lock back between batches: only live tenants */
	touched &= ctx->tenant_mask;
	while (touched) {
		struct tenant *t = ctx->tenants[__builtin_ctz(touched)];

		touched &= touched - 1;
		tenant_wake(t);
	}
}

/* ... and ends with: publish the touched logs' heads, wake their sleepers
 * (with @quiet, only add the tenants to it: the caller wakes them later),
 * restock every fill ring (a queue whose ring ran dry has no frame to wake
 * its own engine with). */
static void pass_end(struct xsnap_ctx *ctx, uint32_t touched, uint32_t *quiet)
{
	publish(ctx, touched);
	if (quiet)
		*quiet |= touched;
	else
		engine_wake(ctx, touched);
	engine_refill(ctx);
}

/* engine_poll(), @rx_held: the caller holds every queue's rx lock; @quiet:
 * see pass_end(). */
static int poll_queues(struct xsnap_ctx *ctx, bool rx_held, uint32_t *quiet)
{
	struct rx_batch b;
	uint32_t touched = 0;
	unsigned int total = 0;

	pass_begin(ctx);
	for (uint32_t qi = 0; qi < ctx->nq; qi++) {
		struct queue *q = &ctx->q[qi];

		if (!rx_held && !rx_trylock(ctx, q))
			continue;
		do {
			rx_take(ctx, q, &b);
			rx_log(ctx, q, &b, &touched);
			total += b.n;
		} while (b.n == RX_BATCH && total < 4 * RX_BATCH * ctx->nq);
		if (!rx_held)
			rx_unlock(ctx, q);
	}
	pass_end(ctx, touched, quiet);
	return (int)total;
}

int engine_poll(struct xsnap_ctx *ctx)
{
	return poll_queues(ctx, false, NULL);
}

int engine_poll_quiet(struct xsnap_ctx *ctx, uint32_t *quiet)
{
	return poll_queues(ctx, false, quiet);
}

void engine_drain(struct xsnap_ctx *ctx)
{
	uint32_t until[XSNAP_MAX_QUEUES];
	bool left;

	/* acquire: pairs with the kernel's release of the producer index, so
	 * the descriptors before it are visible when engine_poll() reads them */
	for (uint32_t qi = 0; qi < ctx->nq; qi++)
		until[qi] = __atomic_load_n(ctx->q[qi].rx.producer, __ATOMIC_ACQUIRE);
	do {
		left = false;
		for (uint32_t qi = 0; qi < ctx->nq; qi++)
			if ((int32_t)(until[qi] - *ctx->q[qi].rx.consumer) > 0)
				left = true;
		/* each pass moves at least one descriptor of every queue that
		 * has one: bounded by what the rings held at the start */
		if (left)
			poll_queues(ctx, true, NULL);
	} while (left);
}

bool pacer_feed(struct pacer *p, unsigned int frames, int64_t now_ns)
{
	bool was = p->paced;
	int64_t span = now_ns - p->win_ns;

	p->win_frames += frames;
	if (span >= PACE_WINDOW_NS) {
		/* frames per ns, scaled: the window is at least a millisecond */
		p->paced = (uint64_t)p->win_frames * PACE_WINDOW_NS >= (uint64_t)PACE_BUSY_FRAMES * span;
		if (p->paced) {
			uint32_t batch = p->batch ? p->batch : PACE_BUSY_FRAMES;
			int64_t iv = (int64_t)((uint64_t)batch * (uint64_t)span / p->win_frames);

			p->interval_ns = iv < PACE_MIN_NS ? PACE_MIN_NS :
					 iv > PACE_MAX_NS ? PACE_MAX_NS : iv;
		}
		p->win_ns = now_ns;
		p->win_frames = 0;
	}
	if (p->paced)
		p->next_ns = now_ns + p->interval_ns;
	return p->paced != was;
}

/* Half the smaller of the rx ring and the smallest quota: what a paced run
 * may find without the ring or a log overflowing meanwhile. */
static uint32_t pace_batch(const struct xsnap_ctx *ctx)
{
	uint32_t b = ctx->ring_size, mask = ctx->tenant_mask;

	while (mask) {
		const struct tenant *t = ctx->tenants[__builtin_ctz(mask)];

		mask &= mask - 1;
		if (t->quota < b)
			b = t->quota;
	}
	return b / 2 ? b / 2 : 1;
}

/* Passes until the rx rings are empty or a ring's worth moved (engine_lock
 * held); @quiet: see pass_end().  Return: frames moved. */
static unsigned int run_passes(struct xsnap_ctx *ctx, uint32_t *quiet)
{
	unsigned int total = 0, n;

	/* a pass takes up to 4 batches per queue; go on while it filled
	 * them, but give the lock back after a ring's worth */
	do {
		n = (unsigned int)(quiet ? engine_poll_quiet(ctx, quiet) : engine_poll(ctx));
		total += n;
	} while (n >= 4 * RX_BATCH * ctx->nq && total < ctx->ring_size);
	return total;
}

unsigned int engine_run(struct xsnap_ctx *ctx, bool *changed)
{
	unsigned int total = run_passes(ctx, NULL);
	bool c;

	ctx->pacer.batch = pace_batch(ctx);
	c = pacer_feed(&ctx->pacer, total, mono_ns());
	atomic_store_explicit(&ctx->pace_ns, ctx->pacer.interval_ns, memory_order_relaxed);
	atomic_store_explicit(&ctx->paced, ctx->pacer.paced, memory_order_relaxed);
	if (changed)
		*changed = c;
	return total;
}

unsigned int engine_help(struct xsnap_ctx *ctx)
{
	unsigned int n;

	/* Waking the tenants' sleepers from here made consumers sharing a
	 * CPU wake each other in turn, each after a few frames: with eight
	 * of them 5.6 times the context switches of four.  Under load the
	 * interval's run wakes them once.  (Per-queue engines keep their
	 * own pacers: a full run.) */
	if (ctx->rx_locks || !ctx->help_quiet)
		return engine_run(ctx, NULL);
	n = run_passes(ctx, &ctx->help_unwoken);
	ctx->pacer.win_frames += n;	/* the traffic's rate, same interval */
	return n;
}

/*
 * One run of queue @qi's own engine (XSNAP_ENGINE_PER_QUEUE; no lock held):
 * its rx lock for the whole run, each batch taken without engine_lock and
 * logged under it, so that queues wait for each other only while logging.
 * Fed to @p, the thread's own pacer; with @quiet a nap's run (see
 * pass_end()), counted in @p's window without starting a new interval.
 * Return: frames moved.
 */
static unsigned int queue_run(struct xsnap_ctx *ctx, uint32_t qi, struct pacer *p,
			      uint32_t *quiet)
{
	struct queue *q = &ctx->q[qi];
	struct rx_batch b;
	unsigned int total = 0;

	uint32_t touched = 0;
	bool last;

	pthread_mutex_lock(&q->rx_lock);
	do {
		uint32_t now = 0;

		rx_take(ctx, q, &b);
		pthread_mutex_lock(&ctx->engine_lock);
		pass_begin(ctx);
		rx_log(ctx, q, &b, &now);
		total += b.n;
		last = b.n < RX_BATCH || total >= ctx->ring_size;
		/* each batch is published at once; sleepers are woken once per
		 * run, as by the other engines (not per batch of 64) */
		publish(ctx, now);
		touched |= now;
		if (last && quiet)
			*quiet |= touched;
		else if (last)
			engine_wake(ctx, touched);
		engine_refill(ctx);
		p->batch = pace_batch(ctx);
		pthread_mutex_unlock(&ctx->engine_lock);
	} while (!last);
	pthread_mutex_unlock(&q->rx_lock);
	if (quiet)
		p->win_frames += total;
	else
		pacer_feed(p, total, mono_ns());
	return total;
}

/* --- the engine threads ----------------------------------------------------- */
/* One per context (XSNAP_ENGINE_THREAD: every queue, ctx->pacer), or one
 * per queue (XSNAP_ENGINE_PER_QUEUE: its queue, its own pacer). */
struct engine_thread {
	struct xsnap_ctx *ctx;
	pthread_t tid;
	int kick;		/* eventfd: stop, or look at the context now */
	_Atomic bool stop;
	int qi;			/* the queue, -1: every queue */
	int cpu;		/* pinned to this CPU, -1: to the mask below */
	uint64_t cpus;
	uint32_t prio;		/* SCHED_FIFO priority, 0: normal scheduling */
	struct pacer pacer;	/* qi >= 0 */
};

static bool tx_pending(const struct xsnap_ctx *ctx)
{
	for (uint32_t qi = 0; qi < ctx->nq; qi++)
		if (ctx->q[qi].tx_prod != ctx->q[qi].tx_cons)
			return true;
	return false;
}

static void thread_place(struct engine_thread *et)
{
	struct xsnap_ctx *ctx = et->ctx;

	if (et->cpus) {
		cpu_set_t set;

		CPU_ZERO(&set);
		for (int c = 0; c < 64; c++)
			if (et->cpu < 0 ? (et->cpus & (1ull << c)) != 0 : c == et->cpu)
				CPU_SET(c, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
			pr_warn("%s: engine thread: cannot pin to CPU mask 0x%llx\n", ctx->ifname,
				et->cpu < 0 ? (unsigned long long)et->cpus : 1ull << et->cpu);
	}
	if (et->prio) {
		struct sched_param sp = { .sched_priority = (int)et->prio };
		int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);

		if (err)
			pr_warn("%s: engine thread: SCHED_FIFO priority %u: %s (runs with normal "
				"scheduling)\n",
				ctx->ifname, et->prio, strerror(err));
	}
}

int cpu_stat_read(int fd, int cpu, uint64_t *idle, uint64_t *total)
{
	char buf[4096], key[24];
	size_t have = 0, klen;
	ssize_t len;

	klen = (size_t)snprintf(key, sizeof(key), "cpu%d ", cpu);
	/* Line by line through a small buffer: the per-CPU lines come first,
	 * one per CPU (a few hundred bytes each at most), and the first line
	 * that is not one ends the search (the "intr" line after them can be
	 * longer than any buffer). */
	for (;;) {
		char *line = buf, *nl;

		len = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (len <= 0)
			return -ENOENT;
		have += (size_t)len;
		buf[have] = '\0';
		while ((nl = strchr(line, '\n'))) {
			unsigned long long v[8] = { 0 };
			uint64_t t = 0;

			*nl = '\0';
			if (strncmp(line, "cpu", 3))
				return -ENOENT;	/* past the CPU lines */
			if (!strncmp(line, key, klen)) {
				if (sscanf(line + klen, "%llu %llu %llu %llu %llu %llu %llu %llu",
					   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
					   &v[7]) != 8)
					return -EINVAL;
				for (int k = 0; k < 8; k++)
					t += v[k];
				*idle = v[3] + v[4];	/* idle, iowait */
				*total = t;
				return 0;
			}
			line = nl + 1;
		}
		/* keep the partial line; one that fills the buffer is no CPU's */
		have -= (size_t)(line - buf);
		if (have >= sizeof(buf) - 1)
			return -ENOENT;
		memmove(buf, line, have);
	}
}

/*
 * Whether the CPU this thread runs on was idle more than half of the time
 * since the last call (/proc/stat, cpu_stat_read(): no allocation).  @idle
 * and @total carry the last sample; false when the line cannot be read.
 */
static bool cpu_mostly_idle(uint64_t *idle, uint64_t *total)
{
	int cpu = sched_getcpu(), fd;
	uint64_t i, t;
	bool ret;

	if (cpu < 0)
		return false;
	fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ret = !cpu_stat_read(fd, cpu, &i, &t);
	close(fd);
	if (!ret)
		return false;
	ret = t > *total && 2 * (i - *idle) > t - *total;
	*idle = i;
	*total = t;
	return ret;
}

static void *engine_main(void *arg)
{
	struct engine_thread *et = arg;
	struct xsnap_ctx *ctx = et->ctx;
	struct pollfd pfd[XSNAP_MAX_QUEUES + 2];
	/* the rx rings it polls: every queue's, or its own */
	uint32_t first = et->qi < 0 ? 0 : (uint32_t)et->qi, nrx = et->qi < 0 ? ctx->nq : 1;
	/* the interface watch: one thread reads it (-1: ignored by poll) */
	bool watch = et->qi <= 0, gone = false;
	bool napped = false;	/* the last sleep was a nap (PACE_NAP_NS) */
	int64_t naps_until = 0;	/* paced sleeps are cut into naps until then */
	/* ... if this CPU idles: checked every PACE_NAPS_FOR_NS */
	int64_t idle_next_ns = 0;
	uint64_t idle_j = 0, total_j = 0;
	bool cpu_idle = false;
	uint32_t unwoken = 0;	/* tenants whose logs naps touched */
	int64_t wake_ns;	/* when a paced sleep should end */
	uint64_t cnt;

	thread_place(et);
	pfd[0] = (struct pollfd){ .fd = et->kick, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = watch ? ctx->ifwatch : -1, .events = POLLIN };
	for (uint32_t i = 0; i < nrx; i++)
		pfd[i + 2] = (struct pollfd){ .fd = ctx->q[first + i].fd, .events = POLLIN };
	while (!atomic_load_explicit(&et->stop, memory_order_acquire)) {
		struct timespec ts, *tsp = NULL;
		unsigned int n, nfds = 2 + nrx;
		struct pacer *p;
		bool busy, run, nap;

		if (gone || atomic_load_explicit(&ctx->dead_if, memory_order_acquire)) {
			/* the device went away: nothing to move, wait for the stop */
			if (!gone && et->qi < 0) {
				pthread_mutex_lock(&ctx->engine_lock);
				ctx->help_quiet = false;
				pthread_mutex_unlock(&ctx->engine_lock);
			}
			gone = true;
			if (poll(pfd, 1, -1) > 0 && read(et->kick, &cnt, sizeof(cnt)) < 0) {
				/* EAGAIN: read already */
			}
			continue;
		}
		p = et->qi >= 0 ? &et->pacer : &ctx->pacer;
		run = true;
		n = 0;
		if (napped) {
			/* woken from a nap (PACE_NAP_NS) before the run is due:
			 * move what came and stock the fill rings, wake nobody
			 * (the interval's run does); the frames count in the
			 * pacer's window, the interval stays */
			napped = false;
			if (et->qi >= 0) {
				/* the queue's pacer is this thread's own */
				if (p->paced && p->next_ns > mono_ns()) {
					run = false;
					n = queue_run(ctx, (uint32_t)et->qi, p, &unwoken);
					pthread_mutex_lock(&ctx->engine_lock);
				}
			} else {
				/* the context's: a helping consumer's run feeds it too */
				pthread_mutex_lock(&ctx->engine_lock);
				if (p->paced && p->next_ns > mono_ns()) {
					run = false;
					n = run_passes(ctx, &unwoken);
					p->win_frames += n;
				} else {
					pthread_mutex_unlock(&ctx->engine_lock);
				}
			}
		}
		if (run && et->qi >= 0) {
			n = queue_run(ctx, (uint32_t)et->qi, &et->pacer, NULL);
			pthread_mutex_lock(&ctx->engine_lock);
		} else if (run) {
			pthread_mutex_lock(&ctx->engine_lock);
			n = engine_run(ctx, NULL);
		}
		if (run) {
			/* and what consumers' quiet runs published */
			unwoken |= ctx->help_unwoken;
			ctx->help_unwoken = 0;
		}
		if (run && unwoken) {
			/* the sleepers of what naps published */
			engine_wake(ctx, unwoken);
			unwoken = 0;
		}
		busy = n >= ctx->ring_size;	/* stopped early: more waiting */
		nap = false;
		wake_ns = 0;
		if (p->paced) {
			/* interrupt moderation: the rx rings do not wake us */
			int64_t now = mono_ns(), left = p->next_ns - now;

			nfds = 2;
			if (left < 0)
				left = 0;
			wake_ns = now + left;
			if (now >= idle_next_ns) {
				cpu_idle = cpu_mostly_idle(&idle_j, &total_j);
				idle_next_ns = now + PACE_NAPS_FOR_NS;
			}
			if (left > PACE_NAP_NS && now < naps_until && cpu_idle) {
				left = PACE_NAP_NS;
				nap = true;
			}
			ts = (struct timespec){ left / 1000000000, left % 1000000000 };
			tsp = &ts;
		} else if (tx_pending(ctx)) {
			/* completions raise no event: look again soon */
			ts = (struct timespec){ 0, 10000000 };
			tsp = &ts;
		}
		/* a consumer's quiet run leaves its wake-ups to our next run:
		 * only while that comes within an interval (not after an
		 * untimed sleep that only new frames end) */
		if (et->qi < 0)
			ctx->help_quiet = p->paced || busy;
		pthread_mutex_unlock(&ctx->engine_lock);
		ctx_reap(ctx);
		if (busy)
			continue;
		if (ppoll(pfd, nfds, tsp, NULL) <= 0) {
			int64_t now = mono_ns();

			/* a whole paced sleep that woke late: this CPU is
			 * descheduled when idle, nap for a while */
			if (!nap && wake_ns && now - wake_ns > PACE_LATE_NS)
				naps_until = now + PACE_NAPS_FOR_NS;
			napped = nap;
			continue;
		}
		if ((pfd[0].revents & POLLIN) && read(et->kick, &cnt, sizeof(cnt)) < 0) {
			/* EAGAIN: read already */
		}
		/* the other threads see ctx->dead_if at their next wake-up */
		if (watch && pfd[1].revents)
			gone = ctx_watch_if(ctx);
	}
	return NULL;
}

/* The @k-th CPU of @cpus (round robin), -1 if none. */
static int nth_cpu(uint64_t cpus, uint32_t k)
{
	int n = __builtin_popcountll(cpus);

	if (!n)
		return -1;
	k %= (uint32_t)n;
	for (int c = 0; c < 64; c++)
		if ((cpus & (1ull << c)) && !k--)
			return c;
	return -1;
}

int engine_thread_start(struct xsnap_ctx *ctx, uint64_t cpus, uint32_t prio, bool per_queue)
{
	uint32_t n = per_queue ? ctx->nq : 1;
	struct engine_thread *ets = calloc(n, sizeof(*ets));
	int err = 0;

	if (!ets)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		ets[i].kick = -1;
	ctx->thread = ets;
	ctx->nthreads = 0;
	ctx->rx_locks = per_queue;
	for (uint32_t i = 0; i < n && !err; i++) {
		struct engine_thread *et = &ets[i];
		char name[16];

		et->ctx = ctx;
		et->cpus = cpus;
		et->prio = prio;
		et->qi = per_queue ? (int)i : -1;
		et->cpu = per_queue ? nth_cpu(cpus, i) : -1;
		et->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (et->kick < 0) {
			err = -errno;
			break;
		}
		err = -pthread_create(&et->tid, NULL, engine_main, et);
		if (err)
			break;
		ctx->nthreads++;
		if (per_queue)
			snprintf(name, sizeof(name), "xsnap-eng-q%u", ctx->q[i].id);
		else
			snprintf(name, sizeof(name), "xsnap-engine");
		pthread_setname_np(et->tid, name);
	}
	if (err)
		engine_thread_stop(ctx);
	return err;
}

void engine_thread_kick(struct xsnap_ctx *ctx)
{
	uint64_t one = 1;

	for (uint32_t i = 0; ctx->thread && i < ctx->nthreads; i++)
		if (write(ctx->thread[i].kick, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, a kick is pending anyway */
		}
}

void engine_thread_stop(struct xsnap_ctx *ctx)
{
	struct engine_thread *ets = ctx->thread;
	uint32_t n = ctx->nthreads, cap = ctx->rx_locks ? ctx->nq : 1;

	if (!ets)
		return;
	for (uint32_t i = 0; i < n; i++)
		atomic_store_explicit(&ets[i].stop, true, memory_order_release);
	engine_thread_kick(ctx);
	for (uint32_t i = 0; i < n; i++)
		pthread_join(ets[i].tid, NULL);
	/* no thread to wake what consumers' quiet runs leave */
	pthread_mutex_lock(&ctx->engine_lock);
	ctx->help_quiet = false;
	pthread_mutex_unlock(&ctx->engine_lock);
	/* the one whose start failed may have a descriptor and no thread */
	for (uint32_t i = 0; i < cap; i++)
		if (ets[i].kick >= 0)
			close(ets[i].kick);
	free(ets);
	ctx->thread = NULL;
	ctx->nthreads = 0;
}
