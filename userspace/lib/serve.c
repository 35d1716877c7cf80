// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Serving sockets to client processes: the library's side of xsnapd
 * (xsnap_serve.h).  Each call takes the locks it needs; xsnapd holds none
 * of the library's and sees none of its structures.
 *
 * Leases.  A client writes private versions and fresh frames into its
 * tenant instance's pool memfd (tenant_pool_fd()); the chunk numbers and
 * their accounting are the slot pool's in the UMEM.  A chunk leased to a
 * client is a fresh frame of the daemon-side socket (so closing the socket
 * or the client's death releases it, and the audit counts it), found in
 * one step from its pool offset (s->lease_of).
 */
#include <errno.h>
#include <linux/if_xdp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xsnap_internal.h"

/* --- contexts ----------------------------------------------------------------- */

void serve_if_info(struct xsnap_ctx *ctx, struct serve_if_info *in)
{
	memset(in, 0, sizeof(*in));
	in->ifindex = ctx->ifindex;
	in->watch_fd = ctx->ifwatch;
	in->xdp_mode = ctx->steer.mode;
	in->nframes = ctx->umem.nframes;
	in->nchunks = ctx->umem.nchunks;
	in->ngroups = ctx->umem.ngroups;
	in->xdp_stamp = ctx->xdp_stamp;
	in->huge = ctx->umem.huge;
	in->spec_keys = ctx->steer.spec_keys;
	in->spec_on = ctx->steer.spec_on;
	in->pin_dir = ctx->steer.pin_dir;
	in->nq = ctx->nq;
	for (uint32_t q = 0; q < ctx->nq; q++) {
		in->q[q].fd = ctx->q[q].fd;
		in->q[q].id = ctx->q[q].id;
		in->q[q].group = ctx->q[q].group;
		in->q[q].zerocopy = ctx->q[q].zerocopy;
		in->q[q].zc_reason = ctx->q[q].zc_reason;
	}
}

int serve_attach_info(struct xsnap_ctx *ctx, struct serve_attach *a)
{
	return steer_observe(&ctx->steer, a);
}

unsigned int serve_engine_run(struct xsnap_ctx *ctx, bool *changed)
{
	unsigned int n;

	pthread_mutex_lock(&ctx->engine_lock);
	n = engine_run(ctx, changed);
	pthread_mutex_unlock(&ctx->engine_lock);
	ctx_reap(ctx);
	return n;
}

bool serve_paced(struct xsnap_ctx *ctx)
{
	return ctx->pacer.paced;
}

int64_t serve_next_ns(struct xsnap_ctx *ctx)
{
	return ctx->pacer.next_ns;
}

bool serve_if_gone(struct xsnap_ctx *ctx)
{
	return ctx_watch_if(ctx);
}

void serve_if_dead(struct xsnap_ctx *ctx)
{
	pthread_mutex_lock(&ctx->engine_lock);
	ctx_if_dead(ctx);
	pthread_mutex_unlock(&ctx->engine_lock);
}

int serve_audit(struct xsnap_ctx *ctx, char *why, size_t len)
{
	int r;

	pthread_mutex_lock(&ctx->lock);
	pthread_mutex_lock(&ctx->engine_lock);
	r = ctx_audit(ctx, why, len);
	pthread_mutex_unlock(&ctx->engine_lock);
	pthread_mutex_unlock(&ctx->lock);
	return r;
}

/* --- tenants -------------------------------------------------------------------- */

bool serve_tenant_revoke(struct xsnap_ctx *ctx, const char *name)
{
	struct tenant *t;

	pthread_mutex_lock(&ctx->lock);
	t = ctx_tenant_find(ctx, name);
	if (t) {
		pthread_mutex_lock(&ctx->engine_lock);
		atomic_fetch_or(&t->shm->state, LOG_REVOKED);
		tenant_wake_all(t);	/* never blocks */
		pthread_mutex_unlock(&ctx->engine_lock);
	}
	pthread_mutex_unlock(&ctx->lock);
	return t != NULL;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

int serve_tenant_figures(struct xsnap_ctx *ctx, const char *name, struct xsnap_stats *st)
{
	struct xsnap_tenant_cnt tc;
	struct tenant *t;
	uint32_t slot;

	pthread_mutex_lock(&ctx->engine_lock);
	t = ctx_tenant_find(ctx, name);
	if (!t) {
		pthread_mutex_unlock(&ctx->engine_lock);
		return -ENOENT;
	}
	slot = t->slot;
	tenant_engine_stats(ctx, t, st);
	/* what only the consumers know, as they say it */
	st->bad_releases = sat_add(st->bad_releases, t->closed_bad_releases);
	st->recvfrom_skipped = sat_add(st->recvfrom_skipped, t->closed_skipped);
	st->recvfrom_fragments = sat_add(st->recvfrom_fragments, t->closed_fragments);
	st->recvfrom_bad_csum = sat_add(st->recvfrom_bad_csum, t->closed_bad_csum);
	for (unsigned int i = 0; i < t->nsocks; i++) {
		const struct sock_ctl *c = t->socks[i]->ctl;

		st->bad_releases = sat_add(st->bad_releases, c->bad_releases);
		st->recvfrom_skipped = sat_add(st->recvfrom_skipped, c->skipped);
		st->recvfrom_fragments = sat_add(st->recvfrom_fragments, c->fragments);
		st->recvfrom_bad_csum = sat_add(st->recvfrom_bad_csum, c->bad_csum);
	}
	pthread_mutex_unlock(&ctx->engine_lock);
	if (!steer_tenant_counters(&ctx->steer, slot, &tc))
		st->xdp_tenant_frames += tc.frames;
	return 0;
}

void serve_if_figures(struct xsnap_ctx *ctx, struct xsnap_stats *st)
{
	uint64_t cnt[XSNAP_R_MAX];
	uint32_t zc = 1;

	/* one consistent look at where the receive frames are */
	pthread_mutex_lock(&ctx->engine_lock);
	st->frames_total += ctx->umem.nframes;
	st->frames_free += ctx->umem.nfree;
	st->frames_logged += ctx->umem.nheld;
	for (uint32_t q = 0; q < ctx->nq; q++) {
		st->frames_kernel += ctx->q[q].outstanding;
		zc &= ctx->q[q].zerocopy;
	}
	pthread_mutex_unlock(&ctx->engine_lock);
	st->zerocopy += zc;
	st->xdp_mode += ctx->steer.mode;
	for (uint32_t q = 0; q < ctx->nq; q++) {
		struct xdp_statistics xs = { 0 };
		socklen_t len = sizeof(xs);

		if (getsockopt(ctx->q[q].fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
			continue;
		st->kernel_rx_dropped += xs.rx_dropped;
		st->kernel_rx_ring_full += xs.rx_ring_full;
		st->kernel_fill_empty += xs.rx_fill_ring_empty_descs;
	}
	if (!steer_counters(&ctx->steer, cnt))
		for (size_t r = 0; r < XSNAP_R_MAX && r < sizeof(st->xdp) / sizeof(st->xdp[0]); r++)
			st->xdp[r] += cnt[r];
}

/* --- sockets ---------------------------------------------------------------------- */

int serve_sock_export(struct xsnap_sock *s, struct serve_export *e)
{
	const struct umem *u = &s->ctx->umem;
	struct tenant *t = s->t;

	memset(e, 0, sizeof(*e));
	e->rx_fd = e->log_fd = -1;
	if (t->view) {
		e->region_first = 0;
		e->region_frames = t->view->nframes;
		e->rx_fd = fd_reopen_ro(t->view->fd);
	} else {
		uint32_t g = t->qgroup ? t->qgroup - 1 : 0;

		e->region_first = g * u->gframes;
		e->region_frames = u->gframes;
		e->rx_fd = fd_reopen_ro(u->rx_fd[g]);
	}
	e->log_fd = fd_reopen_ro(t->shm_fd);
	/* the tenant instance's own pool (the tenant keeps it) */
	e->pool_fd = tenant_pool_fd(s->ctx, t);
	if (e->rx_fd < 0 || e->log_fd < 0 || e->pool_fd < 0) {
		int r = e->rx_fd < 0 ? e->rx_fd : e->log_fd < 0 ? e->log_fd : e->pool_fd;

		if (e->rx_fd >= 0)
			close(e->rx_fd);
		if (e->log_fd >= 0)
			close(e->log_fd);
		return r;
	}
	e->ctl_fd = s->ctl_fd;
	e->event_fd = s->efd;
	e->slot = t->slot;
	e->quota = t->quota;
	e->nframes = u->nframes;
	e->pool_frames = u->pool_frames;
	e->npools = u->npools;
	e->cursor = s->cursor;
	e->log_len = t->shm_len;
	return 0;
}

const char *serve_sock_tenant(const struct xsnap_sock *s)
{
	return s->t->name;
}

bool serve_sock_share(const struct xsnap_sock *s, uint32_t *group)
{
	*group = s->group;
	return s->mode == XSNAP_SHARE;
}

uint64_t serve_sock_cursor(const struct xsnap_sock *s)
{
	return s->cursor;
}

uint64_t serve_sock_low(struct xsnap_sock *s)
{
	uint64_t low = atomic_load_explicit(&s->ctl->low, memory_order_acquire), head;

	pthread_mutex_lock(&s->ctx->engine_lock);
	head = s->t->head;
	pthread_mutex_unlock(&s->ctx->engine_lock);
	return low > head ? head : low;
}

void serve_sock_bad(struct xsnap_sock *s, uint32_t n)
{
	s->ctl->bad_releases += n;
}

void serve_snap_range(const struct xsnap_snap *sn, uint64_t *first, uint64_t *end)
{
	*first = sn->first;
	*end = sn->end;
}

/* --- leases ------------------------------------------------------------------------- */

/* The first UMEM chunk of @s's tenant's pool. */
static uint64_t pool_first(const struct xsnap_sock *s)
{
	return (uint64_t)s->ctx->umem.nframes + (uint64_t)s->t->slot * s->ctx->umem.pool_frames;
}

/* The offset in its tenant's pool of the chunk at frame address @addr, or
 * UINT32_MAX if it is not one of that pool's. */
static uint32_t pool_off(const struct xsnap_sock *s, uint64_t addr)
{
	uint64_t c = addr >> FRAME_SHIFT, first = pool_first(s);

	return c >= first && c - first < s->ctx->umem.pool_frames ? (uint32_t)(c - first) :
								     UINT32_MAX;
}

/* The fresh frame of @s that holds the chunk leased at frame address @addr,
 * or NULL: one look-up, whatever a client sends. */
static struct xsnap_frame *lease_find(struct xsnap_sock *s, uint64_t addr)
{
	uint32_t off = pool_off(s, addr);
	struct xsnap_frame *f;

	if (off == UINT32_MAX || !s->lease_of || !s->lease_of[off])
		return NULL;
	f = &s->fresh[s->lease_of[off] - 1];
	return (f->flags & VIEW_PRIVATE) && f->addr == addr ? f : NULL;
}

/* The lease of @addr ends (released, committed or sent): forget it. */
static void lease_end(struct xsnap_sock *s, uint64_t addr)
{
	uint32_t off = pool_off(s, addr);

	if (off != UINT32_MAX && s->lease_of)
		s->lease_of[off] = 0;
}

uint32_t serve_lease(struct xsnap_sock *s, uint32_t cap, uint32_t want, uint64_t *out)
{
	struct xsnap_ctx *ctx = s->ctx;
	uint32_t n = 0, inuse;

	if (!s->lease_of) {
		s->lease_of = calloc(ctx->umem.pool_frames ? ctx->umem.pool_frames : 1,
				     sizeof(*s->lease_of));
		if (!s->lease_of)
			return 0;
	}
	pthread_mutex_lock(&ctx->engine_lock);
	engine_complete(ctx);
	inuse = ctx->umem.pool_frames - ctx->umem.npool_free[s->t->slot];
	pthread_mutex_unlock(&ctx->engine_lock);
	while (n < want && inuse < cap) {
		struct xsnap_frame *f = xsnap_frame_alloc(s, 64);
		uint32_t off;

		if (!f)
			break;
		f = handle_view(f);
		off = pool_off(s, f->addr);
		if (off == UINT32_MAX) {	/* not the tenant's pool: cannot be */
			struct xsnap_frame *h = handle_of(f);

			xsnap_release(s, &h, 1);
			break;
		}
		s->lease_of[off] = (uint16_t)(f - s->fresh + 1);
		out[n++] = f->addr;
		inuse++;
	}
	return n;
}

int serve_unlease(struct xsnap_sock *s, uint64_t addr)
{
	struct xsnap_frame *f = lease_find(s, addr);
	struct xsnap_frame *h = f ? handle_of(f) : NULL;

	if (!h)
		return -EINVAL;
	xsnap_release(s, &h, 1);
	lease_end(s, addr);
	return 0;
}

int serve_commit(struct xsnap_sock *s, uint64_t seq, uint64_t addr, uint32_t len)
{
	struct xsnap_frame *f = lease_find(s, addr);
	int v;

	if (!f || len < 14 || len > FRAME_MAX_LEN)
		return -EINVAL;
	pthread_mutex_lock(&s->ctx->engine_lock);
	v = tenant_commit_locked(s->ctx, s->t, seq, addr, len);
	if (v >= 0) {
		/* the lease's reference now belongs to the log entry */
		f->flags &= ~VIEW_PRIVATE;
		view_retire(f);
		lease_end(s, addr);
	}
	pthread_mutex_unlock(&s->ctx->engine_lock);
	return v;
}

/* --- transmit ------------------------------------------------------------------------ */

/* How serve_send() got each frame it queues. */
enum { SEND_LENT, SEND_COPY, SEND_LEASE };

/* Release what serve_send() made itself (lent handles and copies); leased
 * chunks stay the client's. */
static void send_drop(struct xsnap_sock *s, struct xsnap_frame **cp, const uint8_t *how,
		      uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++)
		if (how[i] != SEND_LEASE)
			xsnap_release(s, &cp[i], 1);
}

/*
 * A handle of @s for descriptor @d, whose bytes no client can write, or
 * NULL with *@why set (bad input) or not (no room now: send what came
 * before).  *@how says what it is.
 */
static struct xsnap_frame *send_frame(struct xsnap_sock *s, const struct serve_desc *d,
				      uint8_t *how, const char **why)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct tenant *t = s->t;
	uint64_t lo = pool_first(s) << FRAME_SHIFT;
	bool pool = pool_off(s, d->addr) != UINT32_MAX;
	struct xsnap_frame *f;
	int err = EXDEV;

	if (!pool) {
		/* a received frame of the shared view: as it is */
		pthread_mutex_lock(&ctx->engine_lock);
		f = sock_lend(s, d->seq, d->addr, d->len);
		if (!f)
			err = errno;
		pthread_mutex_unlock(&ctx->engine_lock);
		*how = SEND_LENT;
		if (f || err == ENOBUFS)
			return f;
		if (err == ENOENT) {
			*why = "neither a frame of its tenant's log nor a chunk leased to it";
			return NULL;
		}
	}
	if (pool && !t->pool_map) {
		*why = "a pool chunk with no pool";
		return NULL;
	}
	/* a leased chunk: its bytes, from the client's pool memory, into the
	 * chunk of the UMEM behind the lease, which goes out */
	f = pool ? lease_find(s, d->addr) : NULL;
	if (f) {
		f->len = d->len;
		memcpy(ctx->umem.rw + f->addr, t->pool_map + (d->addr - lo), d->len);
		*how = SEND_LEASE;
		return handle_of(f);
	}
	/* a committed version in the pool, or a private view's frame: into a
	 * fresh chunk */
	f = xsnap_frame_alloc(s, d->len);
	if (!f)
		return NULL;	/* copies in flight fill the pool */
	*how = SEND_COPY;
	pthread_mutex_lock(&ctx->engine_lock);
	if (!tenant_has_version(ctx, t, d->seq, d->addr, d->len))
		*why = "neither a frame of its tenant's log nor a chunk leased to it";
	else
		memcpy(ctx->umem.rw + handle_view(f)->addr,
		       pool ? t->pool_map + (d->addr - lo) :
			      (t->view ? t->view->ro : ctx->umem.ro) + d->addr,
		       d->len);
	pthread_mutex_unlock(&ctx->engine_lock);
	if (*why) {
		xsnap_release(s, &f, 1);
		return NULL;
	}
	return f;
}

int serve_send(struct xsnap_sock *s, const struct serve_desc *d, uint32_t n, int queue,
	       serve_allow_fn *allow, const void *arg, struct serve_send_res *res)
{
	struct xsnap_frame *cp[64];
	uint8_t how[64];
	const char *why = NULL;
	uint32_t i, nc = 0;
	int q;

	memset(res, 0, sizeof(*res));
	if (n > 64)
		return -EINVAL;
	/* each descriptor gives cp[i] (nc == i at the top of each round) */
	for (i = 0; i < n && !why; i++) {
		for (uint32_t k = 0; k < i && !why; k++)
			if (d[k].addr == d[i].addr && d[k].seq == d[i].seq)
				why = "the same frame twice";
		if (!why && (d[i].len < 14 || d[i].len > FRAME_MAX_LEN ||
			     (d[i].addr & (FRAME_SIZE - 1)) + d[i].len > FRAME_SIZE))
			why = "length 14..3840 within one chunk";
		if (why)
			break;
		cp[nc] = send_frame(s, &d[i], &how[nc], &why);
		if (!cp[nc])
			break;	/* bad (why), or no room now: send what we have */
		nc++;
	}
	if (why) {
		send_drop(s, cp, how, 0, nc);
		serve_sock_bad(s, 1);
		res->bad = i;
		res->why = why;
		return -EINVAL;
	}
	/* the transmit policy, on bytes no client can write */
	for (i = 0; allow && i < nc; i++) {
		if (allow(arg, s->ctx->umem.rw + handle_view(cp[i])->addr, d[i].len))
			continue;
		if (!res->refused++)
			res->bad = i;
	}
	if (res->refused) {
		send_drop(s, cp, how, 0, nc);
		return -EPERM;
	}
	q = nc ? xsnap_send_queue(s, cp, nc, queue) : 0;
	if (q < 0) {
		q = -errno;
		send_drop(s, cp, how, 0, nc);
		return q;
	}
	/* queued: a lease went with its frame; the rest stay the client's */
	for (i = 0; i < (uint32_t)q; i++) {
		res->copies += how[i] != SEND_LENT;
		if (how[i] == SEND_LEASE)
			lease_end(s, d[i].addr);
	}
	send_drop(s, cp, how, (uint32_t)q, nc);
	return q;
}
