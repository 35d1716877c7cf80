// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The engine: moves frames from the kernel's rx rings into tenant logs, and
 * chunks from the logs back to the fill rings.
 *
 * It runs with ctx->engine_lock held, inside whichever consumer calls
 * xsnap_recv() (no thread of its own).  Per call it:
 *
 *   1. reclaims every tenant log behind its slowest socket (batch),
 *   2. peeks up to RX_BATCH descriptors per queue, reads the metadata the XDP
 *      program wrote in front of each frame, and appends one log entry per
 *      tenant in the frame's tenant mask: fan-out to N tenants costs N
 *      entries and a reference count set once, never a copy;
 *   3. publishes each touched log's head with one release store, and wakes
 *      the sockets of that tenant that sleep;
 *   4. stocks the fill rings from the free stack.
 *
 * Nothing is allocated and no syscall is made per frame: the only syscalls
 * are one eventfd write per sleeping socket per batch, and a fill-ring kick
 * when the driver asked for one (need_wakeup).
 *
 * Under load (a run that moved ENGINE_BUSY_FRAMES or more) the engine sets
 * ctx->paced, and consumers that find nothing sleep on their eventfd with a
 * ENGINE_POLL_NS timer instead of on the rx rings (xsnap_recv): like a NIC's
 * interrupt moderation, each consumer then wakes once per ENGINE_POLL_NS for
 * everything that came meanwhile, instead of every consumer once per burst
 * of the kernel's (a NAPI poll: tens of frames).  The first run that moves
 * fewer frames clears it, so light traffic is never delayed.
 *
 * A full log first reclaims what its sockets released; if that frees no
 * slot, the frame is dropped for that tenant only (quota_drops).  Tenants are
 * admitted only while the sum of quotas plus the kernel's share (fill + rx
 * rings of every queue) fits in the receive region, so a stuck tenant can
 * never starve the fill rings or another tenant.
 */
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xsnap_internal.h"

uint64_t engine_horizon(const struct tenant *t)
{
	uint64_t h = t->head;

	for (unsigned int i = 0; i < t->nsocks; i++) {
		/* pairs with the release store in advance_low() */
		uint64_t low = atomic_load_explicit(&t->socks[i]->ctl->low, memory_order_acquire);

		if (low < h)
			h = low;
	}
	for (const struct xsnap_snap *sn = t->snaps; sn; sn = sn->next)
		if (sn->first < h)
			h = sn->first;
	return h;
}

/* Evict the log's oldest entries, up to (not including) @upto, but never at
 * or past the horizon: what sockets hold or snapshots pin stays. */
void engine_evict(struct xsnap_ctx *ctx, struct tenant *t, uint64_t upto)
{
	uint64_t h = engine_horizon(t);
	uint32_t mask = t->quota - 1;

	if (upto > h)
		upto = h;
	for (; t->tail < upto; t->tail++) {
		umem_put(&ctx->umem, t->log[t->tail & mask].addr);
		t->evicted++;
	}
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
		umem_put(&ctx->umem, o->addr);
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
			uint8_t slot = q->tx_owner[q->tx_cons++ & (ctx->ring_size - 1)];
			struct tenant *t = slot < XSNAP_MAX_TENANTS ? ctx->tenants[slot] : NULL;

			umem_put(&ctx->umem, xsk_umem__add_offset_to_addr(addr));
			for (struct tenant *d = ctx->dead; !t && d; d = d->next_dead)
				if (d->slot == slot && d->tx_inflight)
					t = d;
			if (t) {
				t->tx_inflight--;
				t->tx_completed++;
				if (t->dead)
					tenant_free_locked(ctx, t);
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
		uint32_t want = xsk_prod_nb_free(&q->fill, u->nfree);
		uint32_t idx, n;

		if (want > u->nfree)
			want = u->nfree;
		if (!want)
			continue;
		n = xsk_ring_prod__reserve(&q->fill, want, &idx);
		for (uint32_t i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&q->fill, idx + i) =
				(uint64_t)u->free[--u->nfree] << FRAME_SHIFT;
		/* submit has the release barrier: the kernel sees the addresses
		 * before the new producer index */
		xsk_ring_prod__submit(&q->fill, n);
		q->outstanding += n;
		if (n && xsk_ring_prod__needs_wakeup(&q->fill))
			recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

static void wake_tenant(struct tenant *t)
{
	uint64_t one = 1;

	for (unsigned int i = 0; i < t->nsocks; i++) {
		struct xsnap_sock *s = t->socks[i];

		/* seq_cst pairs with the socket's store of waiting before its
		 * final re-check of head_pub (no lost wake-up); one write per
		 * announced wait: the exchange disarms it */
		if (atomic_load_explicit(&s->ctl->waiting, memory_order_relaxed) &&
		    atomic_exchange(&s->ctl->waiting, 0) && write(s->efd, &one, sizeof(one)) < 0)
			pr_debug("%s: tenant %s: eventfd write failed\n", "engine", t->name);
	}
}

static unsigned int rx_queue(struct xsnap_ctx *ctx, struct queue *q, uint32_t *touched)
{
	struct umem *u = &ctx->umem;
	uint32_t idx, n;

	n = xsk_ring_cons__peek(&q->rx, RX_BATCH, &idx);
	/* The metadata lines were written by whichever CPU ran the copy (the
	 * generator's, with softirq NAPI): ask for all of them first, so the
	 * cross-core transfers overlap instead of stalling one per frame. */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = xsk_umem__add_offset_to_addr(xsk_ring_cons__rx_desc(&q->rx, idx + i)->addr);

		if ((a >> FRAME_SHIFT) < u->nframes && (a & (FRAME_SIZE - 1)) >= sizeof(struct xsnap_meta))
			__builtin_prefetch(u->ro + a - sizeof(struct xsnap_meta));
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
		uint32_t chunk = (uint32_t)(addr >> FRAME_SHIFT);
		const struct xsnap_meta *m;
		uint32_t mask = 0, refs = 0;

		/* The metadata sits right before the frame, inside the chunk's
		 * headroom; anything else in that spot fails the magic check. */
		if ((addr & (FRAME_SIZE - 1)) >= sizeof(*m) && chunk < u->nframes) {
			m = (const struct xsnap_meta *)(u->ro + addr - sizeof(*m));
			if (m->magic == XSNAP_META_MAGIC)
				mask = m->tenant_mask & ctx->tenant_mask;
		}
		while (mask) {
			struct tenant *t = ctx->tenants[__builtin_ctz(mask)];
			struct log_ent *e;

			mask &= mask - 1;
			if (t->head - t->tail >= t->quota) {
				/* full: make room by evicting the oldest released frame */
				engine_evict(ctx, t, t->head - t->quota + 1);
				if (t->head - t->tail >= t->quota) {
					t->quota_drops++;
					continue;
				}
			}
			e = &t->log[t->head & (t->quota - 1)];
			e->seq = t->head++;
			e->rx_ns = m->rx_ns;
			e->addr = addr;
			e->len = d->len;
			e->version = 0;
			e->stamp = 0;
			e->flow_hash = m->flow_hash;
			t->rx_frames++;
			t->rx_bytes += d->len;
			*touched |= 1u << t->slot;
			refs++;
		}
		if (chunk >= u->nframes)
			continue;	/* not ours: never happens with aligned chunks */
		if (refs)
			u->ref[chunk] = (uint16_t)refs;
		else
			umem_free_push(u, chunk);
	}
	if (n) {
		xsk_ring_cons__release(&q->rx, n);
		q->outstanding -= n;
	}
	return n;
}

int engine_poll(struct xsnap_ctx *ctx)
{
	uint32_t touched = 0, mask;
	unsigned int total = 0, n;

	engine_complete(ctx);
	mask = ctx->tenant_mask;
	while (mask) {
		engine_reclaim(ctx, ctx->tenants[__builtin_ctz(mask)]);
		mask &= mask - 1;
	}
	for (uint32_t qi = 0; qi < ctx->nq; qi++) {
		do {
			n = rx_queue(ctx, &ctx->q[qi], &touched);
			total += n;
		} while (n == RX_BATCH && total < 4 * RX_BATCH * ctx->nq);
	}
	atomic_store_explicit(&ctx->paced, total >= ENGINE_BUSY_FRAMES, memory_order_relaxed);
	mask = touched;
	while (mask) {
		struct tenant *t = ctx->tenants[__builtin_ctz(mask)];

		mask &= mask - 1;
		/* entries written above become visible before the new head */
		atomic_store_explicit(&t->shm->head_pub, t->head, memory_order_release);
		atomic_thread_fence(memory_order_seq_cst);
		wake_tenant(t);
	}
	engine_refill(ctx);
	return (int)total;
}
