// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libxsnap-preload.so: unmodified UDP programs receive through xsnapd.
 *
 * Loaded with LD_PRELOAD (tools/xsnap-run/xsnap-run sets it up).  A UDP
 * socket bound to a port the tenant covers is "mapped": its receive calls
 * and poll readiness are answered by an xsnap socket of a context connected
 * to xsnapd, while the program's descriptor stays the kernel socket (send,
 * getsockname, setsockopt, fcntl keep working).  Everything else passes to
 * libc.  Design, fallback and what is not interposed yet: docs/design.md,
 * "Preload library (issue 14)".
 *
 * Environment: XSNAP_TENANT (required to map anything), XSNAP_SHARE (share
 * group id: share mode), XSNAP_STRICT=1 (errors instead of fallback),
 * XSNAP_PORTS (comma-separated ports to map; unset: every UDP bind),
 * XSNAP_SOCKET (the daemon's socket, as for xsnap_connect).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <xsnap/xsnap.h>

#define PUBLIC __attribute__((visibility("default")))
#define MAXFD 65536		/* XSNAP_PRELOAD_MAXFD in docs/design.md */
#define KEEP_CAP 65536		/* a kept datagram: the largest UDP payload */
#define POLL_STACK 256		/* pollfd entries poll() rewrites on the stack */
#define MAX_PORTS 64

/* One mapped socket. */
struct entry {
	pthread_mutex_t lock;	/* held around receive calls: one thread at a time */
	struct xsnap_sock *xs;
	int xfd;		/* xsnap_fd(xs) */
	bool nonblock;		/* O_NONBLOCK of the kernel descriptor */
	uint16_t port;
	ssize_t kept;		/* length of the kept datagram, -1: none */
	struct sockaddr_storage kept_src;
	socklen_t kept_srclen;
	uint8_t *keep;		/* KEEP_CAP bytes, allocated at bind */
};

static struct {
	int (*bind)(int, const struct sockaddr *, socklen_t);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*read)(int, void *, size_t);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*close)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
} real;

static _Atomic(struct entry *) table[MAXFD];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xsnap_ctx *ctx;		/* under table_lock */
static const char *tenant;
static struct xsnap_sock_opts sopts = { .sz = sizeof(sopts), .mode = XSNAP_FANOUT };
static bool strict;
static uint16_t ports[MAX_PORTS];
static int nports = -1;			/* -1: XSNAP_PORTS unset, every port */
static atomic_uint said;		/* bit per reason already printed */

static void say_once(unsigned int bit, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say_once(unsigned int bit, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	if (atomic_fetch_or(&said, 1u << bit) & (1u << bit))
		return;
	n = snprintf(line, sizeof(line), "xsnap-preload: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing better to do */
	}
}

static void *next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		fprintf(stderr, "xsnap-preload: %s not found: %s\n", name, dlerror());
		abort();
	}
	return p;
}

enum { SAY_NO_TENANT, SAY_CONNECT, SAY_SOCKET, SAY_PORT, SAY_LOST, SAY_MAXFD, SAY_FORK };

/*
 * The child of fork() must not touch the parent's xsnap sockets (their
 * rings and frames are the parent's): its mapped descriptors become plain
 * kernel sockets and it has no context (docs/design.md, "fork and exec").
 * The entries are left to the parent; the child's copies leak, once.
 */
static void atfork_child(void)
{
	bool any = false;

	for (int fd = 0; fd < MAXFD; fd++)
		if (atomic_exchange_explicit(&table[fd], NULL, memory_order_relaxed))
			any = true;
	pthread_mutex_init(&table_lock, NULL);
	ctx = NULL;
	if (any)
		say_once(SAY_FORK, "fork: the child's UDP sockets are kernel sockets");
}

__attribute__((constructor)) static void init(void)
{
	const char *s;

	if (real.close)		/* ready() ran it already */
		return;
	pthread_atfork(NULL, NULL, atfork_child);

	real.bind = next("bind");
	real.recvfrom = next("recvfrom");
	real.recvmsg = next("recvmsg");
	real.read = next("read");
	real.fcntl = next("fcntl");
	real.ioctl = next("ioctl");
	real.poll = next("poll");
	real.select = next("select");
	real.pselect = next("pselect");
	real.dup2 = next("dup2");
	real.dup3 = next("dup3");
	real.close = next("close");	/* last: ready() tests it */
	/* the library stays quiet (XSNAP_DEBUG shows it): the shim says in
	 * one line of its own what it made of a socket */
	if (!getenv("XSNAP_DEBUG"))
		xsnap_set_print(NULL);
	tenant = getenv("XSNAP_TENANT");
	if (tenant && !*tenant)
		tenant = NULL;
	s = getenv("XSNAP_STRICT");
	strict = s && !strcmp(s, "1");
	s = getenv("XSNAP_SHARE");
	if (s && *s) {
		sopts.mode = XSNAP_SHARE;
		sopts.group = (uint32_t)strtoul(s, NULL, 0);
	}
	s = getenv("XSNAP_PORTS");
	if (s) {
		char *end;

		nports = 0;
		while (*s && nports < MAX_PORTS) {
			unsigned long p = strtoul(s, &end, 10);

			if (end == s || p > 65535)
				break;
			ports[nports++] = (uint16_t)p;
			s = *end == ',' ? end + 1 : end;
		}
	}
}

/* A library's constructor may call in before ours ran. */
static inline void ready(void)
{
	if (__builtin_expect(!real.close, 0))
		init();
}

static struct entry *lookup(int fd)
{
	if (fd < 0 || fd >= MAXFD)
		return NULL;
	return atomic_load_explicit(&table[fd], memory_order_acquire);
}

static bool port_listed(uint16_t port)
{
	if (nports < 0)
		return true;
	for (int i = 0; i < nports; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* Map @fd (bound to @port) onto an xsnap socket.  Return 0 (mapped or
 * fallen back), or -errno in strict mode. */
static int map(int fd, uint16_t port)
{
	struct xsnap_sock *xs;
	struct entry *e;
	int err;

	if (!tenant) {
		say_once(SAY_NO_TENANT, "port %u: kernel socket (XSNAP_TENANT not set)", port);
		return strict ? -EINVAL : 0;
	}
	if (!port_listed(port)) {
		say_once(SAY_PORT, "port %u: kernel socket (not in XSNAP_PORTS)", port);
		return 0;	/* not covered is never an error: the program asked for it */
	}
	if (fd >= MAXFD) {
		say_once(SAY_MAXFD, "port %u: kernel socket (descriptor %d too high)", port, fd);
		return strict ? -EMFILE : 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->keep = malloc(KEEP_CAP))) {
		free(e);
		return strict ? -ENOMEM : 0;
	}
	pthread_mutex_lock(&table_lock);
	if (!ctx && !(ctx = xsnap_connect(NULL))) {
		err = errno;
		pthread_mutex_unlock(&table_lock);
		say_once(SAY_CONNECT, "port %u: %s (xsnapd: %s)", port,
			 strict ? "strict: bind fails" : "kernel socket", strerror(err));
		goto fail;
	}
	xs = xsnap_socket(ctx, tenant, &sopts);
	if (!xs) {
		err = errno;
		pthread_mutex_unlock(&table_lock);
		say_once(SAY_SOCKET, "port %u: %s (tenant %s: %s)", port,
			 strict ? "strict: bind fails" : "kernel socket", tenant, strerror(err));
		goto fail;
	}
	pthread_mutex_init(&e->lock, NULL);
	e->xs = xs;
	e->xfd = xsnap_fd(xs);
	e->port = port;
	e->kept = -1;
	e->nonblock = real.fcntl(fd, F_GETFL) & O_NONBLOCK;
	atomic_store_explicit(&table[fd], e, memory_order_release);
	pthread_mutex_unlock(&table_lock);
	return 0;
fail:
	free(e->keep);
	free(e);
	return strict ? -err : 0;
}

/* Take @fd out of the table; the caller frees what it returns. */
static struct entry *unmap(int fd)
{
	struct entry *e;

	if (fd < 0 || fd >= MAXFD)
		return NULL;
	pthread_mutex_lock(&table_lock);
	e = atomic_exchange_explicit(&table[fd], NULL, memory_order_acq_rel);
	pthread_mutex_unlock(&table_lock);
	return e;
}

static void entry_free(struct entry *e)
{
	xsnap_sock_close(e->xs);
	pthread_mutex_destroy(&e->lock);
	free(e->keep);
	free(e);
}

/* The port of an AF_INET/AF_INET6 address, or -1. */
static int addr_port(const struct sockaddr *addr, socklen_t len)
{
	if (!addr)
		return -1;
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)addr)->sin_port);
	if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return -1;
}

/*
 * bind: after the real bind, a UDP socket is mapped (map()).  Before it, a
 * socket bound to a listed port gets SO_REUSEPORT, so that several programs
 * of one user can bind the port that xsnap fans out to all of them (the
 * kernel sees none of the port's datagrams while xsnapd steers them).
 */
PUBLIC int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	int r, type = 0, proto = 0, one = 1, port, err = errno;
	socklen_t sl = sizeof(int);

	ready();
	port = addr_port(addr, len);
	if (port < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 ||
	    type != SOCK_DGRAM || getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &sl) < 0 ||
	    proto != IPPROTO_UDP) {
		errno = err;
		return real.bind(fd, addr, len);
	}
	if (tenant && port && port_listed((uint16_t)port) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		errno = err;	/* then the kernel's rule stands: one binder */
	r = real.bind(fd, addr, len);
	if (r < 0)
		return r;
	if (port == 0) {
		struct sockaddr_storage ss;
		socklen_t ssl = sizeof(ss);

		if (getsockname(fd, (struct sockaddr *)&ss, &ssl) == 0)
			port = addr_port((struct sockaddr *)&ss, ssl);
	}
	r = map(fd, (uint16_t)port);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	errno = err;
	return 0;
}

/* Fill the kept datagram of @e without waiting.  Return 1 (kept), 0 (none),
 * -errno.  @e->lock held. */
static int keep_one(struct entry *e)
{
	ssize_t n;

	if (e->kept >= 0)
		return 1;
	e->kept_srclen = sizeof(e->kept_src);
	n = xsnap_recvfrom(e->xs, e->keep, KEEP_CAP, MSG_DONTWAIT,
			   (struct sockaddr *)&e->kept_src, &e->kept_srclen);
	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return (int)n;
	e->kept = n;
	return 1;
}

/* The daemon went away or the tenant was deleted: unmap @fd, later calls
 * read the kernel socket.  Return true when the caller should fall back. */
static bool lost(int fd, struct entry *e, int err)
{
	if (err != ECONNRESET && err != ENOENT && err != ENETDOWN)
		return false;
	say_once(SAY_LOST, "port %u: %s (xsnap: %s)", e->port,
		 strict ? "strict: receive fails" : "kernel socket from now on", strerror(err));
	if (strict)
		return false;
	pthread_mutex_unlock(&e->lock);
	if (unmap(fd) == e)
		entry_free(e);
	return true;
}

/* What a receive call returns for a datagram of @full bytes into @cap. */
static ssize_t done(ssize_t full, size_t cap, int flags, int *msg_flags)
{
	if (msg_flags)
		*msg_flags = (size_t)full > cap ? MSG_TRUNC : 0;
	return (flags & MSG_TRUNC) || (size_t)full <= cap ? full : (ssize_t)cap;
}

/*
 * The one receive path of recv, recvfrom, recvmsg and read on a mapped
 * socket.  Returns the payload length (or the full length with MSG_TRUNC),
 * or -1 with errno; *fallback set when the caller must ask the kernel.
 */
static ssize_t xrecv(int fd, struct entry *e, const struct iovec *iov, size_t iovcnt,
		     int flags, struct sockaddr *src, socklen_t *srclen, int *msg_flags,
		     bool *fallback)
{
	bool dontwait = (flags & MSG_DONTWAIT) || e->nonblock;
	const uint8_t *p;
	size_t total = 0, left, n;
	ssize_t r = -EAGAIN;	/* set whenever it is read; for the compiler */

	*fallback = false;
	if (flags & ~(MSG_DONTWAIT | MSG_TRUNC | MSG_PEEK | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC)) {
		errno = EOPNOTSUPP;	/* MSG_WAITALL, MSG_ERRQUEUE: a later slice */
		return -1;
	}
	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	pthread_mutex_lock(&e->lock);
	if (e->kept < 0 && iovcnt <= 1 && !(flags & MSG_PEEK)) {
		/* the common case: straight into the caller's buffer */
		r = xsnap_recvfrom(e->xs, iovcnt ? iov[0].iov_base : NULL, total,
				   MSG_TRUNC | (dontwait ? MSG_DONTWAIT : 0), src, srclen);
		if (r >= 0) {
			pthread_mutex_unlock(&e->lock);
			return done(r, total, flags, msg_flags);
		}
	} else if (e->kept < 0) {
		/* several iovecs, or MSG_PEEK: through the kept buffer */
		e->kept_srclen = sizeof(e->kept_src);
		r = xsnap_recvfrom(e->xs, e->keep, KEEP_CAP, dontwait ? MSG_DONTWAIT : 0,
				   (struct sockaddr *)&e->kept_src, &e->kept_srclen);
		if (r >= 0)
			e->kept = r;
	}
	if (e->kept < 0) {
		if (lost(fd, e, (int)-r)) {	/* unlocked it */
			*fallback = true;
			return -1;
		}
		pthread_mutex_unlock(&e->lock);
		errno = (int)-r;
		return -1;
	}
	/* hand out the kept datagram */
	p = e->keep;
	left = (size_t)e->kept;
	for (size_t i = 0; i < iovcnt && left; i++) {
		n = iov[i].iov_len < left ? iov[i].iov_len : left;
		memcpy(iov[i].iov_base, p, n);
		p += n;
		left -= n;
	}
	if (src && srclen) {
		memcpy(src, &e->kept_src, *srclen < e->kept_srclen ? *srclen : e->kept_srclen);
		*srclen = e->kept_srclen;
	}
	r = e->kept;
	if (!(flags & MSG_PEEK))
		e->kept = -1;
	pthread_mutex_unlock(&e->lock);
	return done(r, total, flags, msg_flags);
}

PUBLIC ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
			socklen_t *srclen)
{
	struct entry *e = lookup(fd);
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	bool fb;
	ssize_t r;

	ready();
	if (!e)
		return real.recvfrom(fd, buf, len, flags, src, srclen);
	r = xrecv(fd, e, &iov, 1, flags, src, srclen, NULL, &fb);
	return fb ? real.recvfrom(fd, buf, len, flags, src, srclen) : r;
}

/* On a socket recv(2) is recvfrom(2) without an address. */
PUBLIC ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	return recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* read(2) of a mapped socket is recv(2) without flags. */
PUBLIC ssize_t read(int fd, void *buf, size_t len)
{
	ready();
	if (!lookup(fd))
		return real.read(fd, buf, len);
	return recvfrom(fd, buf, len, 0, NULL, NULL);
}

PUBLIC ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct entry *e = lookup(fd);
	socklen_t nl;
	bool fb;
	int mf = 0;
	ssize_t r;

	ready();
	if (!e)
		return real.recvmsg(fd, msg, flags);
	nl = msg->msg_name ? msg->msg_namelen : 0;
	r = xrecv(fd, e, msg->msg_iov, msg->msg_iovlen, flags,
		  msg->msg_name, msg->msg_name ? &nl : NULL, &mf, &fb);
	if (fb)
		return real.recvmsg(fd, msg, flags);
	if (r >= 0) {
		msg->msg_namelen = msg->msg_name ? nl : 0;
		msg->msg_controllen = 0;	/* control messages: a later slice */
		msg->msg_flags = mf;
	}
	return r;
}

/* F_SETFL on a mapped descriptor: remember O_NONBLOCK (no F_GETFL per
 * receive).  Every fcntl command takes at most one argument, an int or a
 * pointer: passing it on as a pointer is what glibc's own wrappers do. */
PUBLIC int fcntl(int fd, int cmd, ...)
{
	struct entry *e;
	va_list ap;
	void *arg;
	int r;

	ready();
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	r = real.fcntl(fd, cmd, arg);
	if (r >= 0 && cmd == F_SETFL && (e = lookup(fd)))
		e->nonblock = ((int)(intptr_t)arg & O_NONBLOCK) != 0;
	return r;
}

/* glibc >= 2.28 has fcntl64 too; on 64-bit targets both are one function. */
PUBLIC int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

/* FIONBIO (what CPython's setblocking uses) on a mapped descriptor. */
PUBLIC int ioctl(int fd, unsigned long req, ...)
{
	struct entry *e;
	va_list ap;
	void *arg;
	int r;

	ready();
	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	r = real.ioctl(fd, req, arg);
	if (r >= 0 && req == FIONBIO && arg && (e = lookup(fd)))
		e->nonblock = *(const int *)arg != 0;
	return r;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * poll: each mapped descriptor asked for POLLIN becomes its xsnap_fd() (and,
 * for the other events, its kernel descriptor in an extra entry); it is
 * reported readable only when a datagram is kept (keep_one()).
 */
PUBLIC int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct pollfd stack[POLL_STACK], *v = stack;
	nfds_t i, nv, cap, mapped = 0;
	long long deadline = timeout > 0 ? now_ms() + timeout : 0;
	int r, nready = 0;

	ready();
	for (i = 0; i < nfds; i++)
		if (lookup(fds[i].fd))
			mapped++;
	if (!mapped)
		return real.poll(fds, nfds, timeout);
	cap = nfds + mapped;	/* one extra entry per mapped descriptor at most */
	if (cap > POLL_STACK && !(v = malloc(cap * sizeof(*v)))) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		bool kept_any = false;
		nfds_t m = 0;

		nv = nfds;
		for (i = 0; i < nfds; i++) {
			struct entry *e = lookup(fds[i].fd);

			v[i] = fds[i];
			fds[i].revents = 0;
			/* at most the @mapped counted above (@cap): one mapped
			 * meanwhile by another thread is polled as it was */
			if (!e || m == mapped)
				continue;
			m++;
			v[i].fd = e->xfd;
			v[i].events = fds[i].events & POLLIN;
			if (fds[i].events & ~POLLIN) {
				v[nv] = fds[i];
				v[nv++].events = fds[i].events & ~POLLIN;
			}
			if (fds[i].events & POLLIN) {
				pthread_mutex_lock(&e->lock);
				r = keep_one(e);
				pthread_mutex_unlock(&e->lock);
				if (r != 0) {	/* kept, or an error the receive call reports */
					fds[i].revents = POLLIN;
					kept_any = true;
				}
			}
		}
		r = real.poll(v, nv, kept_any ? 0 : timeout);
		if (r < 0)
			break;
		nready = 0;
		nv = nfds;
		for (i = 0; i < nfds; i++) {
			struct entry *e;

			if (v[i].fd == fds[i].fd) {	/* not mapped when polled */
				fds[i].revents = v[i].revents;
			} else {
				e = lookup(fds[i].fd);
				if (e && !fds[i].revents &&
				    (v[i].revents & (POLLIN | POLLERR | POLLHUP))) {
					pthread_mutex_lock(&e->lock);
					if (keep_one(e) != 0)
						fds[i].revents = POLLIN;
					pthread_mutex_unlock(&e->lock);
				}
				if (fds[i].events & ~POLLIN)
					fds[i].revents |= v[nv++].revents;
			}
			if (fds[i].revents)
				nready++;
		}
		if (nready || timeout == 0 || kept_any)
			break;
		if (timeout > 0 && (timeout = (int)(deadline - now_ms())) <= 0)
			break;
	}
	if (v != stack)
		free(v);
	return r < 0 ? -1 : nready;
}

/* Whether a descriptor of @rd below @nfds is mapped. */
static bool any_mapped(int nfds, const fd_set *rd)
{
	if (!rd || nfds > FD_SETSIZE)
		return false;
	for (int i = 0; i < nfds; i++)
		if (FD_ISSET(i, rd) && lookup(i))
			return true;
	return false;
}

/*
 * select and pselect with a mapped descriptor in the read set: the sets
 * become a pollfd array (on the stack) for poll() above, and back; the
 * descriptor sets are rewritten as select(2) does.
 */
static int select_by_poll(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int timeout)
{
	struct pollfd pv[FD_SETSIZE];
	nfds_t n = 0;
	int r, cnt = 0;

	for (int i = 0; i < nfds; i++) {
		short ev = 0;

		if (rd && FD_ISSET(i, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(i, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(i, ex))
			ev |= POLLPRI;
		if (ev)
			pv[n++] = (struct pollfd){ .fd = i, .events = ev };
	}
	r = poll(pv, n, timeout);
	if (r < 0)
		return -1;
	for (nfds_t k = 0; k < n; k++) {
		if (pv[k].revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
	}
	if (rd)
		FD_ZERO(rd);
	if (wr)
		FD_ZERO(wr);
	if (ex)
		FD_ZERO(ex);
	for (nfds_t k = 0; k < n; k++) {
		short ev = pv[k].events, re = pv[k].revents;

		if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)) && ++cnt)
			FD_SET(pv[k].fd, rd);
		if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR)) && ++cnt)
			FD_SET(pv[k].fd, wr);
		if ((ev & POLLPRI) && (re & POLLPRI) && ++cnt)
			FD_SET(pv[k].fd, ex);
	}
	return cnt;
}

PUBLIC int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	long long t0, left;
	int r;

	ready();
	if (!any_mapped(nfds, rd))
		return real.select(nfds, rd, wr, ex, tv);
	t0 = now_ms();
	r = select_by_poll(nfds, rd, wr, ex,
			   tv ? (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000) : -1);
	if (tv) {	/* Linux select(2) leaves the time not slept in *tv */
		left = tv->tv_sec * 1000LL + tv->tv_usec / 1000 - (now_ms() - t0);
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000;
		tv->tv_usec = (left % 1000) * 1000;
	}
	return r;
}

/* The signal mask is set around the wait, not atomically with it (the
 * window pselect(2) exists to close): a later slice uses ppoll. */
PUBLIC int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		   const sigset_t *mask)
{
	sigset_t old;
	int r, err;

	ready();
	if (!any_mapped(nfds, rd))
		return real.pselect(nfds, rd, wr, ex, ts, mask);
	if (mask)
		pthread_sigmask(SIG_SETMASK, mask, &old);
	r = select_by_poll(nfds, rd, wr, ex,
			   ts ? (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000) : -1);
	err = errno;
	if (mask)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return r;
}

PUBLIC int close(int fd)
{
	struct entry *e = lookup(fd) ? unmap(fd) : NULL;

	ready();
	if (e)
		entry_free(e);
	return real.close(fd);
}

/*
 * dup2/dup3 onto a mapped descriptor close it first, as the kernel does:
 * its entry goes too (else the number, reused, would still read xsnap).
 * The copy of a mapped descriptor is a kernel socket (a later slice maps
 * copies: one xsnap socket for both, as for a kernel socket).
 */
PUBLIC int dup2(int oldfd, int newfd)
{
	struct entry *e;
	int r;

	ready();
	r = real.dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd && (e = unmap(newfd)))
		entry_free(e);
	return r;
}

PUBLIC int dup3(int oldfd, int newfd, int flags)
{
	struct entry *e;
	int r;

	ready();
	r = real.dup3(oldfd, newfd, flags);
	if (r >= 0 && (e = unmap(newfd)))
		entry_free(e);
	return r;
}
