// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Connected contexts: xsnap_connect() and the client side of sockets whose
 * engine runs in xsnapd.
 *
 * A client socket is an ordinary struct xsnap_sock whose tenant is a local
 * stand-in: its log points into the daemon's log region mapped read-only,
 * its control page (low, waiting, share, counters) is the daemon's page
 * mapped read-write, and its frames are read from its tenant's view mapped
 * read-only: the receive region (shared view) or the tenant's private
 * region, whose addresses mean the same thing on both sides.  Each socket
 * maps its own view, so one connected context can hold sockets of tenants
 * with different views and of several interfaces.  recv,
 * release and the frame accessors are therefore the in-process code,
 * unchanged: no syscall per frame, no message per release.  Control
 * operations (tenants, rules, stats, opening and closing sockets) are
 * request/reply messages (proto.h), serialised by ctx->lock.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "xsnap_internal.h"

#define CLIENT_MAX_SOCKS 256

struct client {
	int fd;			/* SOCK_SEQPACKET connection to xsnapd */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct xsnap_sock *socks[CLIENT_MAX_SOCKS];
	uint8_t req[XP_MAX_MSG];
	uint8_t rep[XP_MAX_MSG];
};

/* Send @req, wait for the reply into @rep.  Caller holds ctx->lock.  A
 * NULL @what reports nothing. */
static int call(struct xsnap_ctx *ctx, struct xp_msg *req, struct xp_msg *rep, int *fds,
		unsigned int *nfds, const char *what)
{
	struct client *cl = ctx->cl;
	char msg[512] = "";
	int r;

	r = xp_call(cl->fd, req, cl->rep, sizeof(cl->rep), rep, fds, nfds, msg, sizeof(msg));
	if (r < 0 && !what) {
		pr_debug("request %u: %s\n", req->hdr.op, *msg ? msg : strerror(-r));
	} else if (r < 0) {
		if (*msg)
			pr_warn("%s: %s\n", what, msg);
		else if (r == -ECONNRESET || r == -EPIPE)
			pr_warn("%s: xsnapd closed the connection (%s)\n", what, cl->path);
		else
			pr_warn("%s: %s\n", what, strerror(-r));
	}
	return r;
}

struct xsnap_ctx *xsnap_connect(const char *path)
{
	struct xsnap_ctx *ctx;
	struct client *cl;
	char msg[512];
	int err;

	path = xp_socket_path(path);
	ctx = calloc(1, sizeof(*ctx));
	cl = calloc(1, sizeof(*cl));
	if (!ctx || !cl) {
		free(ctx);
		free(cl);
		errno = ENOMEM;
		return NULL;
	}
	snprintf(cl->path, sizeof(cl->path), "%s", path);
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_mutex_init(&ctx->engine_lock, NULL);
	ctx->cl = cl;
	ctx->be = &backend_client;
	ctx->next_rule_id = 1;
	cl->fd = xp_connect(path, NULL, cl->rep, sizeof(cl->rep), msg, sizeof(msg));
	if (cl->fd < 0) {
		err = -cl->fd;
		pr_warn("%s\n", msg);
		goto fail;
	}
	return ctx;
fail:
	if (cl->fd >= 0)
		close(cl->fd);
	pthread_mutex_destroy(&ctx->lock);
	pthread_mutex_destroy(&ctx->engine_lock);
	free(cl);
	free(ctx);
	errno = err;
	return NULL;
}

bool client_conn_dead(struct xsnap_ctx *ctx)
{
	struct pollfd p = { .fd = ctx->cl->fd, .events = POLLIN };
	bool dead = false;
	char c;

	pthread_mutex_lock(&ctx->lock);
	if (poll(&p, 1, 0) > 0) {
		/* no request is in flight (we hold the lock): anything
		 * readable is the end of the connection */
		dead = (p.revents & (POLLHUP | POLLERR)) ||
		       recv(ctx->cl->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
	}
	pthread_mutex_unlock(&ctx->lock);
	return dead;
}

static void send_close(struct xsnap_ctx *ctx, const uint32_t handle[2])
{
	struct xp_msg req, rep;

	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_SOCK_CLOSE, 0);
	xp_put_u32(&req, handle[0]);
	xp_put_u32(&req, handle[1]);
	/* quiet: after the daemon or the interface went away, the handle is
	 * stale or the connection closed, and there is nothing left to free */
	call(ctx, &req, &rep, NULL, NULL, NULL);
}

static void sock_free(struct xsnap_sock *s)
{
	if (s->t) {
		/* snapshots close with their socket (the daemon frees its side) */
		while (s->t->snaps) {
			struct xsnap_snap *sn = s->t->snaps;

			s->t->snaps = sn->next;
			free(sn->views);
			free(sn);
		}
		if (s->t->shm)
			munmap(s->t->shm, s->t->shm_len);
		free(s->t);
	}
	if (s->ctl)
		munmap(s->ctl, SOCK_CTL_SIZE);
	if (s->ro)
		munmap((void *)s->ro, s->ro_len);
	if (s->pool_rw)
		munmap(s->pool_rw, s->pool_len);
	free(s->stash);
	if (s->efd >= 0)
		close(s->efd);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s->views);
	free(s->held);
	free(s->fresh);
	free(s);
}

static struct xsnap_sock *client_socket(struct xsnap_ctx *ctx, const char *tenant,
					const struct xsnap_sock_opts *opts)
{
	struct client *cl = ctx->cl;
	uint32_t slot, quota, nframes, pool_frames, npools, rfirst, rframes, mode;
	uint32_t idx = CLIENT_MAX_SOCKS;
	char iface[IF_NAMESIZE];
	uint64_t cursor, log_len;
	struct xsnap_sock *s = NULL;
	struct xp_msg req, rep;
	int fds[XP_MAX_FDS];
	unsigned int nfds = 0;
	const char *want_if = getenv("XSNAP_IFACE");
	int err;

	mode = OPTS_GET(opts, mode, XSNAP_FANOUT);
	if (mode > XSNAP_SHARE || strlen(tenant) >= TENANT_NAME_MAX) {
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&ctx->lock);
	for (idx = 0; idx < CLIENT_MAX_SOCKS && cl->socks[idx]; idx++)
		;
	if (idx == CLIENT_MAX_SOCKS) {
		pthread_mutex_unlock(&ctx->lock);
		errno = EMFILE;
		return NULL;
	}
	xp_begin(&req, cl->req, sizeof(cl->req), XP_SOCKET, 0);
	xp_put_str(&req, tenant);
	xp_put_str(&req, want_if ? want_if : "");
	xp_put_u32(&req, mode);
	xp_put_u32(&req, OPTS_GET(opts, group, 0));
	err = call(ctx, &req, &rep, fds, &nfds, "socket");
	if (err) {
		pthread_mutex_unlock(&ctx->lock);
		errno = -err;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto fail;
	}
	s->efd = s->nfd = s->epfd = s->ctl_fd = -1;
	s->ctx = ctx;
	s->mode = mode;
	s->group = OPTS_GET(opts, group, 0);
	s->handle[0] = xp_get_u32(&rep);
	s->handle[1] = xp_get_u32(&rep);
	slot = xp_get_u32(&rep);
	quota = xp_get_u32(&rep);
	nframes = xp_get_u32(&rep);
	pool_frames = xp_get_u32(&rep);
	npools = xp_get_u32(&rep);
	rfirst = xp_get_u32(&rep);
	rframes = xp_get_u32(&rep);
	cursor = xp_get_u64(&rep);
	log_len = xp_get_u64(&rep);
	xp_get_str(&rep, iface, sizeof(iface), false);
	if (xp_done(&rep) || nfds != XP_SOCKET_NFDS || !quota || (quota & (quota - 1)) ||
	    quota > (1u << 20) || npools > XSNAP_MAX_TENANTS || slot >= npools || !nframes ||
	    nframes > (1u << 20) || !pool_frames || pool_frames > (1u << 16) || !rframes ||
	    rfirst > nframes || rframes > nframes - rfirst ||
	    log_len != LOG_SHM_HDR + (uint64_t)quota * sizeof(struct log_ent)) {
		pr_warn("socket: malformed reply from xsnapd\n");
		err = -EPROTO;
		goto fail;
	}
	/* the tenant's view, read-only: its private region, or the part of
	 * the receive region its queue group owns (all of it without
	 * groups), where the daemon's addresses put it in a range laid out
	 * like the UMEM; and its tenant's pool at the slot's pool offset, so
	 * that a version committed from it reads like any frame.  Each
	 * socket maps its own. */
	s->ro_len = ((size_t)nframes + (size_t)npools * pool_frames) * FRAME_SIZE;
	s->pool_base = ((uint64_t)nframes + (uint64_t)slot * pool_frames) << FRAME_SHIFT;
	s->pool_len = (size_t)pool_frames * FRAME_SIZE;
	/* 2 MiB aligned: the region may be a hugetlb file (umem.c) */
	s->ro = umem_reserve(s->ro_len);
	if (!s->ro) {
		err = -errno;
		goto fail;
	}
	if (mmap((uint8_t *)s->ro + (size_t)rfirst * FRAME_SIZE, (size_t)rframes * FRAME_SIZE,
		 PROT_READ, MAP_SHARED | MAP_FIXED, fds[XP_FD_RX], 0) == MAP_FAILED ||
	    mmap((uint8_t *)s->ro + s->pool_base, s->pool_len, PROT_READ, MAP_SHARED | MAP_FIXED,
		 fds[XP_FD_POOL], 0) == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	/* where copy-on-write writes: the same pool, writable */
	s->pool_rw = mmap(NULL, s->pool_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[XP_FD_POOL], 0);
	if (s->pool_rw == MAP_FAILED) {
		s->pool_rw = NULL;
		err = -errno;
		goto fail;
	}
	s->stash = calloc(2 * XP_POOL_BATCH, sizeof(*s->stash));
	s->t = calloc(1, sizeof(*s->t));
	s->views = calloc(quota, sizeof(*s->views));
	s->held = calloc(quota, 1);
	s->fresh = calloc(pool_frames ? pool_frames : 1, sizeof(*s->fresh));
	s->nfresh = pool_frames;
	if (!s->t || !s->views || !s->held || !s->fresh || !s->stash) {
		err = -ENOMEM;
		goto fail;
	}
	snprintf(s->t->name, sizeof(s->t->name), "%s", tenant);
	snprintf(s->ifname, sizeof(s->ifname), "%s", iface);
	s->t->slot = slot;
	s->t->quota = quota;
	s->t->shm_fd = -1;
	s->t->pool_fd = -1;
	s->t->shm_len = log_len;
	s->t->shm = mmap(NULL, log_len, PROT_READ, MAP_SHARED, fds[XP_FD_LOG], 0);
	if (s->t->shm == MAP_FAILED) {
		s->t->shm = NULL;
		err = -errno;
		goto fail;
	}
	s->t->log = s->t->shm->ent;
	s->ctl = mmap(NULL, SOCK_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[XP_FD_CTL], 0);
	if (s->ctl == MAP_FAILED) {
		s->ctl = NULL;
		err = -errno;
		goto fail;
	}
	/* the read end of the socket's notify pipe (the daemon keeps the
	 * write end to itself) */
	s->efd = fds[XP_FD_EVENT];
	fds[XP_FD_EVENT] = -1;
	if (fcntl(s->efd, F_SETFL, O_NONBLOCK)) {
		err = -errno;
		goto fail;
	}
	s->cursor = cursor;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		err = -errno;
		goto fail;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };

		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev)) {
			err = -errno;
			goto fail;
		}
		ev.data.u32 = 1;	/* the daemon connection: EOF means it died */
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, cl->fd, &ev)) {
			err = -errno;
			goto fail;
		}
	}
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	cl->socks[idx] = s;
	pthread_mutex_unlock(&ctx->lock);
	return s;
fail:
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (s) {
		send_close(ctx, s->handle);
		sock_free(s);
	}
	pthread_mutex_unlock(&ctx->lock);
	errno = -err;
	return NULL;
}

static void client_sock_close(struct xsnap_sock *s)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct client *cl = ctx->cl;

	pthread_mutex_lock(&ctx->lock);
	for (int i = 0; i < CLIENT_MAX_SOCKS; i++)
		if (cl->socks[i] == s)
			cl->socks[i] = NULL;
	send_close(ctx, s->handle);
	sock_free(s);
	pthread_mutex_unlock(&ctx->lock);
}

static void client_close(struct xsnap_ctx *ctx)
{
	struct client *cl = ctx->cl;

	for (int i = 0; i < CLIENT_MAX_SOCKS; i++)
		if (cl->socks[i])
			client_sock_close(cl->socks[i]);
	close(cl->fd);
	pthread_mutex_destroy(&ctx->lock);
	pthread_mutex_destroy(&ctx->engine_lock);
	free(cl);
	free(ctx);
}

/* A control request with no reply fields. */
static int simple(struct xsnap_ctx *ctx, struct xp_msg *req, const char *what, uint32_t *out)
{
	struct xp_msg rep;
	int r;

	r = call(ctx, req, &rep, NULL, NULL, what);
	if (!r && out)
		*out = xp_get_u32(&rep);
	if (!r && xp_done(&rep))
		r = -EPROTO;
	pthread_mutex_unlock(&ctx->lock);
	return r < 0 ? err_ret(-r) : 0;
}

static int client_tenant_add(struct xsnap_ctx *ctx, const char *name,
			     const struct xsnap_tenant_opts *opts)
{
	struct xp_msg req;
	uint32_t slot = 0;
	int r;

	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_TENANT_ADD, 0);
	xp_put_str(&req, name);
	xp_put_u32(&req, OPTS_GET(opts, quota, 0));
	xp_put_u32(&req, 0);
	xp_put_i64(&req, -1);
	xp_put_i64(&req, -1);
	xp_put_str(&req, OPTS_GET(opts, view, ""));
	xp_put_u32(&req, OPTS_GET(opts, queue_group, 0));
	r = simple(ctx, &req, "tenant add", &slot);
	return r ? r : (int)slot;
}

static int client_tenant_del(struct xsnap_ctx *ctx, const char *name)
{
	struct xp_msg req;

	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_TENANT_DEL, 0);
	xp_put_str(&req, name);
	return simple(ctx, &req, "tenant del", NULL);
}

static int client_rule_add(struct xsnap_ctx *ctx, const char *tenant, const char *match, int prio)
{
	struct xp_msg req;
	uint32_t id = 0;
	int r;

	if (prio < 0 || prio > 65535)
		return err_ret(EINVAL);
	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_RULE_ADD, 0);
	xp_put_str(&req, tenant);
	xp_put_str(&req, match);
	xp_put_u32(&req, (uint32_t)prio);
	xp_put_u32(&req, XP_DELIVER);
	r = simple(ctx, &req, "rule add", &id);
	return r ? r : (int)id;
}

static int client_rule_del(struct xsnap_ctx *ctx, int id)
{
	struct xp_msg req;

	if (id <= 0)
		return err_ret(ENOENT);
	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_RULE_DEL, 0);
	xp_put_u32(&req, (uint32_t)id);
	return simple(ctx, &req, "rule del", NULL);
}

static int client_stats(struct xsnap_ctx *ctx, const char *tenant, struct xsnap_stats *st)
{
	struct xsnap_stats out = { .sz = st->sz < sizeof(*st) ? st->sz : sizeof(*st) };
	struct xp_msg req, rep;
	uint32_t n;
	char name[TENANT_NAME_MAX];
	int r;

	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_STATS, 0);
	xp_put_str(&req, tenant ? tenant : "");
	r = call(ctx, &req, &rep, NULL, NULL, "stats");
	if (!r) {
		/* one record per tenant, then the total (name "") */
		n = xp_get_u32(&rep);
		for (uint32_t i = 0; i < n && !rep.err; i++) {
			struct xsnap_stats one = { .sz = out.sz };

			xp_get_str(&rep, name, sizeof(name), true);
			xp_get_stats(&rep, &one);
			if (tenant ? !strcmp(name, tenant) : !*name)
				out = one;
		}
		if (xp_done(&rep))
			r = -EPROTO;
	}
	pthread_mutex_unlock(&ctx->lock);
	if (r)
		return err_ret(-r);
	memcpy(st, &out, out.sz);
	return 0;
}

/*
 * A snapshot of a connected socket: the daemon pins [first, end) of the
 * tenant's log (nothing in it is evicted until it is closed), and the
 * frames are read from the shared log like in-process ones.  No commit
 * happens on the daemon's tenants (copy-on-write is in-process only), so
 * the log entries in the range are the versions the snapshot sees.
 */
static struct xsnap_snap *client_snapshot(struct xsnap_sock *s, uint32_t frames,
					  uint32_t last_ms, uint64_t seq_first, uint64_t seq_last)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct xsnap_snap *sn = NULL;
	struct xp_msg req, rep;
	uint64_t first, end;
	uint32_t id;
	int err;

	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_SNAPSHOT, 0);
	xp_put_u32(&req, s->handle[0]);
	xp_put_u32(&req, s->handle[1]);
	xp_put_u32(&req, frames);
	xp_put_u32(&req, last_ms);
	xp_put_u64(&req, seq_first);
	xp_put_u64(&req, seq_last);
	err = call(ctx, &req, &rep, NULL, NULL, "snapshot");
	if (err)
		goto out;
	id = xp_get_u32(&rep);
	first = xp_get_u64(&rep);
	end = xp_get_u64(&rep);
	if (xp_done(&rep) || end < first || end - first > s->t->quota) {
		pr_warn("snapshot: malformed reply from xsnapd\n");
		err = -EPROTO;
		goto out;
	}
	sn = calloc(1, sizeof(*sn));
	if (sn)
		sn->views = calloc(end - first ? end - first : 1, sizeof(*sn->views));
	if (!sn || !sn->views) {
		struct xp_msg r2;

		free(sn);
		sn = NULL;
		err = -ENOMEM;
		xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_SNAP_CLOSE, 0);
		xp_put_u32(&req, s->handle[0]);
		xp_put_u32(&req, s->handle[1]);
		xp_put_u32(&req, id);
		call(ctx, &req, &r2, NULL, NULL, NULL);
		goto out;
	}
	sn->sock = s;
	sn->first = sn->pos = first;
	sn->end = end;
	sn->remote_id = id;
	sn->next = s->t->snaps;
	s->t->snaps = sn;
out:
	pthread_mutex_unlock(&ctx->lock);
	if (!sn)
		errno = -err;
	return sn;
}

static void client_snap_close(struct xsnap_snap *sn)
{
	struct xsnap_sock *s = sn->sock;
	struct xsnap_ctx *ctx = s->ctx;
	struct xp_msg req, rep;

	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_SNAP_CLOSE, 0);
	xp_put_u32(&req, s->handle[0]);
	xp_put_u32(&req, s->handle[1]);
	xp_put_u32(&req, sn->remote_id);
	call(ctx, &req, &rep, NULL, NULL, NULL);
	for (struct xsnap_snap **pp = &s->t->snaps; *pp; pp = &(*pp)->next) {
		if (*pp == sn) {
			*pp = sn->next;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	free(sn->views);
	free(sn);
}

/*
 * Copy-on-write for clients.  The daemon leases chunks of the tenant's pool
 * to the socket in batches (XP_POOL); the client keeps the unused ones in a
 * stash, copies into them through its writable mapping of the tenant
 * instance's pool memfd, and returns a released private version to the
 * stash, not to the daemon: one request per batch of copies, not per
 * frame (a consumer that copies and releases batches of up to 64 keeps
 * reusing its stash and asks nothing).  Commit is one request (XP_COMMIT):
 * the log lives in the daemon.
 */
#define STASH_FILL 32	/* chunks leased per request when the stash is empty */
#define STASH_CAP (2 * STASH_FILL)	/* past it, STASH_FILL go back to the tenant */

/* Stash the leases of reply @rep (u32 n, n x u64 addr; at most @want) and
 * check that it ends there.  Caller holds ctx->lock.  0 or -EPROTO. */
static int stash_fill(struct xsnap_sock *s, struct xp_msg *rep, uint32_t want)
{
	uint32_t n = xp_get_u32(rep);

	if (n > want || s->nstash + n > STASH_CAP)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = xp_get_u64(rep), off = addr - s->pool_base;

		/* a frame address inside this tenant's pool, or a bad daemon */
		if (addr < s->pool_base || off >= s->pool_len ||
		    (off & (FRAME_SIZE - 1)) != FRAME_HEADROOM)
			return -EPROTO;
		s->stash[s->nstash++] = addr;
	}
	return xp_done(rep) ? -EPROTO : 0;
}

/* Give back the last @nret stashed chunks and lease up to @want more.
 * Caller holds ctx->lock.  0 or -errno. */
static int pool_call(struct xsnap_sock *s, uint32_t want, uint32_t nret)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct xp_msg req, rep;
	int r;

	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_POOL, 0);
	xp_put_u32(&req, s->handle[0]);
	xp_put_u32(&req, s->handle[1]);
	xp_put_u32(&req, want);
	xp_put_u32(&req, nret);
	for (uint32_t i = 0; i < nret; i++)
		xp_put_u64(&req, s->stash[s->nstash - nret + i]);
	r = call(ctx, &req, &rep, NULL, NULL, "pool");
	if (r)
		return r;
	s->nstash -= nret;
	return stash_fill(s, &rep, want);
}

/* A leased chunk for a new private version: its frame address, or 0 with
 * errno ENOBUFS (the tenant's pool, or its --pool share, is used up). */
static uint64_t stash_take(struct xsnap_sock *s)
{
	if (!s->nstash) {
		int r;

		pthread_mutex_lock(&s->ctx->lock);
		r = pool_call(s, STASH_FILL, 0);
		pthread_mutex_unlock(&s->ctx->lock);
		if (r < 0 && r != -EPROTO) {
			errno = -r;
			return 0;
		}
		if (!s->nstash) {
			errno = r == -EPROTO ? EPROTO : ENOBUFS;
			return 0;
		}
	}
	return s->stash[--s->nstash];
}

static void client_chunk_put(struct xsnap_sock *s, uint64_t addr)
{
	if (s->nstash == STASH_CAP) {
		/* keep a batch, give the rest back to the tenant's other sockets */
		pthread_mutex_lock(&s->ctx->lock);
		if (pool_call(s, 0, STASH_FILL) < 0)
			s->nstash -= STASH_FILL;	/* lost with the connection */
		pthread_mutex_unlock(&s->ctx->lock);
	}
	s->stash[s->nstash++] = addr;
}

static void *client_cow(struct xsnap_sock *s, struct xsnap_frame *f)
{
	struct log_ent e;
	uint64_t addr;
	uint8_t *dst;

	if (f->flags & VIEW_PRIVATE)
		return s->pool_rw + (f->addr - s->pool_base);
	addr = stash_take(s);
	if (!addr)
		return NULL;
	/* metadata and frame, at the same place in the new chunk */
	dst = s->pool_rw + (addr - s->pool_base);
	memcpy(dst - sizeof(struct xsnap_meta), f->data - sizeof(struct xsnap_meta),
	       sizeof(struct xsnap_meta) + f->len);
	log_read(&s->t->log[f->seq & (s->t->quota - 1)], &e);
	f->addr = addr;
	f->data = s->ro + addr;
	f->version = (e.seq == f->seq ? e.version : f->version) + 1;
	f->flags |= VIEW_PRIVATE;
	return dst;
}

static int client_commit(struct xsnap_sock *s, struct xsnap_frame *f)
{
	struct xsnap_ctx *ctx = s->ctx;
	struct xp_msg req, rep;
	uint32_t v;
	int r;

	pthread_mutex_lock(&ctx->lock);
	xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_COMMIT, 0);
	xp_put_u32(&req, s->handle[0]);
	xp_put_u32(&req, s->handle[1]);
	xp_put_u64(&req, f->seq);
	xp_put_u64(&req, f->addr);
	xp_put_u32(&req, f->len);
	r = call(ctx, &req, &rep, NULL, NULL, "commit");
	v = r ? 0 : xp_get_u32(&rep);
	if (!r && (xp_done(&rep) || !v || v > INT32_MAX))
		r = -EPROTO;
	pthread_mutex_unlock(&ctx->lock);
	if (r)
		return err_ret(-r);
	/* the chunk belongs to the log entry now */
	f->version = v;
	f->flags &= ~VIEW_PRIVATE;
	return (int)v;
}

static struct xsnap_frame *client_alloc(struct xsnap_sock *s, uint32_t len)
{
	struct xsnap_frame *f = sock_fresh_slot(s);
	uint64_t addr;

	if (!f)
		return NULL;
	addr = stash_take(s);
	if (!addr)
		return NULL;
	*f = (struct xsnap_frame){ .addr = addr, .len = len, .flags = VIEW_PRIVATE,
				   .gen = f->gen + 1 };
	f->data = s->ro + addr;
	memset(s->pool_rw + (addr - s->pool_base) - sizeof(struct xsnap_meta), 0,
	       sizeof(struct xsnap_meta));
	return handle_of(f);
}

/*
 * Transmit through xsnapd: one request per batch of up to XP_SEND_BATCH
 * frames, naming each by (seq, address, length); the daemon copies what it
 * checked into memory no client can write and queues it.  Frames it queued
 * are the socket's no more: a received one is released, a private version's
 * or fresh frame's lease ends.
 */
static int client_send(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n, int queue)
{
	struct xsnap_ctx *ctx = s->ctx;
	unsigned int done = 0, want;
	size_t vi;

	for (unsigned int i = 0; i < n; i++) {
		if (sock_view_kind(s, v[i], &vi) <= 0) {
			s->ctl->bad_releases++;
			pr_warn("tenant %s: send: frame %u of %u: a frame this socket does not "
				"hold; nothing sent\n",
				s->t->name, i + 1, n);
			return err_ret(EINVAL);
		}
	}
	while (done < n) {
		unsigned int b = n - done < XP_SEND_BATCH ? n - done : XP_SEND_BATCH;
		struct xp_msg req, rep;
		uint32_t q;
		int r, fill;

		pthread_mutex_lock(&ctx->lock);
		xp_begin(&req, ctx->cl->req, sizeof(ctx->cl->req), XP_SEND, 0);
		xp_put_u32(&req, s->handle[0]);
		xp_put_u32(&req, s->handle[1]);
		xp_put_u32(&req, (uint32_t)queue);
		/* as many chunks as this batch takes out of the pool economy,
		 * leased back with the reply (what the stash has room for) */
		want = 0;
		for (unsigned int i = 0; i < b; i++)
			want += (handle_view(v[done + i])->flags & VIEW_PRIVATE) != 0;
		if (want > STASH_CAP - s->nstash)
			want = STASH_CAP - s->nstash;
		xp_put_u32(&req, want);
		xp_put_u32(&req, b);
		for (unsigned int i = 0; i < b; i++) {
			const struct xsnap_frame *f = handle_view(v[done + i]);

			xp_put_u64(&req, (f->flags & VIEW_PRIVATE) ? 0 : f->seq);
			xp_put_u64(&req, f->addr);
			xp_put_u32(&req, f->len);
		}
		r = call(ctx, &req, &rep, NULL, NULL, "send");
		q = r ? 0 : xp_get_u32(&rep);
		if (!r && q > b)
			r = -EPROTO;
		/* the q frames went out even if the leases are bad */
		fill = r ? 0 : stash_fill(s, &rep, want);
		pthread_mutex_unlock(&ctx->lock);
		if (r)
			return done ? (int)done : err_ret(-r);
		for (unsigned int i = 0; i < q; i++) {
			struct xsnap_frame *f = handle_view(v[done + i]);

			if (sock_view_kind(s, v[done + i], &vi) == VIEW_IS_LOG)
				s->held[vi] = 0;
			f->flags &= ~VIEW_PRIVATE;	/* the lease went with it */
			view_retire(f);
		}
		done += q;
		if (fill) {
			advance_low(s);
			return done ? (int)done : err_ret(-fill);
		}
		if (q < b)
			break;	/* the rings or the tenant's share are full */
	}
	advance_low(s);
	return (int)done;
}

/* The daemon audits its own contexts (xsnapctl audit). */
static int client_audit(struct xsnap_ctx *ctx)
{
	(void)ctx;
	return err_ret(EOPNOTSUPP);
}

const struct backend backend_client = {
	.close = client_close,
	.tenant_add = client_tenant_add,
	.tenant_del = client_tenant_del,
	.rule_add = client_rule_add,
	.rule_del = client_rule_del,
	.stats = client_stats,
	.audit = client_audit,
	.socket = client_socket,
	.sock_close = client_sock_close,
	.snapshot = client_snapshot,
	.snap_close = client_snap_close,
	.cow = client_cow,
	.commit = client_commit,
	.alloc = client_alloc,
	.send = client_send,
	.chunk_put = client_chunk_put,
};
