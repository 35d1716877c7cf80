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
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <net/if.h>
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
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <xsnap/xsnap.h>

#include "udp_recv.h"	/* sock_recv_udp(): libxsnap's receive, with time and destination */

#define PUBLIC __attribute__((visibility("default")))
#define MAXFD 65536		/* XSNAP_PRELOAD_MAXFD in docs/design.md */
#define KEEP_CAP 65536		/* a kept datagram: the largest UDP payload */
#define POLL_STACK 256		/* pollfd entries poll() rewrites on the stack */
#define MAX_PORTS 64

/*
 * One mapped socket: shared by the descriptors dup() made of it.
 *
 * Lifetime (docs/design.md, "Threads"): @users counts the table's
 * reference (while a descriptor maps to it) and each call using it (get()
 * .. put()), so a descriptor closed under a blocked receive, poll or
 * epoll_wait leaves the entry, its xsnap socket and xsnap_fd() alive until
 * that call is done.  Entries are never handed back to malloc: the last
 * put() closes the xsnap socket and parks the entry on a spare list, so a
 * get() racing with it may still touch @users (it finds 0 and retries).
 */
struct entry {
	_Atomic int users;	/* first: entry_new() clears what follows */
	struct entry *next_spare;	/* on the spare list (table_lock) */
	pthread_mutex_t lock;	/* held around receive calls: one thread at a time */
	_Atomic bool lazy;	/* no xsnap socket yet (fork child, exec): attach() */
	_Atomic bool used;	/* a receive or readiness call used it (use()) */
	struct xsnap_sock *xs;	/* set before lazy is cleared (release) */
	int xfd;		/* xsnap_fd(xs), -1 while lazy */
	int refs;		/* descriptors that map to it (table_lock) */
	uint64_t gen;		/* unique per xsnap socket: epoll records name it */
	bool nonblock;		/* O_NONBLOCK of the kernel descriptor */
	bool v6;		/* an AF_INET6 socket: IPv4 sources are v4-mapped */
	uint16_t port;
	int rcvtimeo_ms;	/* SO_RCVTIMEO, 0: none */
	unsigned int cmsg;	/* CM_* the program asked for */
	int ts_type;		/* the SO_TIMESTAMP* option set last, 0: none */
	int ifindex;		/* of the interface xsnapd receives from, 0: unknown */
	uint64_t taken;		/* datagrams handed to the program (e->lock) */
	ssize_t kept;		/* length of the kept datagram, -1: none */
	struct sockaddr_storage kept_src;
	socklen_t kept_srclen;
	struct udp_meta kept_meta;
	uint8_t *keep;		/* KEEP_CAP bytes, allocated at bind */
	struct udp_match match;	/* the datagrams it takes (e->lock) */
};

enum { CM_PKTINFO4 = 1, CM_PKTINFO6 = 2 };

/*
 * An epoll set that holds mapped sockets (docs/design.md, "epoll"): the
 * program's set keeps the kernel descriptor (for the events other than
 * EPOLLIN) and one shadow epoll of ours, registered edge-triggered under
 * the tag data.ptr = the eset, that holds the xsnap_fd() of every mapped
 * socket of the set.  epoll_wait answers EPOLLIN for the records.
 */
struct erec {
	int fd;
	int xfd;
	uint64_t gen;		/* the entry's when registered */
	uint32_t events;	/* as the program asked */
	epoll_data_t data;
	bool armed;		/* EPOLLET: may be reported */
	bool off;		/* EPOLLONESHOT: reported, until EPOLL_CTL_MOD */
	bool err;		/* the xsnap socket failed: xfd taken out of the shadow */
	uint64_t taken;		/* entry's taken when last reported (EPOLLET) */
	uint64_t head;		/* the log's head when last reported (EPOLLET):
				 * a frame published since is a new edge */
};

struct eset {
	pthread_mutex_t lock;
	int inner;		/* the shadow epoll */
	unsigned int turn;
	int n, cap;
	struct erec *rec;
};

static struct {
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
		       const sigset_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *,
			    const sigset_t *);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	int (*close)(int);
} real;

static _Atomic(struct entry *) table[MAXFD];
static _Atomic(struct eset *) etable[MAXFD];	/* by the program's epoll descriptor */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xsnap_ctx *ctx;		/* under table_lock */
static uint64_t next_gen = 1;		/* under table_lock */
static struct entry *spare;		/* released entries (table_lock) */
static atomic_int live;			/* entries in use: forks look at the table */
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

/* The next definition of @name; NULL only when @optional (newer glibc calls). */
static void *next(const char *name, bool optional)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p && !optional) {
		fprintf(stderr, "xsnap-preload: %s not found: %s\n", name, dlerror());
		abort();
	}
	return p;
}

enum {
	SAY_NO_TENANT, SAY_CONNECT, SAY_SOCKET, SAY_PORT, SAY_LOST, SAY_MAXFD,
	SAY_EPOLL, SAY_DUP,
};

/*
 * The child of fork() must not touch the parent's xsnap sockets nor its
 * xsnapd connection (their rings, frames and message stream are the
 * parent's): every mapped entry becomes lazy, and the child's first
 * receive or readiness call on it opens the child's own connection and
 * socket (attach(); docs/design.md, "fork and exec").  The parent's
 * objects in the child's memory are forgotten, never closed (closing
 * would speak on the parent's connection).  A datagram the parent had
 * kept stays the parent's.  Calls of other threads died with the fork:
 * each entry's users is the table's reference alone.  The epoll records
 * stay (an epoll set is shared with the parent); in the child they name
 * the parent's sockets and are dropped.
 */
static void atfork_child(void)
{
	for (int fd = 0; fd < MAXFD; fd++) {
		struct eset *es = atomic_load_explicit(&etable[fd], memory_order_relaxed);
		struct entry *e = atomic_load_explicit(&table[fd], memory_order_relaxed);

		if (e) {
			pthread_mutex_init(&e->lock, NULL);
			atomic_store_explicit(&e->users, 1, memory_order_relaxed);
			atomic_store_explicit(&e->used, false, memory_order_relaxed);
		}
		if (e && !atomic_load_explicit(&e->lazy, memory_order_relaxed)) {
			e->xs = NULL;
			e->xfd = -1;
			e->kept = -1;
			atomic_store_explicit(&e->lazy, true, memory_order_relaxed);
		}
		if (es)	/* another thread may have held it at the fork */
			pthread_mutex_init(&es->lock, NULL);
	}
	pthread_mutex_init(&table_lock, NULL);
	ctx = NULL;
}

/*
 * In the parent, after fork(): a socket the parent has not used since it
 * was mapped (no receive or readiness call) goes back to lazy, its xsnap
 * socket closed, to be opened again at the parent's first use.  A pre-fork
 * server binds, forks its workers and only supervises them: its own
 * socket would otherwise take a share of the flows in share mode, and in
 * either mode hold back the tenant's log (a socket that never reads stops
 * its tenant once the log is full).  The entry is taken only when no call
 * holds it (users 1 -> 0: get() waits meanwhile).
 */
static void atfork_parent(void)
{
	if (!atomic_load_explicit(&live, memory_order_relaxed))
		return;
	for (int fd = 0; fd < MAXFD; fd++) {
		struct entry *e = atomic_load_explicit(&table[fd], memory_order_acquire);
		int one = 1;

		if (!e || atomic_load_explicit(&e->lazy, memory_order_acquire) ||
		    atomic_load_explicit(&e->used, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&e->users, &one, 0))
			continue;
		xsnap_sock_close(e->xs);
		e->xs = NULL;
		e->xfd = -1;
		e->kept = -1;
		atomic_store_explicit(&e->lazy, true, memory_order_relaxed);
		atomic_store_explicit(&e->users, 1, memory_order_release);
	}
}

static void inherit_sockets(void);
static int addr_port(const struct sockaddr *addr, socklen_t len);

__attribute__((constructor)) static void init(void)
{
	const char *s;

	if (real.close)		/* ready() ran it already */
		return;
	pthread_atfork(NULL, atfork_parent, atfork_child);

	real.bind = next("bind", false);
	real.connect = next("connect", false);
	real.recvfrom = next("recvfrom", false);
	real.recvmsg = next("recvmsg", false);
	real.recvmmsg = next("recvmmsg", false);
	real.read = next("read", false);
	real.readv = next("readv", false);
	real.setsockopt = next("setsockopt", false);
	real.fcntl = next("fcntl", false);
	real.ioctl = next("ioctl", false);
	real.poll = next("poll", false);
	real.ppoll = next("ppoll", false);
	real.select = next("select", false);
	real.pselect = next("pselect", false);
	real.epoll_ctl = next("epoll_ctl", false);
	real.epoll_wait = next("epoll_wait", false);
	real.epoll_pwait = next("epoll_pwait", false);
	real.epoll_pwait2 = next("epoll_pwait2", true);
	real.dup = next("dup", false);
	real.dup2 = next("dup2", false);
	real.dup3 = next("dup3", false);
	real.close_range = next("close_range", true);
	real.closefrom = next("closefrom", true);
	real.close = next("close", false);	/* last: ready() tests it */
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
	inherit_sockets();
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

static struct eset *elookup(int epfd)
{
	if (epfd < 0 || epfd >= MAXFD)
		return NULL;
	return atomic_load_explicit(&etable[epfd], memory_order_acquire);
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

/* An int socket option of the kernel socket, 0 when it cannot be read. */
static int sockopt_int(int fd, int level, int name)
{
	int v = 0;
	socklen_t l = sizeof(v);

	return getsockopt(fd, level, name, &v, &l) ? 0 : v;
}

/* Milliseconds of a SO_RCVTIMEO struct timeval, rounded up; 0: none. */
static int tv_ms(const struct timeval *tv)
{
	long long ms;

	if (tv->tv_sec < 0 || tv->tv_usec < 0)
		return 0;
	ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * What the program set on the kernel socket before bind(), read back once:
 * SO_RCVTIMEO, the control messages it asked for.  Later setsockopt() calls
 * are followed by setsockopt() below.
 */
static void read_options(int fd, struct entry *e)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);

	if (!getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l))
		e->rcvtimeo_ms = tv_ms(&tv);
	if (sockopt_int(fd, IPPROTO_IP, IP_PKTINFO))
		e->cmsg |= CM_PKTINFO4;
	if (e->v6 && sockopt_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO))
		e->cmsg |= CM_PKTINFO6;
	if (sockopt_int(fd, SOL_SOCKET, SO_TIMESTAMPNS))
		e->ts_type = SO_TIMESTAMPNS;
	else if (sockopt_int(fd, SOL_SOCKET, SO_TIMESTAMP))
		e->ts_type = SO_TIMESTAMP;
}

/* @sa as 16 bytes (IPv6, or v4-mapped) and a port; false if neither family. */
static bool addr16(const struct sockaddr_storage *sa, uint8_t *a, uint16_t *port)
{
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &in->sin_addr, 4);
		*port = in->sin_port;
		return true;
	}
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(a, &in6->sin6_addr, 16);
		*port = in6->sin6_port;
		return true;
	}
	return false;
}

/*
 * Which datagrams the kernel socket @fd takes now, read back from the
 * kernel (getsockname, getpeername, IPV6_V6ONLY), so that bind, connect
 * and its AF_UNSPEC undoing keep the kernel's own rules: after connect the
 * kernel sets the local address of a wildcard bind too, and disconnect
 * resets it.  Syscalls, but only at bind and connect.
 */
static void read_match(int fd, bool v6, struct udp_match *m)
{
	static const uint8_t mapped_any[16] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t any[16];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(m, 0, sizeof(*m));
	m->fams = UDP_MATCH_V4 | UDP_MATCH_V6;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) || !addr16(&ss, m->laddr, &m->port))
		return;
	if (!v6 || !memcmp(m->laddr, mapped_any, 12))
		m->fams = UDP_MATCH_V4;		/* AF_INET, or a v4-mapped address */
	else if (memcmp(m->laddr, any, 16) || sockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY))
		m->fams = UDP_MATCH_V6;		/* an IPv6 address, or v6only */
	m->has_laddr = memcmp(m->laddr, any, 16) && memcmp(m->laddr, mapped_any, 16);
	sl = sizeof(ss);
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl) && addr16(&ss, m->raddr, &m->rport))
		m->connected = 1;
}

/*
 * An unpublished lazy entry for UDP socket @fd (family @family, bound to
 * @port): the options and addresses the kernel socket has now, and the
 * kept-datagram buffer.  From the spare list when it can.  NULL: no memory.
 */
static struct entry *entry_new(int fd, int family, uint16_t port)
{
	struct entry *e;

	pthread_mutex_lock(&table_lock);
	e = spare;
	if (e)
		spare = e->next_spare;
	pthread_mutex_unlock(&table_lock);
	if (!e && !(e = calloc(1, sizeof(*e))))
		return NULL;
	/* users stays 0 (a late get() of its last life reads it) */
	memset((char *)e + sizeof(e->users), 0, sizeof(*e) - sizeof(e->users));
	e->keep = malloc(KEEP_CAP);
	if (!e->keep) {
		pthread_mutex_lock(&table_lock);
		e->next_spare = spare;
		spare = e;
		pthread_mutex_unlock(&table_lock);
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	atomic_store_explicit(&e->lazy, true, memory_order_relaxed);
	e->xfd = -1;
	e->refs = 1;
	e->port = port;
	e->kept = -1;
	e->v6 = family == AF_INET6;
	e->nonblock = real.fcntl(fd, F_GETFL) & O_NONBLOCK;
	read_options(fd, e);
	read_match(fd, e->v6, &e->match);
	return e;
}

/*
 * Give lazy @e its xsnap socket, on the process's connection to xsnapd
 * (made now if there is none: the first bind, or a fork child's first
 * use).  @when says what fails in strict mode ("bind", "receive").
 * Return 0, or -errno after one line on stderr.
 */
static int attach(struct entry *e, const char *when)
{
	struct xsnap_sock *xs;
	int err;

	pthread_mutex_lock(&table_lock);
	if (!atomic_load_explicit(&e->lazy, memory_order_relaxed)) {
		pthread_mutex_unlock(&table_lock);
		return 0;	/* another thread was first */
	}
	if (!ctx && !(ctx = xsnap_connect(NULL))) {
		err = errno;
		pthread_mutex_unlock(&table_lock);
		say_once(SAY_CONNECT, "port %u: %s%s%s (xsnapd: %s)", e->port,
			 strict ? "strict: " : "kernel socket", strict ? when : "",
			 strict ? " fails" : "", strerror(err));
		return -err;
	}
	xs = xsnap_socket(ctx, tenant, &sopts);
	if (!xs) {
		err = errno;
		pthread_mutex_unlock(&table_lock);
		say_once(SAY_SOCKET, "port %u: %s%s%s (tenant %s: %s)", e->port,
			 strict ? "strict: " : "kernel socket", strict ? when : "",
			 strict ? " fails" : "", tenant, strerror(err));
		return -err;
	}
	e->xs = xs;
	e->xfd = xsnap_fd(xs);
	e->gen = next_gen++;
	/* the daemon's interface, seen from here (same network namespace) */
	e->ifindex = (int)if_nametoindex(sock_ifname(xs));
	/* e->xs and e->xfd are written before a user sees lazy false */
	atomic_store_explicit(&e->lazy, false, memory_order_release);
	pthread_mutex_unlock(&table_lock);
	return 0;
}

/* The last reference is gone: close the xsnap socket, park @e. */
static void entry_release(struct entry *e)
{
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	if (!atomic_load_explicit(&e->lazy, memory_order_acquire))
		xsnap_sock_close(e->xs);
	pthread_mutex_destroy(&e->lock);
	free(e->keep);
	e->keep = NULL;
	pthread_mutex_lock(&table_lock);
	e->next_spare = spare;
	spare = e;
	pthread_mutex_unlock(&table_lock);
}

static void put(struct entry *e)
{
	if (e && atomic_fetch_sub_explicit(&e->users, 1, memory_order_acq_rel) == 1)
		entry_release(e);
}

/*
 * The entry @fd maps to, with a reference the caller put()s: one atomic
 * increment, no lock.  The increment is taken only while the entry is
 * alive (users > 0) and kept only if @fd still maps to it afterwards.
 */
static struct entry *get(int fd)
{
	for (;;) {
		struct entry *e = lookup(fd);
		int u;

		if (!e)
			return NULL;
		u = atomic_load_explicit(&e->users, memory_order_relaxed);
		while (u > 0 && !atomic_compare_exchange_weak_explicit(&e->users, &u, u + 1,
								      memory_order_acquire,
								      memory_order_relaxed))
			;
		if (u > 0 && lookup(fd) == e)
			return e;
		if (u > 0)
			put(e);
		/* released or remapped meanwhile: look again */
	}
}

/* Publish @e as what @fd maps to (one descriptor; users: the table's). */
static void publish(int fd, struct entry *e)
{
	struct entry *old;

	atomic_store_explicit(&e->users, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	pthread_mutex_lock(&table_lock);
	old = atomic_exchange_explicit(&table[fd], e, memory_order_acq_rel);
	if (old && --old->refs)
		old = NULL;
	pthread_mutex_unlock(&table_lock);
	put(old);
}

/* Map @fd (bound to @port) onto an xsnap socket.  Return 0 (mapped or
 * fallen back), or -errno in strict mode. */
static int map(int fd, uint16_t port, int family)
{
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
	e = entry_new(fd, family, port);
	if (!e)
		return strict ? -ENOMEM : 0;
	err = attach(e, "bind");
	if (err) {
		atomic_store_explicit(&e->users, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
		put(e);
		return strict ? err : 0;
	}
	publish(fd, e);
	return 0;
}

/*
 * exec: the new image's UDP sockets that were bound before it (passed
 * without close-on-exec, or by a socket-activating parent) are mapped by
 * the rules of bind(), lazily: each becomes a lazy entry here, the
 * constructor, and gets its xsnap socket at its first receive or readiness
 * call (attach()).  Copies of one socket (same inode) share an entry.
 * Only with a tenant; a few syscalls per descriptor, once.
 */
static void inherit_sockets(void)
{
	struct { ino_t ino; struct entry *e; } seen[64];
	int nseen = 0;
	struct dirent *de;
	DIR *d;

	if (!tenant || !(d = opendir("/proc/self/fd")))
		return;
	while ((de = readdir(d))) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = atoi(de->d_name), port;
		struct entry *e = NULL;
		struct stat st;

		if (de->d_name[0] == '.' || fd == dirfd(d) || fd >= MAXFD ||
		    sockopt_int(fd, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM ||
		    sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_UDP ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) ||
		    (port = addr_port((struct sockaddr *)&ss, sl)) <= 0 ||
		    !port_listed((uint16_t)port) || fstat(fd, &st))
			continue;
		for (int i = 0; i < nseen && !e; i++)
			if (seen[i].ino == st.st_ino)
				e = seen[i].e;
		if (e) {	/* a copy: the same entry */
			pthread_mutex_lock(&table_lock);
			e->refs++;
			atomic_store_explicit(&table[fd], e, memory_order_release);
			pthread_mutex_unlock(&table_lock);
			continue;
		}
		e = entry_new(fd, ss.ss_family, (uint16_t)port);
		if (!e)
			continue;
		publish(fd, e);
		if (nseen < (int)(sizeof(seen) / sizeof(seen[0])))
			seen[nseen++] = (typeof(seen[0])){ st.st_ino, e };
	}
	closedir(d);
}

/* Take @fd out of the table; its entry goes when no descriptor maps to it
 * and no call uses it any more. */
static void unmap(int fd)
{
	struct entry *e;
	bool last = false;

	if (fd < 0 || fd >= MAXFD)
		return;
	pthread_mutex_lock(&table_lock);
	e = atomic_exchange_explicit(&table[fd], NULL, memory_order_acq_rel);
	if (e)
		last = --e->refs == 0;
	pthread_mutex_unlock(&table_lock);
	if (last)
		put(e);
}

/* Every descriptor of @e reads its kernel socket from now on. */
static void unmap_all(struct entry *e)
{
	for (int i = 0; i < MAXFD; i++)
		if (atomic_load_explicit(&table[i], memory_order_relaxed) == e)
			unmap(i);
}

/*
 * get() for a receive or readiness call: a lazy entry gets its xsnap
 * socket now.  When that fails the socket is a kernel socket from now on
 * (NULL; in strict mode *@err is the errno for the receive call to fail
 * with, once).
 */
static struct entry *use(int fd, int *err)
{
	struct entry *e = get(fd);
	int r;

	*err = 0;
	if (!e)
		return NULL;
	if (__builtin_expect(!atomic_load_explicit(&e->used, memory_order_relaxed), 0))
		atomic_store_explicit(&e->used, true, memory_order_relaxed);
	if (__builtin_expect(!atomic_load_explicit(&e->lazy, memory_order_acquire), 1))
		return e;
	r = attach(e, "receive");
	if (!r)
		return e;
	unmap_all(e);
	put(e);
	if (strict)
		*err = -r;
	return NULL;
}

/*
 * @newfd is now a copy of @oldfd (dup, dup2, dup3, F_DUPFD): it maps to the
 * same entry (one xsnap socket for both, as they share one kernel socket),
 * and whatever @newfd mapped to before is let go.
 */
static void copied(int oldfd, int newfd)
{
	struct entry *e, *old = NULL;
	bool last = false;

	if (oldfd == newfd || newfd < 0)
		return;
	if (newfd >= MAXFD) {
		if (lookup(oldfd))
			say_once(SAY_DUP, "descriptor %d: a kernel socket (too high to map)", newfd);
		return;
	}
	pthread_mutex_lock(&table_lock);
	e = oldfd >= 0 && oldfd < MAXFD ? atomic_load(&table[oldfd]) : NULL;
	if (e)
		e->refs++;
	old = atomic_exchange_explicit(&table[newfd], e, memory_order_acq_rel);
	if (old)
		last = --old->refs == 0;
	pthread_mutex_unlock(&table_lock);
	if (last)
		put(old);
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
	    real.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
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
	r = map(fd, (uint16_t)port, addr->sa_family);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	errno = err;
	return 0;
}

/*
 * connect: the kernel's association, then the mapped socket takes only
 * what the kernel socket would: datagrams from the peer, to the local
 * address the kernel chose; AF_UNSPEC dissolves it (read_match()).  A
 * datagram already kept stays, as the kernel keeps its queue.
 */
PUBLIC int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct udp_match m;
	struct entry *e;
	int r, err;

	ready();
	r = real.connect(fd, addr, len);
	if (r < 0 || !(e = get(fd)))
		return r;
	err = errno;
	read_match(fd, e->v6, &m);
	pthread_mutex_lock(&e->lock);
	e->match = m;
	pthread_mutex_unlock(&e->lock);
	put(e);
	errno = err;
	return r;
}

/*
 * setsockopt: the kernel socket takes every option (getsockopt reads them
 * back); those that change what a receive returns are remembered on a
 * mapped socket.
 */
PUBLIC int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct entry *e;
	int r, on;

	ready();
	r = real.setsockopt(fd, level, name, val, len);
	if (r < 0 || !val || !(e = get(fd)))
		return r;
	on = len >= sizeof(int) && *(const int *)val;
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO_OLD || name == SO_RCVTIMEO_NEW) &&
	    len >= sizeof(struct timeval))
		e->rcvtimeo_ms = tv_ms(val);	/* the same layout on 64-bit targets */
	else if (level == SOL_SOCKET && (name == SO_TIMESTAMP_OLD || name == SO_TIMESTAMP_NEW ||
					 name == SO_TIMESTAMPNS_OLD ||
					 name == SO_TIMESTAMPNS_NEW))
		e->ts_type = on ? name : 0;
	else if (level == IPPROTO_IP && name == IP_PKTINFO)
		e->cmsg = on ? e->cmsg | CM_PKTINFO4 : e->cmsg & ~(unsigned int)CM_PKTINFO4;
	else if (level == IPPROTO_IPV6 && name == IPV6_RECVPKTINFO)
		e->cmsg = on ? e->cmsg | CM_PKTINFO6 : e->cmsg & ~(unsigned int)CM_PKTINFO6;
	put(e);
	return r;
}

/* Fill the kept datagram of @e without waiting.  Return 1 (kept), 0 (none),
 * -errno.  @e->lock held. */
static int keep_one(struct entry *e)
{
	ssize_t n;

	if (e->kept >= 0)
		return 1;
	e->kept_srclen = sizeof(e->kept_src);
	n = sock_recv_udp(e->xs, e->keep, KEEP_CAP, 0, 0, &e->match,
			  (struct sockaddr *)&e->kept_src,
			  &e->kept_srclen, &e->kept_meta);
	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return (int)n;
	e->kept = n;
	return 1;
}

/* The daemon went away or the tenant was deleted: unmap @fd, later calls
 * read the kernel socket.  Return true when the caller should fall back. */
static bool lost(struct entry *e, int err)
{
	if (err != ECONNRESET && err != ENOENT && err != ENETDOWN)
		return false;
	say_once(SAY_LOST, "port %u: %s (xsnap: %s)", e->port,
		 strict ? "strict: receive fails" : "kernel socket from now on", strerror(err));
	if (strict)
		return false;
	pthread_mutex_unlock(&e->lock);
	unmap_all(e);	/* the caller's reference keeps @e until it is done */
	return true;
}

/* What a receive call returns for a datagram of @full bytes into @cap. */
static ssize_t done(ssize_t full, size_t cap, int flags, int *msg_flags)
{
	if (msg_flags)
		*msg_flags = (size_t)full > cap ? MSG_TRUNC : 0;
	return (flags & MSG_TRUNC) || (size_t)full <= cap ? full : (ssize_t)cap;
}

/* Copy source address @ss to the program's @addr (*@alen bytes), v4-mapped
 * for an AF_INET6 socket, as the kernel writes it. */
static void put_addr(const struct entry *e, struct sockaddr *addr, socklen_t *alen,
		     const struct sockaddr_storage *ss, socklen_t sl)
{
	struct sockaddr_in6 m;

	if (!addr || !alen)
		return;
	if (e->v6 && ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		memset(&m, 0, sizeof(m));
		m.sin6_family = AF_INET6;
		m.sin6_port = in->sin_port;
		m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&m.sin6_addr.s6_addr[12], &in->sin_addr, 4);
		ss = (const struct sockaddr_storage *)&m;
		sl = sizeof(m);
	}
	memcpy(addr, ss, *alen < sl ? *alen : sl);
	*alen = sl;
}

/* The flags a receive on a mapped socket accepts (MSG_WAITALL means
 * nothing for a datagram; MSG_ERRQUEUE goes to the kernel socket). */
#define RECV_FLAGS (MSG_DONTWAIT | MSG_TRUNC | MSG_PEEK | MSG_NOSIGNAL | MSG_CMSG_CLOEXEC | \
		    MSG_WAITALL)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Take a datagram from the xsnap side of @e without waiting: the kept one,
 * or the next (straight into @msg's one buffer when it can).  @msg gets the
 * payload and the source; @um, if not NULL, the destination and time.
 * Return: the payload length (the full one with MSG_TRUNC), -EAGAIN (none
 * there), -errno.  @e->lock held.
 */
static ssize_t xsnap_take(struct entry *e, struct msghdr *msg, int flags, struct udp_meta *um,
			  int *msg_flags)
{
	const struct iovec *iov = msg->msg_iov;
	size_t iovcnt = msg->msg_iovlen, total = 0, left, n;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const uint8_t *p;
	ssize_t r;

	for (size_t i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (e->kept < 0 && iovcnt <= 1 && !(flags & MSG_PEEK)) {
		/* the common case: straight into the caller's buffer */
		r = sock_recv_udp(e->xs, iovcnt ? iov[0].iov_base : NULL, total, MSG_TRUNC, 0,
				  &e->match, (struct sockaddr *)&ss, &sl, um);
		if (r < 0)
			return r;
		e->taken++;
		put_addr(e, msg->msg_name, &msg->msg_namelen, &ss, sl);
		return done(r, total, flags, msg_flags);
	}
	if (e->kept < 0) {
		/* several iovecs, or MSG_PEEK: through the kept buffer */
		r = keep_one(e);
		if (r <= 0)
			return r ? r : -EAGAIN;
	}
	p = e->keep;
	left = (size_t)e->kept;
	for (size_t i = 0; i < iovcnt && left; i++) {
		n = iov[i].iov_len < left ? iov[i].iov_len : left;
		if (!n)
			continue;	/* an empty buffer may be NULL */
		memcpy(iov[i].iov_base, p, n);
		p += n;
		left -= n;
	}
	put_addr(e, msg->msg_name, &msg->msg_namelen, &e->kept_src, e->kept_srclen);
	if (um)
		*um = e->kept_meta;
	r = e->kept;
	if (!(flags & MSG_PEEK)) {
		e->kept = -1;
		e->taken++;
	}
	return done(r, total, flags, msg_flags);
}

/* Append a control message to @msg (its space used so far in *@used);
 * MSG_CTRUNC when it does not fit. */
static void put_cmsg(struct msghdr *msg, size_t *used, int level, int type, const void *data,
		     size_t len)
{
	struct cmsghdr *c;

	if (!msg->msg_control || *used + CMSG_SPACE(len) > msg->msg_controllen) {
		msg->msg_flags |= MSG_CTRUNC;
		return;
	}
	c = (struct cmsghdr *)((uint8_t *)msg->msg_control + *used);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	*used += CMSG_SPACE(len);
}

/*
 * The control messages the program asked for (setsockopt), from the
 * datagram's headers (@um): IP_PKTINFO (destination address; ifindex of
 * the interface xsnapd receives from), IPV6_PKTINFO (an IPv4 datagram's
 * destination v4-mapped), SO_TIMESTAMP(NS) (the frame's receive time,
 * CLOCK_MONOTONIC, moved to CLOCK_REALTIME by the clocks' offset now).
 */
static void put_cmsgs(const struct entry *e, struct msghdr *msg, const struct udp_meta *um)
{
	size_t used = 0;

	if ((e->cmsg & CM_PKTINFO4) && um->dst.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&um->dst;
		struct in_pktinfo pi = {
			.ipi_ifindex = e->ifindex,
			.ipi_spec_dst = in->sin_addr,
			.ipi_addr = in->sin_addr,
		};

		put_cmsg(msg, &used, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	}
	if (e->cmsg & CM_PKTINFO6) {
		struct in6_pktinfo pi = { .ipi6_ifindex = (unsigned int)e->ifindex };

		if (um->dst.ss_family == AF_INET6) {
			pi.ipi6_addr = ((const struct sockaddr_in6 *)&um->dst)->sin6_addr;
		} else {
			pi.ipi6_addr.s6_addr[10] = pi.ipi6_addr.s6_addr[11] = 0xff;
			memcpy(&pi.ipi6_addr.s6_addr[12],
			       &((const struct sockaddr_in *)&um->dst)->sin_addr, 4);
		}
		put_cmsg(msg, &used, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	}
	if (e->ts_type) {
		struct timespec mono, rt;
		int64_t ns, t[2];

		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &mono);
		ns = (int64_t)um->rx_ns + ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000 +
		     (rt.tv_nsec - mono.tv_nsec);
		t[0] = ns / 1000000000;
		t[1] = ns % 1000000000;
		if (e->ts_type == SO_TIMESTAMP_OLD || e->ts_type == SO_TIMESTAMP_NEW)
			t[1] /= 1000;	/* struct timeval: microseconds */
		/* struct timeval/timespec (OLD) and __kernel_sock_timeval/
		 * __kernel_timespec (NEW) are two 64-bit words on 64-bit targets */
		put_cmsg(msg, &used, SOL_SOCKET, e->ts_type, t, sizeof(t));
	}
	msg->msg_controllen = used;
}

/* Wait until @e's xsnap side or its kernel socket @fd (-1: none) may have
 * a datagram, at most @ms (< 0: no limit).  Return: > 0, 0 (time is up), -1 (errno). */
static int wait_either(int fd, struct entry *e, int ms)
{
	struct pollfd p[2] = { { .fd = e->xfd, .events = POLLIN }, { .fd = fd, .events = POLLIN } };

	return real.poll(p, 2, ms);
}

/*
 * The one receive path of recv, recvfrom, recvmsg, recvmmsg, read and readv
 * on a mapped socket: a datagram of the xsnap side (no syscall when one is
 * there), else one the kernel socket has (ports the tenant's rules do not
 * cover, local senders: the kernel sees those), else wait for either,
 * unless the call or the descriptor is non-blocking (EAGAIN), at most
 * SO_RCVTIMEO (then EAGAIN).  Returns what recvmsg(2) returns; *@fb set
 * when the xsnap side is gone and the caller must ask the kernel.
 */
static ssize_t xrecvmsg(int fd, struct entry *e, struct msghdr *msg, int flags, bool *fb)
{
	bool dontwait = (flags & MSG_DONTWAIT) || e->nonblock;
	long long deadline = 0;
	struct udp_meta um;
	bool want = e->cmsg || e->ts_type;
	socklen_t namelen = msg->msg_name ? msg->msg_namelen : 0;
	int mf = 0, left = -1;
	bool closed;
	ssize_t r;

	*fb = false;
	if (flags & ~RECV_FLAGS) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (!dontwait && e->rcvtimeo_ms > 0)
		deadline = now_ms() + e->rcvtimeo_ms;
	for (;;) {
		pthread_mutex_lock(&e->lock);
		msg->msg_namelen = namelen;
		r = xsnap_take(e, msg, flags, want ? &um : NULL, &mf);
		if (r >= 0) {
			pthread_mutex_unlock(&e->lock);
			if (!msg->msg_name)
				msg->msg_namelen = 0;
			msg->msg_flags = mf;
			if (want)
				put_cmsgs(e, msg, &um);
			else
				msg->msg_controllen = 0;
			return r;
		}
		if (r != -EAGAIN) {
			msg->msg_namelen = namelen;
			if (lost(e, (int)-r)) {	/* unlocked it */
				*fb = true;
				return -1;
			}
			pthread_mutex_unlock(&e->lock);
			errno = (int)-r;
			return -1;
		}
		pthread_mutex_unlock(&e->lock);
		/* closed by another thread while we wait: as the kernel holds
		 * the file for a blocked call, we keep waiting, on the xsnap
		 * side alone (the number may name another file now) */
		closed = __builtin_expect(lookup(fd) != e, 0);
		if (!closed) {
			msg->msg_namelen = namelen;
			r = real.recvmsg(fd, msg, flags | MSG_DONTWAIT);
			if (r >= 0 || errno != EAGAIN || dontwait)
				return r;
		} else if (dontwait) {
			errno = EAGAIN;
			return -1;
		}
		if (deadline && (left = (int)(deadline - now_ms())) <= 0) {
			errno = EAGAIN;
			return -1;
		}
		if (wait_either(closed ? -1 : fd, e, left) < 0)
			return -1;	/* EINTR */
	}
}

/* The mapped entry of @fd for a receive call with @flags (NULL: the kernel
 * socket's call; *@r = -1 when a strict lazy mapping failed, errno set). */
static struct entry *recv_entry(int fd, int flags, ssize_t *r)
{
	struct entry *e;
	int err;

	*r = 0;
	if (flags & MSG_ERRQUEUE)
		return NULL;
	e = use(fd, &err);
	if (err) {
		errno = err;
		*r = -1;
	}
	return e;
}

PUBLIC ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct entry *e;
	bool fb;
	ssize_t r;

	ready();
	if (!(e = recv_entry(fd, flags, &r)))
		return r ? r : real.recvmsg(fd, msg, flags);
	r = xrecvmsg(fd, e, msg, flags, &fb);
	put(e);
	return fb ? real.recvmsg(fd, msg, flags) : r;
}

PUBLIC ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
			socklen_t *srclen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct entry *e;
	bool fb;
	ssize_t r;

	ready();
	if (!(e = recv_entry(fd, flags, &r)))
		return r ? r : real.recvfrom(fd, buf, len, flags, src, srclen);
	if (src && srclen) {
		m.msg_name = src;
		m.msg_namelen = *srclen;
	}
	r = xrecvmsg(fd, e, &m, flags, &fb);
	put(e);
	if (fb)
		return real.recvfrom(fd, buf, len, flags, src, srclen);
	if (r >= 0 && src && srclen)
		*srclen = m.msg_namelen;
	return r;
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

/* readv(2) of a mapped socket: one datagram scattered over @iov. */
PUBLIC ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	struct entry *e;
	bool fb;
	ssize_t r;

	ready();
	r = 0;
	if (iovcnt < 0 || !(e = recv_entry(fd, 0, &r)))
		return r ? r : real.readv(fd, iov, iovcnt);
	r = xrecvmsg(fd, e, &m, 0, &fb);
	put(e);
	return fb ? real.readv(fd, iov, iovcnt) : r;
}

/* Milliseconds of @ts, rounded up; -1 for NULL (no limit). */
static int ts_ms(const struct timespec *ts)
{
	long long ms;

	if (!ts)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0)
		return 0;
	ms = (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * recvmmsg: up to @vlen datagrams, each as recvmsg() returns it.  As on
 * Linux, MSG_WAITFORONE makes the datagrams after the first non-blocking,
 * and @timeout is looked at after each datagram; an error after the first
 * datagram ends the call with the count.
 */
PUBLIC int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
		    struct timespec *timeout)
{
	long long deadline = 0;
	struct entry *e;
	unsigned int i;
	bool fb = false;
	ssize_t err;

	ready();
	if (!(e = recv_entry(fd, flags, &err)))
		return err ? -1 : real.recvmmsg(fd, vec, vlen, flags, timeout);
	if (timeout)
		deadline = now_ms() + ts_ms(timeout);
	for (i = 0; i < vlen; i++) {
		int f = flags & ~MSG_WAITFORONE;
		ssize_t r;

		if (i && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		r = xrecvmsg(fd, e, &vec[i].msg_hdr, f, &fb);
		if (r < 0)
			break;
		vec[i].msg_len = (unsigned int)r;
		if (timeout && now_ms() >= deadline) {
			i++;
			break;
		}
	}
	put(e);
	if (i)
		return (int)i;
	return fb ? real.recvmmsg(fd, vec, vlen, flags, timeout) : -1;
}

/* F_SETFL on a mapped descriptor: remember O_NONBLOCK (no F_GETFL per
 * receive); F_DUPFD(_CLOEXEC): the copy maps to the same socket.  Every
 * fcntl command takes at most one argument, an int or a pointer: passing
 * it on as a pointer is what glibc's own wrappers do. */
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
	if (r >= 0 && cmd == F_SETFL && (e = get(fd))) {
		e->nonblock = ((int)(intptr_t)arg & O_NONBLOCK) != 0;
		put(e);
	} else if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && lookup(fd))
		copied(fd, r);
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
	if (r >= 0 && req == FIONBIO && arg && (e = get(fd))) {
		e->nonblock = *(const int *)arg != 0;
		put(e);
	}
	return r;
}

/* The wait of poll(), ppoll() and the select family: ppoll when a signal
 * mask is to be set atomically with the wait. */
static int wait_fds(struct pollfd *v, nfds_t n, int timeout, const sigset_t *mask)
{
	struct timespec ts;

	if (!mask)
		return real.poll(v, n, timeout);
	ts.tv_sec = timeout / 1000;
	ts.tv_nsec = (long)(timeout % 1000) * 1000000;
	return real.ppoll(v, n, timeout < 0 ? NULL : &ts, mask);
}

/*
 * poll: each mapped descriptor becomes its xsnap_fd() for POLLIN, and its
 * kernel descriptor in an extra entry for every event (the kernel socket
 * receives what the tenant's rules do not steer); the xsnap side is
 * reported readable only when a datagram is kept (keep_one()).
 */
static int xpoll(struct pollfd *fds, nfds_t nfds, int timeout, const sigset_t *mask,
		 nfds_t mapped)
{
	struct pollfd stack[POLL_STACK], *v = stack;
	struct entry *estack[POLL_STACK], **ents = estack;
	nfds_t i, nv, cap, m = 0;
	long long deadline = timeout > 0 ? now_ms() + timeout : 0;
	int r, nready = 0, err;

	cap = nfds + mapped;	/* one extra entry per mapped descriptor at most */
	if (cap > POLL_STACK) {
		v = malloc(cap * sizeof(*v));
		ents = malloc(nfds * sizeof(*ents));
		if (!v || !ents) {
			free(v);
			free(ents);
			errno = ENOMEM;
			return -1;
		}
	}
	/* the entries, held for the call: a descriptor another thread closes
	 * meanwhile keeps its xsnap side until we return (as the kernel holds
	 * a polled file); at most the @mapped counted (@cap), one mapped
	 * meanwhile is polled as it was */
	for (i = 0; i < nfds; i++)
		if ((ents[i] = m < mapped ? use(fds[i].fd, &err) : NULL))
			m++;
	for (;;) {
		bool kept_any = false;

		nv = nfds;
		for (i = 0; i < nfds; i++) {
			struct entry *e = ents[i];

			v[i] = fds[i];
			fds[i].revents = 0;
			if (!e)
				continue;
			v[i].fd = e->xfd;
			v[i].events = fds[i].events & POLLIN;
			v[nv++] = fds[i];	/* the kernel socket: all events */
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
		r = wait_fds(v, nv, kept_any ? 0 : timeout, mask);
		if (r < 0)
			break;
		nready = 0;
		nv = nfds;
		for (i = 0; i < nfds; i++) {
			struct entry *e = ents[i];

			if (!e) {	/* not mapped */
				fds[i].revents = v[i].revents;
			} else {
				if (!fds[i].revents &&
				    (v[i].revents & (POLLIN | POLLERR | POLLHUP))) {
					pthread_mutex_lock(&e->lock);
					if (keep_one(e) != 0)
						fds[i].revents = POLLIN;
					pthread_mutex_unlock(&e->lock);
				}
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
	err = errno;
	for (i = 0; i < nfds; i++)
		put(ents[i]);
	if (v != stack) {
		free(v);
		free(ents);
	}
	errno = err;
	return r < 0 ? -1 : nready;
}

/* How many of @fds are mapped. */
static nfds_t count_mapped(const struct pollfd *fds, nfds_t nfds)
{
	nfds_t mapped = 0;

	for (nfds_t i = 0; i < nfds; i++)
		if (lookup(fds[i].fd))
			mapped++;
	return mapped;
}

PUBLIC int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	nfds_t mapped;

	ready();
	mapped = count_mapped(fds, nfds);
	if (!mapped)
		return real.poll(fds, nfds, timeout);
	return xpoll(fds, nfds, timeout, NULL, mapped);
}

/* ppoll: poll() above with the signal mask set atomically with each wait
 * (glibc's wrapper does not report the time left in *@ts either). */
PUBLIC int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *ts,
		 const sigset_t *mask)
{
	nfds_t mapped;

	ready();
	mapped = count_mapped(fds, nfds);
	if (!mapped)
		return real.ppoll(fds, nfds, ts, mask);
	return xpoll(fds, nfds, ts_ms(ts), mask, mapped);
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
 * become a pollfd array (on the stack) for xpoll() above, and back; the
 * descriptor sets are rewritten as select(2) does.
 */
static int select_by_poll(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int timeout,
			  const sigset_t *mask)
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
	r = xpoll(pv, n, timeout, mask, count_mapped(pv, n));
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
			   tv ? (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000) : -1, NULL);
	if (tv) {	/* Linux select(2) leaves the time not slept in *tv */
		left = tv->tv_sec * 1000LL + tv->tv_usec / 1000 - (now_ms() - t0);
		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000;
		tv->tv_usec = (left % 1000) * 1000;
	}
	return r;
}

/* pselect: the signal mask is set atomically with the wait (ppoll). */
PUBLIC int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		   const sigset_t *mask)
{
	ready();
	if (!any_mapped(nfds, rd))
		return real.pselect(nfds, rd, wr, ex, ts, mask);
	return select_by_poll(nfds, rd, wr, ex, ts_ms(ts), mask);
}

/* ---- epoll (docs/design.md, "epoll") ---- */

#define EV_IN (EPOLLIN | EPOLLRDNORM)
#define EPOLL_READY_MAX 64	/* mapped sockets reported by one epoll_wait */

/* The eset of @epfd, made on first use (@epfd is known to be an epoll
 * descriptor: a registration in it just succeeded). */
static struct eset *eset_get(int epfd)
{
	struct epoll_event tag = { .events = EPOLLIN | EPOLLET };
	struct eset *es = elookup(epfd);

	if (es || epfd >= MAXFD)
		return es;
	es = calloc(1, sizeof(*es));
	if (!es)
		return NULL;
	es->inner = epoll_create1(EPOLL_CLOEXEC);
	tag.data.ptr = es;
	if (es->inner < 0 || real.epoll_ctl(epfd, EPOLL_CTL_ADD, es->inner, &tag) < 0) {
		if (es->inner >= 0)
			real.close(es->inner);
		free(es);
		return NULL;
	}
	pthread_mutex_init(&es->lock, NULL);
	pthread_mutex_lock(&table_lock);
	if (elookup(epfd)) {	/* another thread was first: use its */
		struct eset *other = elookup(epfd);

		pthread_mutex_unlock(&table_lock);
		real.close(es->inner);	/* leaves the program's set with it */
		pthread_mutex_destroy(&es->lock);
		free(es);
		return other;
	}
	atomic_store_explicit(&etable[epfd], es, memory_order_release);
	pthread_mutex_unlock(&table_lock);
	return es;
}

static void eset_free(struct eset *es)
{
	real.close(es->inner);
	pthread_mutex_destroy(&es->lock);
	free(es->rec);
	free(es);
}

static struct erec *erec_find(struct eset *es, int fd)
{
	for (int i = 0; i < es->n; i++)
		if (es->rec[i].fd == fd)
			return &es->rec[i];
	return NULL;
}

/* Forget record @r of @es; @live: its xsnap socket is open, take its
 * descriptor out of the shadow unless another record has it.  es->lock. */
static void erec_drop(struct eset *es, struct erec *r, bool live)
{
	int xfd = r->xfd;

	*r = es->rec[--es->n];
	if (!live)
		return;		/* closed: the kernel took it out of the shadow */
	for (int i = 0; i < es->n; i++)
		if (es->rec[i].xfd == xfd)
			return;
	real.epoll_ctl(es->inner, EPOLL_CTL_DEL, xfd, NULL);
}

/* Record (or update) mapped socket @fd of @es for the program's @ev.
 * es->lock.  Return 0 or -1 with errno. */
static int erec_set(struct eset *es, int fd, struct entry *e, const struct epoll_event *ev)
{
	struct epoll_event xev = { .events = EPOLLIN };
	struct erec *r = erec_find(es, fd);

	if (r && r->gen != e->gen) {	/* a record of a socket gone */
		erec_drop(es, r, false);
		r = NULL;
	}
	if (!r) {
		if (es->n == es->cap) {
			int cap = es->cap ? 2 * es->cap : 8;
			struct erec *v = realloc(es->rec, (size_t)cap * sizeof(*v));

			if (!v) {
				errno = ENOMEM;
				return -1;
			}
			es->rec = v;
			es->cap = cap;
		}
		r = &es->rec[es->n++];
		*r = (struct erec){ .fd = fd, .xfd = e->xfd, .gen = e->gen };
		if (real.epoll_ctl(es->inner, EPOLL_CTL_ADD, e->xfd, &xev) < 0 && errno != EEXIST) {
			es->n--;
			return -1;
		}
	}
	r->events = ev->events;
	r->data = ev->data;
	r->armed = true;
	r->off = false;
	pthread_mutex_lock(&e->lock);
	r->taken = e->taken;
	r->head = sock_rx_head(e->xs);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/*
 * epoll_ctl: the kernel descriptor is registered as the program asks (it
 * answers the other events, and EPOLLIN for what the kernel socket
 * receives); a mapped socket asked for EPOLLIN also gets a record in the
 * set's eset, which answers EPOLLIN for its xsnap side.  Anything else
 * passes through (and drops a record left for that descriptor).
 */
PUBLIC int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	bool in = (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev && (ev->events & EV_IN);
	struct eset *es = elookup(epfd);
	struct entry *e;
	struct erec *r;
	int ret, err;

	ready();
	e = in && epfd < MAXFD ? use(fd, &err) : get(fd);
	if (!e || !in || epfd >= MAXFD) {
		if (e && in)
			say_once(SAY_EPOLL, "epoll descriptor %d too high: port %u not readable in it",
				 epfd, e->port);
		ret = real.epoll_ctl(epfd, op, fd, ev);
		if (ret == 0 && es) {
			pthread_mutex_lock(&es->lock);
			if ((r = erec_find(es, fd)))
				erec_drop(es, r, e && e->gen == r->gen);
			pthread_mutex_unlock(&es->lock);
		}
		err = errno;
		put(e);
		errno = err;
		return ret;
	}
	ret = real.epoll_ctl(epfd, op, fd, ev);
	if (ret < 0) {
		err = errno;
		put(e);
		errno = err;
		return ret;
	}
	if (!es)
		es = eset_get(epfd);
	if (es) {
		pthread_mutex_lock(&es->lock);
		ret = erec_set(es, fd, e, ev);
		pthread_mutex_unlock(&es->lock);
	} else {
		ret = -1;
	}
	err = errno;
	if (ret < 0 && op == EPOLL_CTL_ADD)	/* the set as it was, as far as it goes */
		real.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	put(e);
	errno = err;
	return ret;
}

/*
 * The records of @es that are readable now, up to @max, their indexes in
 * @idx.  Every record's socket is looked at (keep_one()): that also empties
 * its notify pipe and arms it, so the shadow wakes for the next datagram.
 * A record whose socket is gone (fallen back to the kernel socket, or a
 * fork child's) is dropped: the kernel descriptor answers alone.  es->lock.
 */
static int gather(struct eset *es, int *idx, int max)
{
	int k = 0;

	for (int i = 0; i < es->n; i++) {
		struct erec *r = &es->rec[i];
		struct entry *e = get(r->fd);
		int rv;

		if (!e || atomic_load_explicit(&e->lazy, memory_order_acquire) || e->gen != r->gen) {
			/* gone, or a fork child's copy of the parent's */
			put(e);
			erec_drop(es, r, false);
			i--;
			continue;
		}
		pthread_mutex_lock(&e->lock);
		rv = keep_one(e);
		if (rv < 0 && !r->err) {
			/* xfd stays readable: out of the shadow, reported as
			 * EPOLLERR until the program's receive sees the error */
			r->err = true;
			real.epoll_ctl(es->inner, EPOLL_CTL_DEL, r->xfd, NULL);
		}
		if (rv != 0 && !r->off && k < max &&
		    (!(r->events & EPOLLET) || r->armed || r->taken != e->taken ||
		     sock_rx_head(e->xs) != r->head))
			idx[k++] = i;
		pthread_mutex_unlock(&e->lock);
		put(e);
	}
	return k;
}

/* Take the shadow's tag events out of @ev; *@tagged when there was one. */
static int strip_tag(const struct eset *es, struct epoll_event *ev, int n, bool *tagged)
{
	int m = 0;

	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == es) {
			*tagged = true;
			continue;
		}
		ev[m++] = ev[i];
	}
	return m;
}

/*
 * Add the readable records @idx (@k of them) to the @n events of @ev (at
 * most @max), each an event of its own: a kernel event with the same data
 * may be another descriptor's (the program may give two registrations one
 * data), so nothing is merged; the kernel descriptor of a mapped socket
 * reports its other events (EPOLLOUT) apart.  Mark them reported; an
 * EPOLLET record notes the log's head and arms xsnap_fd(), so that the
 * next frame is a new edge even if the program reads nothing.  es->lock.
 * Return the events.
 */
static int place(struct eset *es, struct epoll_event *ev, int n, int max, const int *idx, int k)
{
	for (int j = 0; j < k && n < max; j++) {
		struct erec *r = &es->rec[idx[j]];
		struct entry *e = get(r->fd);

		ev[n].events = (r->events & EV_IN) | (r->err ? EPOLLERR : 0);
		ev[n++].data = r->data;
		r->armed = false;
		if (e && !atomic_load_explicit(&e->lazy, memory_order_acquire) && e->gen == r->gen) {
			pthread_mutex_lock(&e->lock);
			r->taken = e->taken;
			if (r->events & EPOLLET)
				r->head = sock_rx_mark(e->xs);
			pthread_mutex_unlock(&e->lock);
		}
		put(e);
		if (r->events & EPOLLONESHOT)
			r->off = true;
	}
	return n;
}

/*
 * epoll_wait and its kin on a set with mapped sockets: records readable now
 * are reported with whatever the kernel has ready (a wait of 0 ms, the
 * program's own call); otherwise the kernel's wait covers the shadow too,
 * and its tag wakes us to look at the records.  A wake-up that brings
 * nothing waits again for the time left.
 */
static int ewait(int epfd, struct eset *es, struct epoll_event *ev, int max, int timeout,
		 const sigset_t *mask)
{
	long long deadline = timeout > 0 ? now_ms() + timeout : 0;
	int idx[EPOLL_READY_MAX];

	for (;;) {
		bool tagged = false;
		int k, n, room;

		pthread_mutex_lock(&es->lock);
		k = gather(es, idx, max < EPOLL_READY_MAX ? max : EPOLL_READY_MAX);
		if (k) {
			/* leave the kernel's ready descriptors a turn now and then
			 * when the records alone would fill @ev */
			room = max - k;
			if (room <= 0 && (es->turn++ & 1))
				room = max;
			n = room > 0 ? real.epoll_pwait(epfd, ev, room, 0, mask) : 0;
			if (n < 0) {
				pthread_mutex_unlock(&es->lock);
				return -1;
			}
			n = place(es, ev, strip_tag(es, ev, n, &tagged), max, idx, k);
			pthread_mutex_unlock(&es->lock);
			return n;
		}
		pthread_mutex_unlock(&es->lock);
		n = real.epoll_pwait(epfd, ev, max, timeout, mask);
		if (n < 0)
			return -1;
		n = strip_tag(es, ev, n, &tagged);
		if (tagged) {
			pthread_mutex_lock(&es->lock);
			k = gather(es, idx, max < EPOLL_READY_MAX ? max : EPOLL_READY_MAX);
			n = place(es, ev, n, max, idx, k);
			pthread_mutex_unlock(&es->lock);
		}
		if (n || timeout == 0)
			return n;
		if (timeout > 0 && (timeout = (int)(deadline - now_ms())) <= 0)
			return 0;
	}
}

PUBLIC int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	struct eset *es = elookup(epfd);

	ready();
	if (!es || max <= 0)
		return real.epoll_wait(epfd, ev, max, timeout);
	return ewait(epfd, es, ev, max, timeout, NULL);
}

PUBLIC int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
		       const sigset_t *mask)
{
	struct eset *es = elookup(epfd);

	ready();
	if (!es || max <= 0)
		return real.epoll_pwait(epfd, ev, max, timeout, mask);
	return ewait(epfd, es, ev, max, timeout, mask);
}

/* epoll_pwait2 (glibc >= 2.35): its timeout rounded up to milliseconds. */
PUBLIC int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts,
			const sigset_t *mask)
{
	struct eset *es = elookup(epfd);

	ready();
	if (!real.epoll_pwait2) {
		errno = ENOSYS;
		return -1;
	}
	if (!es || max <= 0)
		return real.epoll_pwait2(epfd, ev, max, ts, mask);
	return ewait(epfd, es, ev, max, ts_ms(ts), mask);
}

/* ---- descriptors ---- */

/* @fd goes away: a mapped socket's entry (when no copy is left), an epoll
 * set's eset. */
static void forget(int fd)
{
	struct eset *es;

	if (fd < 0 || fd >= MAXFD)
		return;
	if (lookup(fd))
		unmap(fd);
	if (elookup(fd)) {
		pthread_mutex_lock(&table_lock);
		es = atomic_exchange_explicit(&etable[fd], NULL, memory_order_acq_rel);
		pthread_mutex_unlock(&table_lock);
		if (es)
			eset_free(es);
	}
}

PUBLIC int close(int fd)
{
	ready();
	forget(fd);
	return real.close(fd);
}

/* close_range (glibc >= 2.34): CLOSE_RANGE_CLOEXEC only marks them. */
PUBLIC int close_range(unsigned int first, unsigned int last, int flags)
{
	int r;

	ready();
	if (!real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	r = real.close_range(first, last, flags);
	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned int fd = first; fd <= last && fd < MAXFD; fd++)
			forget((int)fd);
	return r;
}

PUBLIC void closefrom(int first)
{
	ready();
	if (real.closefrom)
		real.closefrom(first);
	for (int fd = first < 0 ? 0 : first; fd < MAXFD; fd++)
		forget(fd);
}

/*
 * dup, dup2, dup3: the copy of a mapped descriptor maps to the same xsnap
 * socket (refcounted); dup2/dup3 onto a mapped number close it first, as the
 * kernel does (its entry goes when it was the last copy).
 */
PUBLIC int dup(int fd)
{
	int r;

	ready();
	r = real.dup(fd);
	if (r >= 0 && lookup(fd))
		copied(fd, r);
	return r;
}

PUBLIC int dup2(int oldfd, int newfd)
{
	int r;

	ready();
	r = real.dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd) {
		if (elookup(newfd))
			forget(newfd);
		copied(oldfd, newfd);
	}
	return r;
}

PUBLIC int dup3(int oldfd, int newfd, int flags)
{
	int r;

	ready();
	r = real.dup3(oldfd, newfd, flags);
	if (r >= 0) {
		if (elookup(newfd))
			forget(newfd);
		copied(oldfd, newfd);
	}
	return r;
}
