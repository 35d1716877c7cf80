// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Consumer sockets: a cursor in a tenant's log, zero-copy views of the
 * frames it received, and a release watermark.
 *
 * A socket reads entries [cursor, head_pub) of its tenant's log.  Each frame
 * it hands out is a view (struct xsnap_frame) in a per-socket array indexed
 * like the log, so no allocation happens per frame and the log can move on
 * (a later commit of a new version, say) without changing what the holder
 * sees.  `held` marks the views still out; `low` is the first sequence
 * number this socket has not released.  Releases may come in any order:
 * `low` moves forward over released slots, and the engine reclaims the log
 * up to the smallest `low` of the tenant's sockets.
 *
 * Share mode: the sockets of one group split the tenant's frames by flow
 * hash (hash % members == index); a socket skips the others' entries, which
 * it never holds.  Membership changes apply to frames read afterwards.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "xsnap_internal.h"

/* Publish share layout @lay of @c from log position @from on; the previous
 * one keeps the frames before it.  Engine lock held (one writer). */
static void share_set(struct sock_ctl *c, uint32_t lay, uint64_t from)
{
	uint32_t seq = atomic_load_explicit(&c->share_seq, memory_order_relaxed);
	uint32_t prev = atomic_load_explicit(&c->share, memory_order_relaxed);

	if (prev == lay)
		return;		/* the group did not change: keep the last change */
	atomic_store_explicit(&c->share_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&c->share_old, prev, memory_order_relaxed);
	atomic_store_explicit(&c->share, lay, memory_order_relaxed);
	atomic_store_explicit(&c->share_from, from, memory_order_relaxed);
	atomic_store_explicit(&c->share_seq, seq + 2, memory_order_release);
}

/* Recompute share-group positions of @t's sockets, and whether the engine
 * must compute flow hashes for @t (ctx->share_mask); engine lock held.  A
 * group that changes changes for all its members at the same log position,
 * t->head: no frame is logged meanwhile. */
static void share_update(struct xsnap_ctx *ctx, struct tenant *t)
{
	bool any = false;

	for (unsigned int i = 0; i < t->nsocks; i++) {
		struct xsnap_sock *s = t->socks[i];
		uint32_t idx = 0, n = 0;

		if (s->mode != XSNAP_SHARE)
			continue;
		any = true;
		for (unsigned int j = 0; j < t->nsocks; j++) {
			struct xsnap_sock *o = t->socks[j];

			if (o->mode != XSNAP_SHARE || o->group != s->group)
				continue;
			if (j < i)
				idx++;
			n++;
		}
		share_set(s->ctl, idx << 16 | n, t->head);
	}
	/* a dead tenant's slot may belong to another tenant already */
	if (t->dead || ctx->tenants[t->slot] != t)
		return;
	if (any)
		ctx->share_mask |= 1u << t->slot;
	else
		ctx->share_mask &= ~(1u << t->slot);
}

struct xsnap_sock *xsnap_socket(struct xsnap_ctx *ctx, const char *tenant,
				const struct xsnap_sock_opts *opts)
{
	if (!ctx || !tenant || !OPTS_VALID(opts, xsnap_sock_opts)) {
		errno = EINVAL;
		return NULL;
	}
	return ctx->be->socket(ctx, tenant, opts);
}

struct xsnap_sock *local_socket(struct xsnap_ctx *ctx, const char *tenant,
				const struct xsnap_sock_opts *opts)
{
	struct xsnap_sock *s;
	struct tenant *t;
	int err = 0;

	if (OPTS_GET(opts, mode, XSNAP_FANOUT) > XSNAP_SHARE) {
		pr_warn("socket: unknown mode %u\n", opts->mode);
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->efd = s->nfd = s->epfd = s->ctl_fd = -1;
	s->ctx = ctx;
	s->mode = OPTS_GET(opts, mode, XSNAP_FANOUT);
	s->group = OPTS_GET(opts, group, 0);

	pthread_mutex_lock(&ctx->lock);
	t = ctx_tenant_find(ctx, tenant);
	if (!t) {
		pr_warn("socket: no tenant '%s'\n", tenant);
		err = ENOENT;
		goto fail;
	}
	s->t = t;
	s->ro = t->view ? t->view->ro : ctx->umem.ro;
	s->views = calloc(t->quota, sizeof(*s->views));
	s->held = calloc(t->quota, 1);
	s->fresh = calloc(ctx->umem.pool_frames ? ctx->umem.pool_frames : 1, sizeof(*s->fresh));
	s->nfresh = ctx->umem.pool_frames;
	if (!s->views || !s->held || !s->fresh) {
		err = ENOMEM;
		goto fail;
	}
	err = -shm_create("xsnap-sock", SOCK_CTL_SIZE, &s->ctl_fd, (void **)&s->ctl);
	if (err) {
		s->ctl = NULL;
		s->ctl_fd = -1;
		goto fail;
	}
	/* the notify pipe: the engine keeps the write end (non-blocking, its
	 * own open file description); a consumer, even in another process,
	 * gets only the read end, so it can never make the engine block */
	{
		int p[2];

		if (pipe2(p, O_NONBLOCK | O_CLOEXEC)) {
			err = errno;
			goto fail;
		}
		s->efd = p[0];
		s->nfd = p[1];
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		err = errno;
		goto fail;
	}
	struct epoll_event ev = { .events = EPOLLIN };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev)) {
		err = errno;
		goto fail;
	}
	/* inline mode: a sleeper must wake for frames nobody has moved yet,
	 * and for its device's removal (nobody else reads the watch) */
	ev.data.u32 = 2;	/* an rx ring: data.u32 0 is the notify pipe */
	for (uint32_t i = 0; ctx->engine_mode == XSNAP_ENGINE_INLINE && i < ctx->nq; i++) {
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, ctx->q[i].fd, &ev)) {
			err = errno;
			goto fail;
		}
	}
	ev.data.u32 = 3;
	if (ctx->engine_mode == XSNAP_ENGINE_INLINE && ctx->ifwatch >= 0 &&
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, ctx->ifwatch, &ev)) {
		err = errno;
		goto fail;
	}

	pthread_mutex_lock(&ctx->engine_lock);
	if (t->nsocks == MAX_SOCKS) {
		pthread_mutex_unlock(&ctx->engine_lock);
		pr_warn("socket: tenant '%s' has %d sockets already\n", t->name, MAX_SOCKS);
		err = EMFILE;
		goto fail;
	}
	/* Start at the head: the socket sees frames that arrive from now on. */
	s->cursor = t->head;
	atomic_store(&s->ctl->low, t->head);
	t->socks[t->nsocks++] = s;
	share_update(ctx, t);
	pthread_mutex_unlock(&ctx->engine_lock);
	pthread_mutex_unlock(&ctx->lock);
	return s;
fail:
	pthread_mutex_unlock(&ctx->lock);
	if (s->efd >= 0)
		close(s->efd);
	if (s->nfd >= 0)
		close(s->nfd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->ctl)
		munmap(s->ctl, SOCK_CTL_SIZE);
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	free(s->views);
	free(s->held);
	free(s->fresh);
	free(s);
	errno = err;
	return NULL;
}

/* Detach @s from its tenant and free it (engine lock held): its snapshots
 * close, its private versions and fresh frames go back to the pool, and what
 * it held in the log becomes evictable. */
void sock_destroy_locked(struct xsnap_sock *s)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct tenant *t = s->t;

	for (struct xsnap_snap **pp = &t->snaps; *pp;) {
		struct xsnap_snap *sn = *pp;

		if (sn->sock != s) {
			pp = &sn->next;
			continue;
		}
		*pp = sn->next;
		free(sn->views);
		free(sn);
	}
	for (uint32_t i = 0; i < t->quota; i++)
		if (s->held[i] && (s->views[i].flags & VIEW_PRIVATE))
			umem_put(&ctx->umem, s->views[i].addr);
	for (uint32_t i = 0; i < ctx->umem.pool_frames; i++)
		if (s->fresh[i].flags & VIEW_PRIVATE)
			umem_put(&ctx->umem, s->fresh[i].addr);
	for (unsigned int i = 0; i < t->nsocks; i++) {
		if (t->socks[i] != s)
			continue;
		t->socks[i] = t->socks[--t->nsocks];
		break;
	}
	share_update(ctx, t);
	t->closed_delivered += atomic_load_explicit(&s->ctl->delivered, memory_order_relaxed);
	t->closed_bad_releases += atomic_load_explicit(&s->ctl->bad_releases, memory_order_relaxed);
	t->closed_skipped += atomic_load_explicit(&s->ctl->skipped, memory_order_relaxed);
	t->closed_bad_csum += atomic_load_explicit(&s->ctl->bad_csum, memory_order_relaxed);
	t->closed_fragments += atomic_load_explicit(&s->ctl->fragments, memory_order_relaxed);
	engine_reclaim(ctx, t);
	close(s->efd);
	close(s->nfd);
	close(s->epfd);
	munmap(s->ctl, SOCK_CTL_SIZE);
	close(s->ctl_fd);
	free(s->views);
	free(s->held);
	free(s->fresh);
	free(s->lease_of);
	free(s);
	if (t->dead)
		tenant_free_locked(ctx, t);
}

void xsnap_sock_close(struct xsnap_sock *s)
{
	if (s)
		s->ctx->be->sock_close(s);
}

void local_sock_close(struct xsnap_sock *s)
{
	struct xsnap_ctx *ctx = s->ctx;

	/* the control lock too: freeing a deleted tenant updates quota_sum */
	pthread_mutex_lock(&ctx->lock);
	pthread_mutex_lock(&ctx->engine_lock);
	sock_destroy_locked(s);
	engine_refill(ctx);
	pthread_mutex_unlock(&ctx->engine_lock);
	pthread_mutex_unlock(&ctx->lock);
}

int xsnap_fd(struct xsnap_sock *s)
{
	if (!s)
		return err_ret(EINVAL);
	return s->epfd;
}

/* Move `low` over released slots and publish it to the engine. */
void advance_low(struct xsnap_sock *s)
{
	uint32_t mask = s->t->quota - 1;
	uint64_t low = atomic_load_explicit(&s->ctl->low, memory_order_relaxed);
	uint64_t start = low;

	while (low < s->cursor && !s->held[low & mask])
		low++;
	if (low != start)
		/* the views we released are no longer read after this store */
		atomic_store_explicit(&s->ctl->low, low, memory_order_release);
}

static unsigned int take(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n)
{
	struct tenant *t = s->t;
	uint32_t mask = t->quota - 1;
	/* pairs with the engine's release store: entries below head are written */
	uint64_t head = atomic_load_explicit(&t->shm->head_pub, memory_order_acquire);
	uint32_t cur = 0, old = 0, a, b;
	uint64_t from = 0;
	const uint8_t *ro = s->ro;
	unsigned int got = 0;

	if (s->mode == XSNAP_SHARE) {
		do {
			a = atomic_load_explicit(&s->ctl->share_seq, memory_order_acquire);
			cur = atomic_load_explicit(&s->ctl->share, memory_order_relaxed);
			old = atomic_load_explicit(&s->ctl->share_old, memory_order_relaxed);
			from = atomic_load_explicit(&s->ctl->share_from, memory_order_relaxed);
			atomic_thread_fence(memory_order_acquire);
			b = atomic_load_explicit(&s->ctl->share_seq, memory_order_relaxed);
		} while (a != b || (a & 1));
		if (!(cur & 0xffff))
			cur = 1;	/* no layout yet: all of it */
	}
	while (s->cursor < head && got < n) {
		uint64_t seq = s->cursor++;
		struct xsnap_frame *f;
		struct log_ent e;

		log_read(&t->log[seq & mask], &e);
		if (s->mode == XSNAP_SHARE) {
			uint32_t lay = seq >= from ? cur : old;

			/* members = 0: not a member then */
			if (!(lay & 0xffff) || e.flow_hash % (lay & 0xffff) != lay >> 16)
				continue;
		}
		f = &s->views[seq & mask];
		f->data = ro + e.addr;
		/* another CPU wrote the frame: ask for its first line now, so
		 * the batch's misses overlap before the caller reads headers */
		__builtin_prefetch(f->data);
		f->seq = e.seq;
		f->rx_ns = e.rx_ns;
		f->addr = e.addr;
		f->len = e.len;
		f->version = e.version;
		f->queue = e.queue;
		f->flags = VIEW_LOG;
		f->gen++;
		s->held[seq & mask] = 1;
		v[got++] = handle_of(f);
	}
	advance_low(s);
	atomic_fetch_add_explicit(&s->ctl->delivered, got, memory_order_relaxed);
	return got;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Empty the notify pipe (non-blocking read end). */
static void notify_drain(struct xsnap_sock *s)
{
	char buf[64];

	while (read(s->efd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		;
}

/* A client of xsnapd sleeping on the wake word looks at its connection this
 * often: a daemon that was killed wakes nobody. */
#define CLIENT_LIVENESS_MS 500

/*
 * Sleep on the tenant's wake word until the engine publishes (or changes
 * the log's state), for at most @ns (< 0: no limit).  The sleep is
 * announced in `waiting` first and the head looked at once more, so a
 * publish between our last look and the futex wait is never missed: either
 * we see its head, or the engine sees WAIT_FUTEX and wakes us (and the
 * changed word makes a late futex wait return at once).
 * Return: 0 woken or timed out, -EINTR.
 */
static int futex_sleep(struct xsnap_sock *s, int64_t ns)
{
	struct log_shm *shm = s->t->shm;
	uint32_t w = atomic_load_explicit(&shm->wake, memory_order_acquire);
	struct timespec ts, *tsp = NULL;
	int r = 0;

	atomic_fetch_or(&s->ctl->waiting, WAIT_FUTEX);
	if (atomic_load(&shm->head_pub) > s->cursor || atomic_load(&shm->state)) {
		atomic_fetch_and(&s->ctl->waiting, ~(uint32_t)WAIT_FUTEX);
		return 0;
	}
	if (ns >= 0) {
		ts = (struct timespec){ ns / 1000000000, ns % 1000000000 };
		tsp = &ts;
	}
	/* shared (not FUTEX_PRIVATE): the word may be in xsnapd's memfd, mapped
	 * read-only here, and the kernel keys it by the page, not the address */
	if (syscall(SYS_futex, &shm->wake, FUTEX_WAIT, w, tsp, NULL, 0) && errno == EINTR)
		r = -EINTR;
	atomic_fetch_and(&s->ctl->waiting, ~(uint32_t)WAIT_FUTEX);
	return r;
}

/*
 * Inline mode, no load: sleep on the rx rings and the notify pipe, so the
 * first frame wakes us to run the engine.  Return: like epoll_wait().
 */
static int ring_sleep(struct xsnap_sock *s, int wait_ms)
{
	struct epoll_event ev[4];
	int r;

	atomic_fetch_or(&s->ctl->waiting, WAIT_FD);
	if (atomic_load(&s->t->shm->head_pub) > s->cursor) {
		atomic_fetch_and(&s->ctl->waiting, ~(uint32_t)WAIT_FD);
		return 1;
	}
	r = epoll_wait(s->epfd, ev, 4, wait_ms);
	atomic_fetch_and(&s->ctl->waiting, ~(uint32_t)WAIT_FD);
	s->armed = false;
	for (int i = 0; i < r; i++)
		if (ev[i].data.u32 == 0)
			notify_drain(s);
	return r;
}

int xsnap_recv(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n, int timeout_ms)
{
	struct xsnap_ctx *ctx;
	int64_t deadline = 0;
	bool block = false, helped = false, inl, remote;

	if (!s || !v || !n)
		return err_ret(EINVAL);
	ctx = s->ctx;
	remote = ctx_remote(ctx);
	inl = !remote && ctx->engine_mode == XSNAP_ENGINE_INLINE;
	if (timeout_ms > 0)
		deadline = now_ms() + timeout_ms;
	/* The caller is back: the arming by its last call that found nothing
	 * has served (xsnap_fd(): the next xsnap_recv() resets it).  Take the
	 * bit back before any engine run, so that no engine writes the pipe
	 * for a receiver that is looking already: a consumer that polls with
	 * timeout 0 would otherwise pay a write and a read per batch.  If the
	 * engine took the bit first, its write is (or will be) in the pipe. */
	if (s->armed) {
		if (!(atomic_fetch_and(&s->ctl->waiting, ~(uint32_t)WAIT_FD) & WAIT_FD))
			notify_drain(s);
		s->armed = false;
	}
	for (;;) {
		unsigned int got;
		uint32_t state;
		int64_t wait_ns;
		int r;

		/* Inline mode: whoever receives, moves frames.  After a wake-up
		 * we queue for the lock instead of spinning on it. */
		if (inl && (block ? !pthread_mutex_lock(&ctx->engine_lock) :
				    !pthread_mutex_trylock(&ctx->engine_lock))) {
			engine_run(ctx, NULL);
			pthread_mutex_unlock(&ctx->engine_lock);
			ctx_reap(ctx);
		}
		block = false;
		/* revoked by xsnapd (tenant deleted): what the log still holds
		 * is no longer this socket's to read */
		if (remote && (atomic_load_explicit(&s->t->shm->state, memory_order_acquire) &
			       LOG_REVOKED))
			return err_ret(ENOENT);
		if (s->armed && !(atomic_load(&s->ctl->waiting) & WAIT_FD)) {
			/* the engine wrote the pipe for the xsnap_fd() arming
			 * below: empty it, or poll() would spin */
			notify_drain(s);
			s->armed = false;
		}
		got = take(s, v, n);
		if (got)
			return (int)got;
		/* Thread mode, caught up: if the engine thread is not moving
		 * frames right now, move what has arrived ourselves instead of
		 * sleeping until it wakes (on a CPU the two share, that saves
		 * a switch to it and back per batch). */
		if (!inl && !remote && !helped && !pthread_mutex_trylock(&ctx->engine_lock)) {
			unsigned int moved = engine_help(ctx);

			pthread_mutex_unlock(&ctx->engine_lock);
			ctx_reap(ctx);
			helped = true;	/* once per wait: then sleep */
			if (moved)
				continue;
		}
		/* inline: nobody else reads the device's removal */
		if (inl)
			ctx_watch_if(ctx);
		state = atomic_load_explicit(&s->t->shm->state, memory_order_acquire);
		if (state & LOG_TENANT_DEAD)
			return err_ret(ENOENT);	/* tenant deleted, its log drained */
		if (state & LOG_IF_DEAD)
			return err_ret(ENETDOWN);
		if (timeout_ms == 0) {
			/* a client's xsnap_fd() stays readable once the daemon
			 * is gone: say so (one poll, only when nothing came) */
			if (remote && client_conn_dead(ctx))
				return err_ret(ECONNRESET);
			/* Caught up: arm xsnap_fd(), so that the next frames
			 * make it readable even if they were moved by another
			 * socket's engine run (or the daemon's); then look
			 * once more, as before a sleep. */
			if (!s->armed) {
				s->armed = true;
				atomic_fetch_or(&s->ctl->waiting, WAIT_FD);
				if (atomic_load(&s->t->shm->head_pub) > s->cursor)
					continue;
			}
			return 0;
		}
		wait_ns = -1;
		if (timeout_ms > 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return 0;
			wait_ns = left * 1000000;
		}
		if (inl && !atomic_load_explicit(&ctx->paced, memory_order_relaxed)) {
			r = ring_sleep(s, wait_ns < 0 ? -1 : (int)(wait_ns / 1000000) + 1);
			if (r < 0 && errno == EINTR)
				return err_ret(EINTR);
			block = r > 0;
			continue;
		}
		/* Inline under load: sleep on the word for at most a pacing
		 * interval (a burst of the rx rings wakes nobody), then run the
		 * engine.  A client looks at its connection now and then. */
		if (inl) {
			int64_t iv = atomic_load_explicit(&ctx->pace_ns, memory_order_relaxed);

			if (wait_ns < 0 || wait_ns > iv)
				wait_ns = iv;
		}
		if (remote && (wait_ns < 0 || wait_ns > CLIENT_LIVENESS_MS * 1000000ll))
			wait_ns = CLIENT_LIVENESS_MS * 1000000ll;
		r = futex_sleep(s, wait_ns);
		if (r)
			return err_ret(-r);
		helped = false;
		if (remote && atomic_load(&s->t->shm->head_pub) <= s->cursor && client_conn_dead(ctx))
			return err_ret(ECONNRESET);
		block = inl;
	}
}

/* The error for a handle sock_view_kind() refused in @call: ESTALE for a
 * stale one, EINVAL for anything else; said once on stderr. */
int sock_handle_err(const struct xsnap_sock *s, int kind, const char *call)
{
	if (kind == VIEW_STALE) {
		pr_warn("tenant %s: %s: stale frame handle (released, sent or reused)\n",
			s->t->name, call);
		return ESTALE;
	}
	pr_warn("tenant %s: %s: not a frame this socket holds\n", s->t->name, call);
	return EINVAL;
}

void local_chunk_put(struct xsnap_sock *s, uint64_t addr)
{
	/* the pool's free stack is engine state */
	pthread_mutex_lock(&s->ctx->engine_lock);
	umem_put(&s->ctx->umem, addr);
	pthread_mutex_unlock(&s->ctx->engine_lock);
}

void xsnap_release(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n)
{
	if (!s || !v)
		return;
	for (unsigned int i = 0; i < n; i++) {
		size_t idx;
		int kind = sock_view_kind(s, v[i], &idx);
		struct xsnap_frame *f = handle_view(v[i]);

		if (kind <= 0) {
			s->ctl->bad_releases++;
			continue;
		}
		/* a private version or fresh frame returns its pool chunk */
		if (f->flags & VIEW_PRIVATE) {
			s->ctx->be->chunk_put(s, f->addr);
			f->flags &= ~VIEW_PRIVATE;
		}
		if (kind == VIEW_IS_LOG)
			s->held[idx] = 0;
		view_retire(f);
	}
	advance_low(s);
}

/* What the accessors read through a stale handle: nothing. */
static const struct xsnap_frame stale_view;

/* The view behind handle @h, or an empty one if @h is stale. */
static inline const struct xsnap_frame *frame_of(const struct xsnap_frame *h)
{
	return handle_current(h) ? handle_view(h) : &stale_view;
}

const void *xsnap_frame_data(const struct xsnap_frame *f)
{
	return frame_of(f)->data;
}

uint32_t xsnap_frame_len(const struct xsnap_frame *f)
{
	return frame_of(f)->len;
}

uint64_t xsnap_frame_seq(const struct xsnap_frame *f)
{
	return frame_of(f)->seq;
}

uint64_t xsnap_frame_time_ns(const struct xsnap_frame *f)
{
	return frame_of(f)->rx_ns;
}

uint32_t xsnap_frame_version(const struct xsnap_frame *f)
{
	return frame_of(f)->version;
}

uint32_t xsnap_frame_queue(const struct xsnap_frame *f)
{
	return frame_of(f)->queue;
}

uint64_t xsnap_frame_id(const struct xsnap_frame *f)
{
	return frame_of(f)->addr >> FRAME_SHIFT;
}

const void *xsnap_frame_meta(const struct xsnap_frame *f)
{
	const uint8_t *d = frame_of(f)->data;

	return d ? d - sizeof(struct xsnap_meta) : NULL;
}

/* What xsnap_recvfrom() makes of a frame (udp_view()). */
enum {
	UDP_OK = 0,
	UDP_NOT,	/* not a well-formed UDP datagram */
	UDP_FRAGMENT,	/* an IP fragment: part of a datagram, never returned */
	UDP_BAD_CSUM,	/* a checksum that does not verify, or IPv6's forbidden 0 */
	UDP_NOT_MINE,	/* not addressed to the socket (struct udp_match) */
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Is the frame (@d, @len) whose IP header is at @l3 (family @fam) an IP
 * fragment?  IPv4: MF or an offset.  IPv6: a Fragment header with M or an
 * offset in the extension chain (an atomic fragment, offset 0 and M clear,
 * is a whole datagram).  The chain is walked as the parser walks it, at
 * most XSNAP_MAX_IPV6_EXT + 1 headers, within the frame.
 */
static bool ip_fragment(const uint8_t *d, uint32_t len, uint32_t l3, uint8_t fam)
{
	uint32_t pos = l3 + 40;
	uint8_t nh;

	if (fam == 4)
		return l3 + 20 <= len && (rd16(d + l3 + 6) & 0x3fff);
	if (fam != 6 || l3 + 40 > len)
		return false;
	nh = d[l3 + 6];
	for (int i = 0; i <= XSNAP_MAX_IPV6_EXT && pos + 8 <= len; i++) {
		if (nh == 44)
			return rd16(d + pos + 2) & 0xfff9;	/* offset or M */
		if (nh != 0 && nh != 43 && nh != 60)
			return false;
		nh = d[pos];
		pos += ((uint32_t)d[pos + 1] + 1) * 8;
	}
	return false;
}

static uint32_t csum_fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * Does the UDP checksum of the datagram at @u (@ulen bytes, checked to be
 * in the frame) verify against the pseudo-header of the IP header at @ip?
 *
 * One pattern is taken for "not computed" rather than wrong: a checksum
 * field holding just the pseudo-header's sum.  That is what a sender using
 * checksum offload leaves for the device to complete (CHECKSUM_PARTIAL),
 * and over veth (containers, this project's lab) nothing completes it: the
 * kernel trusts the skb's flag, but AF_XDP hands over the bytes alone.  A
 * wire frame carries the completed sum; a corrupted one matches this
 * pattern only by chance (1 in 65535).
 */
static bool udp_csum_ok(const uint8_t *ip, uint8_t fam, const uint8_t *u, uint32_t ulen)
{
	const uint8_t *addrs = fam == 4 ? ip + 12 : ip + 8;
	uint32_t alen = fam == 4 ? 8 : 32, sum = 17 + ulen;
	uint16_t check = rd16(u + 6);

	if (!check)
		return fam == 4;	/* IPv4: no checksum; IPv6 must have one (RFC 8200) */
	for (uint32_t i = 0; i < alen; i += 2)
		sum += rd16(addrs + i);
	if (check == csum_fold16(sum))
		return true;	/* offloaded and never completed: see above */
	for (uint32_t i = 0; i + 1 < ulen; i += 2)
		sum += rd16(u + i);
	if (ulen & 1)
		sum += (uint32_t)u[ulen - 1] << 8;
	return csum_fold16(sum) == 0xffff;
}

/* Is @a (@n bytes: 4 for IPv4, 16 for IPv6) the address @m (IPv6 or
 * v4-mapped) names? */
static bool addr_is(const uint8_t *m, const uint8_t *a, size_t n)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (n == 4)
		return !memcmp(m, v4mapped, 12) && !memcmp(m + 12, a, 4);
	return !memcmp(m, a, 16);
}

/*
 * Does the socket of @m take the datagram whose IP header is at @ip
 * (family @fam) and UDP header at @u?  As the kernel's lookup: the port,
 * the family (an IPv6 socket takes IPv4 unless IPV6_V6ONLY, a v4-mapped
 * address takes IPv4 only), the destination address unless bound to a
 * wildcard, and a connected socket's peer.
 */
static bool udp_mine(const struct udp_match *m, uint8_t fam, const uint8_t *ip, const uint8_t *u)
{
	size_t alen = fam == 4 ? 4 : 16;
	const uint8_t *sa = fam == 4 ? ip + 12 : ip + 8, *da = fam == 4 ? ip + 16 : ip + 24;

	if (!(m->fams & (fam == 4 ? UDP_MATCH_V4 : UDP_MATCH_V6)) || memcmp(u + 2, &m->port, 2))
		return false;
	if (m->has_laddr && !addr_is(m->laddr, da, alen))
		return false;
	return !m->connected || (!memcmp(u, &m->rport, 2) && addr_is(m->raddr, sa, alen));
}

/*
 * The UDP payload and source of @f, from the metadata's offsets: UDP_OK,
 * or why not.  A datagram is returned only whole (no IP fragment: they are
 * not reassembled) and with a checksum that verifies, as recvfrom(2) does,
 * and, with @match, only one addressed to that socket (looked at before
 * the checksum: a datagram for another socket costs no pass over it).
 */
static int udp_view(const struct xsnap_frame *h, const struct udp_match *match,
		    const uint8_t **pl, size_t *pllen, struct sockaddr_storage *src,
		    socklen_t *srclen, struct udp_meta *um)
{
	const struct xsnap_frame *f = handle_view(h);
	const struct xsnap_meta *m = (const void *)(f->data - sizeof(struct xsnap_meta));
	const uint8_t *d = f->data;
	uint16_t ulen, sport;

	if (m->magic != XSNAP_META_MAGIC || (m->l3_proto != 4 && m->l3_proto != 6))
		return UDP_NOT;
	/* before the L4 test: a later fragment has no L4 header at all */
	if (ip_fragment(d, f->len, m->l3_off, m->l3_proto))
		return UDP_FRAGMENT;
	if (m->l4_proto != IPPROTO_UDP || !m->l4_off || (uint32_t)m->l4_off + 8 > f->len)
		return UDP_NOT;
	ulen = rd16(d + m->l4_off + 4);
	if (ulen < 8 || ulen > f->len - m->l4_off)
		return UDP_NOT;
	if (match && !udp_mine(match, m->l3_proto, d + m->l3_off, d + m->l4_off))
		return UDP_NOT_MINE;
	if (!udp_csum_ok(d + m->l3_off, m->l3_proto, d + m->l4_off, ulen))
		return UDP_BAD_CSUM;
	*pl = d + m->l4_off + 8;
	*pllen = ulen - 8u;
	memcpy(&sport, d + m->l4_off, 2);	/* network order, as sin_port wants */
	memset(src, 0, sizeof(*src));
	if (m->l3_proto == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)src;

		in->sin_family = AF_INET;
		in->sin_port = sport;
		memcpy(&in->sin_addr, d + m->l3_off + 12, 4);
		*srclen = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)src;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = sport;
		memcpy(&in6->sin6_addr, d + m->l3_off + 8, 16);
		*srclen = sizeof(*in6);
	}
	if (um) {
		memset(&um->dst, 0, sizeof(um->dst));
		if (m->l3_proto == 4) {
			struct sockaddr_in *in = (struct sockaddr_in *)&um->dst;

			in->sin_family = AF_INET;
			memcpy(&in->sin_port, d + m->l4_off + 2, 2);
			memcpy(&in->sin_addr, d + m->l3_off + 16, 4);
			um->dstlen = sizeof(*in);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&um->dst;

			in6->sin6_family = AF_INET6;
			memcpy(&in6->sin6_port, d + m->l4_off + 2, 2);
			memcpy(&in6->sin6_addr, d + m->l3_off + 24, 16);
			um->dstlen = sizeof(*in6);
		}
		um->rx_ns = f->rx_ns;
	}
	return UDP_OK;
}

ssize_t sock_recv_udp(struct xsnap_sock *s, void *buf, size_t len, int flags, int timeout_ms,
		      const struct udp_match *match, struct sockaddr *src, socklen_t *srclen,
		      struct udp_meta *um)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;

	if (!s || (!buf && len) || (src && !srclen) || (flags & ~MSG_TRUNC))
		return err_ret(EINVAL);
	for (;;) {
		struct sockaddr_storage ss;
		struct xsnap_frame *f;
		const uint8_t *pl;
		size_t pllen, n;
		socklen_t sl;
		int r = xsnap_recv(s, &f, 1, timeout_ms), why;

		if (r < 0)
			return r;
		if (r == 0)
			return err_ret(EAGAIN);
		why = udp_view(f, match, &pl, &pllen, &ss, &sl, um);
		if (why != UDP_OK) {
			xsnap_release(s, &f, 1);
			s->ctl->skipped++;
			if (why == UDP_FRAGMENT)
				s->ctl->fragments++;
			else if (why == UDP_BAD_CSUM)
				s->ctl->bad_csum++;
			/* what is left of the time limit, for the next frame */
			if (timeout_ms > 0 && (timeout_ms = (int)(deadline - now_ms())) <= 0)
				timeout_ms = 0;
			continue;
		}
		n = pllen < len ? pllen : len;
		if (n)
			memcpy(buf, pl, n);
		if (src) {
			memcpy(src, &ss, *srclen < sl ? *srclen : sl);
			*srclen = sl;
		}
		xsnap_release(s, &f, 1);
		return (ssize_t)((flags & MSG_TRUNC) ? pllen : n);
	}
}

ssize_t xsnap_recvfrom(struct xsnap_sock *s, void *buf, size_t len, int flags,
		       struct sockaddr *src, socklen_t *srclen)
{
	if (flags & ~(MSG_DONTWAIT | MSG_TRUNC))
		return err_ret(EINVAL);
	return sock_recv_udp(s, buf, len, flags & MSG_TRUNC, (flags & MSG_DONTWAIT) ? 0 : -1,
			     NULL, src, srclen, NULL);
}

uint64_t sock_rx_mark(struct xsnap_sock *s)
{
	if (s->armed && !(atomic_load(&s->ctl->waiting) & WAIT_FD)) {
		notify_drain(s);	/* written for the last arming */
		s->armed = false;
	}
	if (!s->armed) {
		s->armed = true;
		atomic_fetch_or(&s->ctl->waiting, WAIT_FD);
	}
	/* after the arming: a publish we do not see here writes the pipe */
	return atomic_load_explicit(&s->t->shm->head_pub, memory_order_acquire);
}

uint64_t sock_rx_head(const struct xsnap_sock *s)
{
	return atomic_load_explicit(&s->t->shm->head_pub, memory_order_acquire);
}

const char *sock_ifname(const struct xsnap_sock *s)
{
	return s->ifname[0] ? s->ifname : s->ctx->ifname;
}
