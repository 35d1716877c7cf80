// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Versions and transmit: copy-on-write, commit, fresh frames, send.
 *
 * A private version lives in a chunk of the tenant's pool, with one
 * reference held by the socket's view (VIEW_PRIVATE).  Commit moves that
 * reference into the log entry and parks the entry's old chunk on the
 * tenant's list of superseded versions; the engine frees it once the tenant's
 * horizon passes the entry's sequence number, i.e. once no socket holds the
 * frame and no snapshot pins it.  Readers copy entries under a sequence
 * count, so a commit racing a reader gives it either version whole.
 *
 * Send takes one reference per frame for the transmit (a received chunk
 * gains one; a private or fresh frame hands over the one its view held) and
 * the engine drops it when the completion comes back.  All of this is engine
 * state, so these calls take the engine lock: they are per-frame operations
 * of a consumer that modifies or transmits, not the receive fast path.
 */
#include <string.h>
#include <sys/socket.h>

#include "xsnap_internal.h"

#define HEADROOM FRAME_HEADROOM
#define MAX_LEN FRAME_MAX_LEN

static inline uint64_t chunk_base(uint32_t chunk)
{
	return (uint64_t)chunk << FRAME_SHIFT;
}

void *xsnap_frame_cow(struct xsnap_sock *s, struct xsnap_frame **fp)
{
	size_t idx;
	int kind;

	if (!s || !fp || !*fp) {
		errno = EINVAL;
		return NULL;
	}
	kind = sock_view_kind(s, *fp, &idx);
	if (kind <= 0) {
		errno = sock_handle_err(s, kind, "cow");
		return NULL;
	}
	/* the handle stays: the view now shows the private version */
	return s->ctx->be->cow(s, handle_view(*fp));
}

void *local_cow(struct xsnap_sock *s, struct xsnap_frame *f)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct log_ent e;
	uint32_t chunk;
	uint64_t addr;

	if (f->flags & VIEW_PRIVATE)
		return ctx->umem.rw + f->addr;

	pthread_mutex_lock(&ctx->engine_lock);
	chunk = umem_pool_get(&ctx->umem, s->t->slot);
	if (chunk == UINT32_MAX) {
		pthread_mutex_unlock(&ctx->engine_lock);
		errno = ENOBUFS;
		return NULL;
	}
	/* metadata and frame, at the same place in the new chunk */
	addr = chunk_base(chunk) + HEADROOM;
	memcpy(ctx->umem.rw + addr - sizeof(struct xsnap_meta), f->data - sizeof(struct xsnap_meta),
	       sizeof(struct xsnap_meta) + f->len);
	log_read(&s->t->log[f->seq & (s->t->quota - 1)], &e);
	s->t->cow++;
	pthread_mutex_unlock(&ctx->engine_lock);

	/* the view now shows the private version; the old bytes stay
	 * protected because the socket still holds the sequence number */
	f->addr = addr;
	f->data = s->ro + addr;
	f->version = (e.seq == f->seq ? e.version : f->version) + 1;
	f->flags |= VIEW_PRIVATE;
	return ctx->umem.rw + addr;
}

int xsnap_frame_commit(struct xsnap_sock *s, struct xsnap_frame *h)
{
	struct xsnap_frame *f;
	size_t idx;
	int kind;

	if (!s || !h)
		return err_ret(EINVAL);
	kind = sock_view_kind(s, h, &idx);
	if (kind <= 0)
		return err_ret(sock_handle_err(s, kind, "commit"));
	f = handle_view(h);
	if (kind != VIEW_IS_LOG || !(f->flags & VIEW_PRIVATE))
		return err_ret(EINVAL);	/* a fresh frame, or no private version */
	return s->ctx->be->commit(s, f);
}

int tenant_commit_locked(struct xsnap_ctx *ctx, struct tenant *t, uint64_t seq, uint64_t addr,
			 uint32_t len)
{
	uint32_t cap = ctx->umem.pool_frames + 1;
	struct log_ent *e = &t->log[seq & (t->quota - 1)];

	/* in-process the socket holds @seq; a client's request is checked */
	if (seq < t->tail || seq >= t->head || e->seq != seq)
		return -ENOENT;
	if (t->nold == cap) {
		engine_reclaim(ctx, t);
		if (t->nold == cap)
			return -ENOSPC;
	}
	t->commit_stamp++;
	t->old[t->old_head] = (struct superseded){ .seq = seq, .addr = e->addr, .len = e->len,
						   .version = e->version, .stamp = e->stamp,
						   .replaced = t->commit_stamp };
	t->old_head = (t->old_head + 1) % cap;
	t->nold++;
	/* odd count while the entry changes: readers retry */
	atomic_fetch_add_explicit(&e->sc, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	e->addr = addr;
	e->version++;
	e->len = len;
	e->stamp = t->commit_stamp;
	atomic_fetch_add_explicit(&e->sc, 1, memory_order_release);
	t->commits++;
	return (int)e->version;
}

int local_commit(struct xsnap_sock *s, struct xsnap_frame *f)
{
	struct xsnap_ctx *ctx = s->ctx;
	int v;

	pthread_mutex_lock(&ctx->engine_lock);
	v = tenant_commit_locked(ctx, s->t, f->seq, f->addr, f->len);
	pthread_mutex_unlock(&ctx->engine_lock);
	if (v < 0)
		return err_ret(-v);
	f->version = (uint32_t)v;
	/* the pool chunk's reference now belongs to the log entry */
	f->flags &= ~VIEW_PRIVATE;
	return (int)f->version;
}

struct xsnap_frame *xsnap_frame_alloc(struct xsnap_sock *s, uint32_t len)
{
	if (!s || len < 14 || len > MAX_LEN) {
		errno = EINVAL;
		return NULL;
	}
	return s->ctx->be->alloc(s, len);
}

struct xsnap_frame *local_alloc(struct xsnap_sock *s, uint32_t len)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct xsnap_frame *f = sock_fresh_slot(s);
	uint32_t chunk;

	pthread_mutex_lock(&ctx->engine_lock);
	chunk = f ? umem_pool_get(&ctx->umem, s->t->slot) : UINT32_MAX;
	pthread_mutex_unlock(&ctx->engine_lock);
	if (chunk == UINT32_MAX) {
		errno = ENOBUFS;
		return NULL;
	}
	*f = (struct xsnap_frame){ .addr = chunk_base(chunk) + HEADROOM, .len = len,
				   .flags = VIEW_PRIVATE, .queue = ctx->q[0].id,
				   .gen = f->gen + 1 };
	f->data = s->ro + f->addr;
	memset(ctx->umem.rw + f->addr - sizeof(struct xsnap_meta), 0, sizeof(struct xsnap_meta));
	return handle_of(f);
}

bool tenant_has_version(const struct xsnap_ctx *ctx, const struct tenant *t, uint64_t seq,
			uint64_t addr, uint32_t len)
{
	const struct log_ent *e = &t->log[seq & (t->quota - 1)];
	uint32_t cap = ctx->umem.pool_frames + 1;

	if (seq < t->tail || seq >= t->head || e->seq != seq)
		return false;
	if (e->addr == addr && e->len == len)
		return true;
	for (uint32_t i = 0; i < t->nold; i++) {
		const struct superseded *o = &t->old[(t->old_head + cap - 1 - i) % cap];

		if (o->seq == seq && o->addr == addr && o->len == len)
			return true;
	}
	return false;
}

struct xsnap_frame *sock_lend(struct xsnap_sock *s, uint64_t seq, uint64_t addr, uint32_t len)
{
	struct xsnap_ctx *ctx = s->ctx;
	const struct log_ent *e;
	struct xsnap_frame *f;

	if (s->t->view || (addr >> FRAME_SHIFT) >= ctx->umem.nframes) {
		errno = EXDEV;
		return NULL;
	}
	if (!tenant_has_version(ctx, s->t, seq, addr, len)) {
		errno = ENOENT;
		return NULL;
	}
	f = sock_fresh_slot(s);
	if (!f)
		return NULL;
	e = &s->t->log[seq & (s->t->quota - 1)];
	/* the handle's own reference: the chunk outlives the log entry's */
	ctx->umem.ref[addr >> FRAME_SHIFT]++;
	*f = (struct xsnap_frame){ .addr = addr, .len = len, .seq = seq, .flags = VIEW_PRIVATE,
				   .queue = e->queue, .gen = f->gen + 1 };
	f->data = s->ro + addr;
	return handle_of(f);
}

const char *tx_desc_check(const struct umem *u, uint32_t slot, uint64_t addr, uint32_t len)
{
	uint64_t chunk = addr >> FRAME_SHIFT;

	if (len < 14)
		return "len below an Ethernet header (14 bytes)";
	if (len > MAX_LEN)
		return "len beyond a frame (3840 bytes)";
	if (chunk >= u->nchunks)
		return "addr outside the UMEM";
	if ((addr & (FRAME_SIZE - 1)) + len > FRAME_SIZE)
		return "addr + len across the end of a chunk";
	if (chunk >= u->nframes && (chunk - u->nframes) / u->pool_frames != slot)
		return "addr in another tenant's pool";
	return NULL;
}

/* Is @v[0..n) a batch @s may send?  NULL, or why not (and which frame in
 * *@bad).  Marks the views while it looks, to catch one frame given twice,
 * and clears the marks again. */
static const char *send_check(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n,
			      unsigned int *bad)
{
	const char *why = NULL;
	unsigned int i;
	size_t vi;

	for (i = 0; i < n && !why; i++) {
		struct xsnap_frame *f = handle_view(v[i]);

		if (sock_view_kind(s, v[i], &vi) <= 0)
			why = "a frame this socket does not hold";
		else if (f->flags & VIEW_TX_MARK)
			why = "the same frame twice";
		else if (s->t->view && (f->addr >> FRAME_SHIFT) < s->t->view->nframes)
			/* a copy in the tenant's private view, not in the UMEM */
			why = "a frame of a private view (send a copy: xsnap_frame_cow)";
		else
			why = tx_desc_check(&s->ctx->umem, s->t->slot, f->addr, f->len);
		if (!why)
			f->flags |= VIEW_TX_MARK;
	}
	*bad = i - 1;
	while (i--)
		if (v[i] && (!why || i != *bad))
			handle_view(v[i])->flags &= ~VIEW_TX_MARK;
	return why;
}

/*
 * Tell the kernel to transmit.  One kick moves a bounded batch (copy mode:
 * the socket's TX budget, 32 descriptors by default) and answers EAGAIN
 * while more wait or while the completion ring is full.  Nothing else would
 * kick again (the engine only receives), so descriptors left on the ring
 * would wait for the tenant's next send, which may never come when its
 * pool is in flight: kick until the kernel has taken them, taking
 * completions in between; bounded by the ring's batches.
 */
static void tx_kick(struct xsnap_ctx *ctx, struct queue *q)
{
	for (uint32_t i = 0; i < ctx->ring_size / 32 + 2; i++) {
		if (sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0 || errno != EAGAIN)
			return;
		pthread_mutex_lock(&ctx->engine_lock);
		engine_complete(ctx);
		pthread_mutex_unlock(&ctx->engine_lock);
	}
}

/* The index in ctx->q[] of queue id @id, or -1 if the context has not opened it. */
static int queue_index(const struct xsnap_ctx *ctx, uint32_t id)
{
	for (uint32_t i = 0; i < ctx->nq; i++)
		if (ctx->q[i].id == id)
			return (int)i;
	return -1;
}

/* Where @f goes out by default: its receive queue, or the first queue if
 * this context has not opened that one. */
static int tx_index(const struct xsnap_ctx *ctx, const struct xsnap_frame *f)
{
	int i = queue_index(ctx, f->queue);

	return i < 0 ? 0 : i;
}

/*
 * Queue v[0..n) on @q's TX ring (engine lock held): as many as the ring and
 * the tenant's fair share take.  Return: frames queued.
 */
static uint32_t tx_queue_frames(struct xsnap_sock *s, struct queue *q, struct xsnap_frame **v,
				uint32_t n)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct tenant *t = s->t;
	uint32_t idx, share, ntenants, room, owners;
	size_t vi;

	/* fair share: ring / active tenants in flight per tenant, per queue
	 * and over all queues alike */
	ntenants = (uint32_t)__builtin_popcount(ctx->tenant_mask);
	share = ctx->ring_size / (ntenants ? ntenants : 1);
	room = t->tx_inflight < share ? share - t->tx_inflight : 0;
	if (room > n)
		room = n;
	/* never more than the owner FIFO holds: an overwritten owner would
	 * credit a completion to the wrong tenant (see tx_owner_cap()) */
	owners = tx_owner_cap(ctx) - (q->tx_prod - q->tx_cons);
	if (room > owners)
		room = owners;
	room = xsk_ring_prod__reserve(&q->tx, room, &idx);
	for (uint32_t i = 0; i < room; i++) {
		struct xsnap_frame *f = handle_view(v[i]);
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&q->tx, idx + i);
		int kind = sock_view_kind(s, v[i], &vi);

		d->addr = f->addr;
		d->len = f->len;
		d->options = 0;
		/* a private/fresh view hands its reference to the transmit; a
		 * received frame gains one */
		if (f->flags & VIEW_PRIVATE)
			f->flags &= ~VIEW_PRIVATE;
		else
			ctx->umem.ref[f->addr >> FRAME_SHIFT]++;
		if (kind == VIEW_IS_LOG)
			s->held[vi] = 0;
		view_retire(f);
		q->tx_owner[q->tx_prod++ & (tx_owner_cap(ctx) - 1)] = (uint8_t)t->slot;
		t->tx_inflight++;
	}
	/* submit publishes the descriptors before the producer index */
	xsk_ring_prod__submit(&q->tx, room);
	t->tx_frames += room;
	return room;
}

int xsnap_send(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n)
{
	return xsnap_send_queue(s, v, n, -1);
}

int xsnap_send_queue(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n, int queue)
{
	size_t vi;

	if (!s || !v)
		return err_ret(EINVAL);
	/* a stale handle is refused by every backend alike */
	for (unsigned int i = 0; i < n; i++) {
		if (sock_view_kind(s, v[i], &vi) == VIEW_STALE) {
			s->ctl->bad_releases++;
			pr_warn("tenant %s: send: frame %u of %u: a stale handle (released, sent or "
				"reused); nothing sent\n",
				s->t->name, i + 1, n);
			return err_ret(ESTALE);
		}
	}
	return s->ctx->be->send(s, v, n, queue);
}

int local_send(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n, int queue)
{
	struct xsnap_ctx *ctx = s->ctx;
	uint32_t sent = 0;
	bool kicked[XSNAP_MAX_QUEUES] = { false }, was_idle = true;
	const char *why;
	unsigned int bad;
	int qi = -1;

	if (queue >= 0) {
		qi = queue_index(ctx, (uint32_t)queue);
		if (qi < 0) {
			pr_warn("tenant %s: send: queue %d is not open on %s (queues %u..%u)\n",
				s->t->name, queue, ctx->ifname, ctx->q[0].id, ctx->q[ctx->nq - 1].id);
			return err_ret(EINVAL);
		}
	}
	/* all or nothing on bad input: check every frame first, so that no
	 * descriptor the kernel would refuse (tx_invalid_descs) is queued */
	why = send_check(s, v, n, &bad);
	if (why) {
		s->ctl->bad_releases++;
		pr_warn("tenant %s: send: frame %u of %u: %s; nothing sent\n", s->t->name, bad + 1,
			n, why);
		return err_ret(EINVAL);
	}
	if (ctx->dead_if)
		return err_ret(ENETDOWN);
	pthread_mutex_lock(&ctx->engine_lock);
	engine_complete(ctx);
	for (uint32_t i = 0; i < ctx->nq; i++)
		was_idle &= ctx->q[i].tx_prod == ctx->q[i].tx_cons;
	/* runs of frames for the same queue, in order; stop at the first run
	 * a ring or the fair share cut short: the rest stay held */
	while (sent < n) {
		int rq = qi >= 0 ? qi : tx_index(ctx, handle_view(v[sent]));
		uint32_t run = 1, got;

		while (sent + run < n &&
		       (qi >= 0 || tx_index(ctx, handle_view(v[sent + run])) == rq))
			run++;
		got = tx_queue_frames(s, &ctx->q[rq], v + sent, run);
		sent += got;
		kicked[rq] |= got > 0;
		if (got < run)
			break;
	}
	pthread_mutex_unlock(&ctx->engine_lock);
	advance_low(s);
	for (uint32_t i = 0; i < ctx->nq; i++) {
		struct queue *q = &ctx->q[i];

		/* copy mode always wants a kick; zero-copy only when flagged */
		if (kicked[i] && (!q->zerocopy || xsk_ring_prod__needs_wakeup(&q->tx)))
			tx_kick(ctx, q);
	}
	/* completions raise no event: an engine thread that slept with
	 * nothing in flight must now look at them */
	if (sent && was_idle)
		engine_thread_kick(ctx);
	ctx_reap(ctx);
	return (int)sent;
}
