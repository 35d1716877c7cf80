// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * preload_prog: an ordinary UDP receiver (plain libc socket calls, nothing
 * of xsnap) for tests/netns/test_preload.sh, run under xsnap-run.  It binds
 * PORT, prints "bound" once ready, receives the N datagrams that
 * tests/lib/udp_payloads.py sends (datagram i: "%06d:" then i*37 % 1400
 * bytes of a pattern) and checks the count, order and every byte of each,
 * the way MODE receives them:
 *
 *   preload_prog MODE PORT N [-s SRC] [-d DST] [-i IFNAME] [-6] [-P PHASE]
 *
 *   mmsg      recvmmsg(MSG_WAITFORONE) into 16 buffers; the source address
 *             of each is SRC
 *   peek      MSG_PEEK of the header, MSG_PEEK|MSG_TRUNC for the full length,
 *             then the datagram (odd ones into a buffer one byte short:
 *             MSG_TRUNC in msg_flags, the prefix intact); readv for some
 *   cmsg      IP_PKTINFO (set before bind) and SO_TIMESTAMPNS (after):
 *             destination DST, ifindex of IFNAME, a receive time between
 *             the start and now; the first datagram with room for one
 *             message only (MSG_CTRUNC).  With -6: an AF_INET6 socket on ::,
 *             IPV6_RECVPKTINFO and SO_TIMESTAMP, IPv4 datagrams v4-mapped
 *             (SRC and DST IPv4 addresses) or IPv6 ones (IPv6 addresses)
 *   nonblock  recv(MSG_DONTWAIT) and, after O_NONBLOCK, recv: EAGAIN before
 *             anything is sent; then ppoll and drain until EAGAIN
 *   timeo     SO_RCVTIMEO 300 ms (before bind): a recv with nothing sent
 *             fails with EAGAIN after 0.25..3 s; then 600 ms (after bind):
 *             the N datagrams (EAGAIN while waiting for the first is
 *             retried), then one more recv times out after >= 0.55 s
 *   epollet   non-blocking socket EPOLLIN|EPOLLET and a pipe (LT) in one
 *             epoll set: the pipe's byte is reported alone before anything
 *             is sent; the first socket event is not repeated without a
 *             read (edge), each event drains until EAGAIN; the pipe written
 *             again half-way is reported with the socket's events
 *   epolllt   level-triggered, maxevents 1, one datagram per event, beside a
 *             pipe that stays readable: both keep being reported
 *   threads   four threads in blocking recv (SO_RCVTIMEO 200 ms) on one
 *             socket: each datagram goes to exactly one of them
 *   dup       dup, F_DUPFD_CLOEXEC, dup2 copies, the original closed; a
 *             forked child closes its copies and exits; thirds of the
 *             datagrams through each copy (recv, read, recvfrom); then exec
 *             of "fdcheck": a copy without close-on-exec survives, the one
 *             with it and every descriptor of the shim are gone
 *   demux     (-s SRC -d DST) sockets as the kernel demultiplexes:
 *             A 0.0.0.0:PORT, D 127.0.0.1:PORT, E [::]:PORT IPV6_V6ONLY,
 *             B DST:PORT+4, C 0.0.0.0:PORT+5 connected to SRC:7000; what
 *             "send" sends (phase 1): A, B and C each get datagrams
 *             0..N-1 whole and in order (C from port 7000 only); then C
 *             connects to AF_UNSPEC ("phase2") and gets phase 2's N..2N-1
 *             from port 7001; D, E, and A and B after their N, get nothing
 *   send      (-d DST -P PHASE, in the sending namespace) phase 1: for each
 *             i < N, from port 7000 to PORT, PORT+4, then from 7001 to
 *             PORT+5 (datagram 100000+i: C must not get it), from 7000 to
 *             PORT+5; phase 2: N..2N-1 from 7001 to PORT+5
 *   fork      a child forked after bind receives (its first receive maps
 *             it; it says so through a pipe before "bound"): the parent
 *             and the child each get all N (fan-out)
 *   forkidle  the parent binds, forks and never receives; the child gets
 *             all N (more than the tenant's quota: the parent's unused
 *             socket must not hold the log back)
 *   forkshare the same under --share: parent and child split the N
 *             between them (every datagram once in all, both some)
 *   exec      receives N/2, then execs "execrecv" with the descriptor
 *             (no close-on-exec): the new image says "bound2" after its
 *             first receive and gets N/2..N-1
 *   closerace three sockets, a thread blocked in each (recv, poll,
 *             epoll_wait); all three closed under them, then "bound": the
 *             recv returns datagram 0 then EBADF, poll POLLIN (or
 *             POLLNVAL), epoll_wait no event (the set forgot the socket)
 *   epolldata two mapped sockets and a pipe in one epoll set, all with
 *             data 42, all readable: three events, not one
 *   etnew     EPOLLET: an event, none again without a read, "edge1"; the
 *             next datagram is a new edge: reported again; both read
 *
 * Exit 0 and "ok MODE N" when every datagram was right; 1 with the reason.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF 2048

static const char *mode, *src_ip, *dst_ip, *ifname;
static int port, count, phase;
static bool v6;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", mode);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

/* Datagram @i as udp_payloads.py makes it; its length. */
static size_t payload(int i, uint8_t *p)
{
	size_t n = (size_t)(i * 37 % 1400);

	char head[16];

	snprintf(head, sizeof(head), "%06d:", i % 1000000);
	memcpy(p, head, 7);
	for (size_t k = 0; k < n; k++)
		p[7 + k] = (uint8_t)((i * 7 + (int)k) & 0xff);
	return 7 + n;
}

/* @got (@len bytes) is datagram @i, whole. */
static void check(int i, const uint8_t *got, ssize_t len)
{
	uint8_t want[BUF];
	size_t n = payload(i, want);

	if (len < 0)
		die("datagram %d: receive failed: %s", i, strerror(errno));
	if ((size_t)len != n || memcmp(got, want, n))
		die("datagram %d: %zd bytes, not the %zu sent (starts '%.7s')", i, len, n,
		    (const char *)got);
}

static long long now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int udp_socket(int type_flags)
{
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | type_flags, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	return s;
}

static void do_bind(int s)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
				    .sin6_addr = IN6ADDR_ANY_INIT };
	int off = 0;

	if (v6 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)))
		die("IPV6_V6ONLY: %s", strerror(errno));
	if (v6 ? bind(s, (struct sockaddr *)&in6, sizeof(in6)) :
		 bind(s, (struct sockaddr *)&in, sizeof(in)))
		die("bind: %s", strerror(errno));
}

static void bound(void)
{
	printf("bound\n");
	fflush(stdout);
}

/* The source address @sa is SRC (v4-mapped on an AF_INET6 socket). */
static void check_src(int i, const struct sockaddr_storage *sa, socklen_t len)
{
	char a[INET6_ADDRSTRLEN] = "?", want[64];

	if (!src_ip)
		return;
	if (v6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		/* an IPv4 source is v4-mapped */
		snprintf(want, sizeof(want), strchr(src_ip, ':') ? "%s" : "::ffff:%s", src_ip);
		if (sa->ss_family != AF_INET6 || len != sizeof(*in6))
			die("datagram %d: source family %d length %u", i, sa->ss_family, len);
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		snprintf(want, sizeof(want), "%s", src_ip);
		if (sa->ss_family != AF_INET || len != sizeof(*in))
			die("datagram %d: source family %d length %u", i, sa->ss_family, len);
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
	}
	if (strcmp(a, want))
		die("datagram %d: source %s, not %s", i, a, want);
}

static void run_mmsg(char *self __attribute__((unused)))
{
	struct mmsghdr v[16];
	struct iovec iov[16];
	struct sockaddr_storage sa[16];
	static uint8_t buf[16][BUF];
	int s = udp_socket(0), got = 0, calls = 0, most = 0;

	do_bind(s);
	bound();
	while (got < count) {
		int r;

		for (int k = 0; k < 16; k++) {
			iov[k] = (struct iovec){ buf[k], BUF };
			v[k].msg_hdr = (struct msghdr){ .msg_name = &sa[k],
							.msg_namelen = sizeof(sa[k]),
							.msg_iov = &iov[k], .msg_iovlen = 1 };
		}
		r = recvmmsg(s, v, 16, MSG_WAITFORONE, NULL);
		if (r <= 0)
			die("recvmmsg returned %d: %s", r, strerror(errno));
		calls++;
		most = r > most ? r : most;
		for (int k = 0; k < r; k++, got++) {
			if (got >= count)
				die("more than %d datagrams", count);
			check(got, buf[k], v[k].msg_len);
			check_src(got, &sa[k], v[k].msg_hdr.msg_namelen);
		}
	}
	printf("recvmmsg: %d calls, at most %d datagrams in one\n", calls, most);
}

static void run_peek(char *self __attribute__((unused)))
{
	uint8_t buf[BUF], want[BUF];
	int s = udp_socket(0);

	do_bind(s);
	bound();
	for (int i = 0; i < count; i++) {
		size_t n = payload(i, want);
		char head[8] = "";
		ssize_t r;

		r = recv(s, head, 7, MSG_PEEK);
		if (r != 7 || memcmp(head, want, 7))
			die("datagram %d: MSG_PEEK gave %zd bytes '%.7s'", i, r, head);
		r = recv(s, NULL, 0, MSG_PEEK | MSG_TRUNC);
		if (r != (ssize_t)n)
			die("datagram %d: MSG_PEEK|MSG_TRUNC says %zd bytes, not %zu", i, r, n);
		if (i % 2) {
			struct iovec iov = { buf, n - 1 };
			struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

			r = recvmsg(s, &m, 0);
			if (r != (ssize_t)n - 1 || !(m.msg_flags & MSG_TRUNC) ||
			    memcmp(buf, want, n - 1))
				die("datagram %d: one byte short: %zd bytes, msg_flags %#x", i, r,
				    m.msg_flags);
		} else if (i % 4 == 0) {
			/* readv: the header and the rest in two buffers */
			struct iovec iov[2] = { { buf, 3 }, { buf + 3, BUF - 3 } };

			check(i, buf, readv(s, iov, 2));
		} else {
			check(i, buf, recv(s, buf, BUF, MSG_TRUNC));
		}
	}
}

static void run_cmsg(char *self __attribute__((unused)))
{
	uint8_t buf[BUF];
	union {
		struct cmsghdr c;
		uint8_t b[512];
	} ctl;
	long long t0 = now_ns(CLOCK_REALTIME);
	int s = udp_socket(0), one = 1;
	unsigned int ifx = if_nametoindex(ifname ? ifname : "lo");
	char want[64];

	if (!ifname || !dst_ip || !ifx)
		die("cmsg needs -d DST and -i IFNAME (an interface here)");
	snprintf(want, sizeof(want), v6 && !strchr(dst_ip, ':') ? "::ffff:%s" : "%s", dst_ip);
	/* the packet-info option before bind, the time stamp after it */
	if (v6 ? setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) :
		 setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)))
		die("pktinfo: %s", strerror(errno));
	do_bind(s);
	if (setsockopt(s, SOL_SOCKET, v6 ? SO_TIMESTAMP : SO_TIMESTAMPNS, &one, sizeof(one)))
		die("timestamp: %s", strerror(errno));
	bound();
	for (int i = 0; i < count; i++) {
		struct sockaddr_storage sa;
		struct iovec iov = { buf, BUF };
		struct msghdr m = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
				    .msg_iovlen = 1, .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b) };
		bool info = false, stamp = false;
		char a[INET6_ADDRSTRLEN] = "?";
		unsigned int idx = 0;
		long long t = 0;

		if (i == 0)	/* room for the packet info only */
			m.msg_controllen = v6 ? CMSG_SPACE(sizeof(struct in6_pktinfo)) :
						CMSG_SPACE(sizeof(struct in_pktinfo));
		check(i, buf, recvmsg(s, &m, 0));
		check_src(i, &sa, m.msg_namelen);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (!v6 && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				inet_ntop(AF_INET, &pi.ipi_addr, a, sizeof(a));
				idx = (unsigned int)pi.ipi_ifindex;
				info = true;
			} else if (v6 && c->cmsg_level == IPPROTO_IPV6 &&
				   c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				inet_ntop(AF_INET6, &pi.ipi6_addr, a, sizeof(a));
				idx = pi.ipi6_ifindex;
				info = true;
			} else if (!v6 && c->cmsg_level == SOL_SOCKET &&
				   c->cmsg_type == SO_TIMESTAMPNS) {
				struct timespec ts;

				memcpy(&ts, CMSG_DATA(c), sizeof(ts));
				t = ts.tv_sec * 1000000000LL + ts.tv_nsec;
				stamp = true;
			} else if (v6 && c->cmsg_level == SOL_SOCKET &&
				   c->cmsg_type == SO_TIMESTAMP) {
				struct timeval tv;

				memcpy(&tv, CMSG_DATA(c), sizeof(tv));
				t = tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
				stamp = true;
			} else {
				die("datagram %d: control message %d/%d not asked for", i,
				    c->cmsg_level, c->cmsg_type);
			}
		}
		if (!info || strcmp(a, want) || idx != ifx)
			die("datagram %d: packet info %s, destination %s ifindex %u (want %s %u)",
			    i, info ? "present" : "missing", a, idx, want, ifx);
		if (i == 0) {
			if (stamp || !(m.msg_flags & MSG_CTRUNC))
				die("datagram 0: a short control buffer: time stamp %d, flags %#x",
				    stamp, m.msg_flags);
			continue;
		}
		if (m.msg_flags & MSG_CTRUNC)
			die("datagram %d: MSG_CTRUNC with room", i);
		/* a microsecond stamp may be up to 1 us below the start */
		if (!stamp || t < t0 - 1000 || t > now_ns(CLOCK_REALTIME))
			die("datagram %d: time stamp %s %lld, not between the start %lld and now",
			    i, stamp ? "present" : "missing", t, t0);
	}
}

/* Receive from non-blocking @s until EAGAIN, checking each datagram;
 * *@got counts them. */
static void drain(int s, int *got)
{
	uint8_t buf[BUF];
	ssize_t r;

	while ((r = recv(s, buf, BUF, 0)) >= 0) {
		if (*got >= count)
			die("more than %d datagrams", count);
		check((*got)++, buf, r);
	}
	if (errno != EAGAIN)
		die("recv: %s", strerror(errno));
}

static void expect_eagain(int s, int flags, const char *what)
{
	uint8_t buf[BUF];
	ssize_t r = recv(s, buf, BUF, flags);

	if (r != -1 || (errno != EAGAIN && errno != EWOULDBLOCK))
		die("%s: %zd (%s), not EAGAIN", what, r, r < 0 ? strerror(errno) : "data");
}

static void run_nonblock(char *self __attribute__((unused)))
{
	int s = udp_socket(0), got = 0, polls = 0;

	do_bind(s);
	expect_eagain(s, MSG_DONTWAIT, "recv(MSG_DONTWAIT) before anything was sent");
	if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK))
		die("O_NONBLOCK: %s", strerror(errno));
	expect_eagain(s, 0, "recv on O_NONBLOCK before anything was sent");
	bound();
	while (got < count) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		struct timespec ts = { 10, 0 };

		if (ppoll(&p, 1, &ts, NULL) != 1 || !(p.revents & POLLIN))
			die("ppoll: nothing within 10 s after %d datagrams", got);
		polls++;
		drain(s, &got);
	}
	printf("nonblock: %d ppoll wake-ups\n", polls);
}

static void set_timeo(int s, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		die("SO_RCVTIMEO: %s", strerror(errno));
}

static void run_timeo(char *self __attribute__((unused)))
{
	uint8_t buf[BUF];
	int s = udp_socket(0), waits = 0;
	long long t;

	set_timeo(s, 300);
	do_bind(s);
	t = now_ns(CLOCK_MONOTONIC);
	expect_eagain(s, 0, "recv with SO_RCVTIMEO 300 ms and nothing sent");
	t = now_ns(CLOCK_MONOTONIC) - t;
	if (t < 250000000LL || t > 3000000000LL)
		die("SO_RCVTIMEO 300 ms: EAGAIN after %lld ms", t / 1000000);
	set_timeo(s, 600);
	bound();
	for (int i = 0; i < count; i++) {
		ssize_t r;

		while ((r = recv(s, buf, BUF, 0)) < 0 && errno == EAGAIN && i == 0 && waits < 50)
			waits++;
		check(i, buf, r);
	}
	t = now_ns(CLOCK_MONOTONIC);
	expect_eagain(s, 0, "recv with SO_RCVTIMEO 600 ms after the last datagram");
	t = now_ns(CLOCK_MONOTONIC) - t;
	if (t < 550000000LL)
		die("SO_RCVTIMEO 600 ms: EAGAIN after %lld ms", t / 1000000);
}

static void run_epollet(char *self __attribute__((unused)))
{
	struct epoll_event ev, out[8];
	int s = udp_socket(SOCK_NONBLOCK), ep = epoll_create1(EPOLL_CLOEXEC), pfd[2];
	int got = 0, wakes = 0, pipe_events = 0, n;
	bool first = true, pipe_again = false;
	char c;

	if (ep < 0 || pipe(pfd))
		die("epoll_create1/pipe: %s", strerror(errno));
	do_bind(s);
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.fd = s };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev))
		die("epoll_ctl socket: %s", strerror(errno));
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = pfd[0] };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev))
		die("epoll_ctl pipe: %s", strerror(errno));
	if (write(pfd[1], "x", 1) != 1)
		die("write pipe");
	n = epoll_wait(ep, out, 8, 5000);
	if (n != 1 || out[0].data.fd != pfd[0] || !(out[0].events & EPOLLIN))
		die("before anything was sent: %d events (first for fd %d), not the pipe alone", n,
		    n > 0 ? out[0].data.fd : -1);
	if (read(pfd[0], &c, 1) != 1)
		die("read pipe");
	bound();
	while (got < count) {
		n = epoll_wait(ep, out, 8, 10000);
		if (n <= 0)
			die("epoll_wait: %d after %d datagrams (%s)", n, got, strerror(errno));
		wakes++;
		for (int k = 0; k < n; k++) {
			if (out[k].data.fd == pfd[0]) {
				if (read(pfd[0], &c, 1) != 1)
					die("read pipe");
				pipe_events++;
				continue;
			}
			if (out[k].data.fd != s || !(out[k].events & EPOLLIN))
				die("event %#x for fd %d", out[k].events, out[k].data.fd);
			if (first) {
				struct epoll_event again[8];
				int m = epoll_wait(ep, again, 8, 0);

				/* edge-triggered: not again before a read */
				if (m != 0)
					die("EPOLLET: the socket reported again (%d events) with no read", m);
				first = false;
			}
			drain(s, &got);
			if (!pipe_again && got >= count / 2) {
				pipe_again = true;
				if (write(pfd[1], "y", 1) != 1)
					die("write pipe");
			}
		}
	}
	if (pipe_again && !pipe_events) {	/* written after the last wake-up */
		n = epoll_wait(ep, out, 8, 5000);
		if (n == 1 && out[0].data.fd == pfd[0])
			pipe_events++;
	}
	if (pipe_events != 1)
		die("the pipe written half-way was reported %d times", pipe_events);
	n = epoll_wait(ep, out, 8, 0);
	if (n != 0)
		die("%d events once everything was read", n);
	printf("epollet: %d wake-ups\n", wakes);
}

static void run_epolllt(char *self __attribute__((unused)))
{
	struct epoll_event ev, out[1];
	uint8_t buf[BUF];
	int s = udp_socket(0), ep = epoll_create1(EPOLL_CLOEXEC), pfd[2];
	int got = 0, pipe_events = 0, sock_events = 0;
	long long t0;

	if (ep < 0 || pipe(pfd) || write(pfd[1], "x", 1) != 1)
		die("epoll_create1/pipe: %s", strerror(errno));
	do_bind(s);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = s };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev))
		die("epoll_ctl socket: %s", strerror(errno));
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = pfd[0] };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev))
		die("epoll_ctl pipe: %s", strerror(errno));
	bound();
	t0 = now_ns(CLOCK_MONOTONIC);
	while (got < count) {
		int n = epoll_wait(ep, out, 1, 10000);

		if (n != 1)
			die("epoll_wait: %d after %d datagrams", n, got);
		if (out[0].data.fd == pfd[0]) {
			pipe_events++;	/* never read: stays readable */
			/* the datagrams take about count ms to come */
			if (now_ns(CLOCK_MONOTONIC) - t0 > 15000000000LL)
				die("only the pipe is reported for 15 s (%d datagrams)", got);
			continue;
		}
		if (out[0].data.fd != s)
			die("event for fd %d", out[0].data.fd);
		sock_events++;
		check(got, buf, recv(s, buf, BUF, 0));	/* one per event */
		got++;
	}
	if (pipe_events < 2)
		die("the always-readable pipe was reported %d times beside the socket",
		    pipe_events);
	printf("epolllt: %d socket events, %d pipe events\n", sock_events, pipe_events);
}

/* threads: four threads in blocking recv on one socket. */
#define NTHREADS 4
static int thr_sock;
static pthread_mutex_t thr_lock = PTHREAD_MUTEX_INITIALIZER;
static int thr_total, thr_per[NTHREADS];
static uint8_t *thr_seen;

static void *thr_recv(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint8_t buf[BUF];

	for (;;) {
		ssize_t r = recv(thr_sock, buf, BUF, 0);
		int i;

		pthread_mutex_lock(&thr_lock);
		if (thr_total >= count) {
			pthread_mutex_unlock(&thr_lock);
			return NULL;
		}
		if (r < 0 && errno == EAGAIN) {	/* SO_RCVTIMEO: look at the total */
			pthread_mutex_unlock(&thr_lock);
			continue;
		}
		if (r < 7)
			die("thread %d: recv: %zd (%s)", me, r, strerror(errno));
		i = atoi((const char *)buf);
		if (i < 0 || i >= count || thr_seen[i]++)
			die("thread %d: datagram %d twice or out of range", me, i);
		check(i, buf, r);
		thr_total++;
		thr_per[me]++;
		pthread_mutex_unlock(&thr_lock);
	}
}

static void run_threads(char *self __attribute__((unused)))
{
	pthread_t t[NTHREADS];

	thr_sock = udp_socket(0);
	thr_seen = calloc((size_t)count, 1);
	if (!thr_seen)
		die("calloc");
	set_timeo(thr_sock, 200);
	do_bind(thr_sock);
	for (int k = 0; k < NTHREADS; k++)
		if (pthread_create(&t[k], NULL, thr_recv, (void *)(intptr_t)k))
			die("pthread_create");
	bound();
	for (int k = 0; k < NTHREADS; k++)
		pthread_join(t[k], NULL);
	if (thr_total != count)
		die("%d datagrams, not %d", thr_total, count);
	printf("threads: %d %d %d %d datagrams each\n", thr_per[0], thr_per[1], thr_per[2],
	       thr_per[3]);
	free(thr_seen);
}

/* The descriptors open now, as "a,b,c," (those the program inherited). */
static void open_fds(char *out, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	out[0] = 0;
	if (!d)
		die("/proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)) && n + 12 < len)
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			n += (size_t)snprintf(out + n, len - n, "%d,", atoi(de->d_name));
	closedir(d);
}

static void run_dup(char *self)
{
	char inherited[512];

	uint8_t buf[BUF];
	int s = udp_socket(0), d1, d2, d3 = 60, i = 0, st;
	pid_t pid;
	char arg[16];

	open_fds(inherited, sizeof(inherited));
	do_bind(s);
	d1 = dup(s);
	d2 = fcntl(s, F_DUPFD_CLOEXEC, 50);
	if (d1 < 0 || d2 < 50 || dup2(s, d3) != d3)
		die("dup: %s", strerror(errno));
	if (close(s))
		die("close: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(d1);
		close(d2);
		close(d3);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child: status %#x", st);
	bound();
	for (; i < count / 3; i++)
		check(i, buf, recv(d1, buf, BUF, 0));
	for (; i < 2 * count / 3; i++)
		check(i, buf, read(d2, buf, BUF));
	close(d1);
	close(d2);
	for (; i < count; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);

		check(i, buf, recvfrom(d3, buf, BUF, 0, (struct sockaddr *)&sa, &sl));
		check_src(i, &sa, sl);
	}
	if (fcntl(d3, F_DUPFD_CLOEXEC, 70) != 70)
		die("F_DUPFD_CLOEXEC 70: %s", strerror(errno));
	printf("ok %s %d\n", mode, count);
	fflush(stdout);
	snprintf(arg, sizeof(arg), "%d", d3);
	execl(self, self, "fdcheck", arg, "70", inherited, (char *)NULL);
	die("exec: %s", strerror(errno));
}

/* After exec: @keep (no close-on-exec) is a socket, @gone is closed, and
 * nothing but @keep and the descriptors in @inherited ("a,b,": those the
 * program had before it made its socket) is open. */
static void run_fdcheck(int keep, int gone, const char *inherited)
{
	char me[16], list[520];

	int type = 0, bad = 0;
	socklen_t l = sizeof(type);
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	snprintf(list, sizeof(list), ",%s", inherited);
	if (getsockopt(keep, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_DGRAM)
		die("descriptor %d (no close-on-exec) is not the UDP socket", keep);
	if (fcntl(gone, F_GETFD) != -1 || errno != EBADF)
		die("descriptor %d (close-on-exec) survived exec", gone);
	if (!d)
		die("/proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		char link[256] = "";

		snprintf(me, sizeof(me), ",%d,", fd);
		if (de->d_name[0] == '.' || fd == keep || fd == dirfd(d) || strstr(list, me))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		char to[256] = "";
		if (readlink(link, to, sizeof(to) - 1) < 0)
			snprintf(to, sizeof(to), "?");
		printf("descriptor %d left open across exec: %s\n", fd, to);
		bad++;
	}
	closedir(d);
	if (bad)
		die("%d descriptors of the old image survived exec", bad);
	printf("fdcheck: only the inherited descriptors and %d across exec\n", keep);
}

/* datagrams @first..@end-1 from blocking @s, each checked */
static void recv_range(int s, int first, int end)
{
	uint8_t buf[BUF];

	for (int i = first; i < end; i++)
		check(i, buf, recv(s, buf, BUF, 0));
}

/* A UDP socket of @fam bound to @ip (NULL: the wildcard) port @p,
 * SO_RCVTIMEO 10 s, IPV6_V6ONLY as @v6only. */
static int bound_to(int fam, const char *ip, int p, int v6only)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p) };
	int s = socket(fam, SOCK_DGRAM, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	set_timeo(s, 10000);
	if (fam == AF_INET6 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		die("IPV6_V6ONLY: %s", strerror(errno));
	if (ip && inet_pton(fam, ip, fam == AF_INET ? (void *)&in.sin_addr : (void *)&in6.sin6_addr) != 1)
		die("address %s", ip);
	if (fam == AF_INET ? bind(s, (struct sockaddr *)&in, sizeof(in)) :
			     bind(s, (struct sockaddr *)&in6, sizeof(in6)))
		die("bind %s port %d: %s", ip ? ip : "*", p, strerror(errno));
	return s;
}

static void connect_to(int s, const char *ip, int p)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };

	if (ip)
		inet_pton(AF_INET, ip, &in.sin_addr);
	else
		in.sin_family = AF_UNSPEC;
	if (connect(s, (struct sockaddr *)&in, sizeof(in)))
		die("connect: %s", strerror(errno));
}

static void run_demux(char *self __attribute__((unused)))
{
	int a, d, e, b, c;
	uint8_t buf[BUF];

	if (!src_ip || !dst_ip)
		die("demux needs -s SRC -d DST");
	a = bound_to(AF_INET, NULL, port, 0);
	d = bound_to(AF_INET, "127.0.0.1", port, 0);
	e = bound_to(AF_INET6, NULL, port, 1);
	b = bound_to(AF_INET, dst_ip, port + 4, 0);
	c = bound_to(AF_INET, NULL, port + 5, 0);
	connect_to(c, src_ip, 7000);
	bound();
	recv_range(a, 0, count);
	recv_range(b, 0, count);
	for (int i = 0; i < count; i++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);

		check(i, buf, recvfrom(c, buf, BUF, 0, (struct sockaddr *)&sa, &sl));
		if (ntohs(sa.sin_port) != 7000)
			die("datagram %d on the connected socket from port %d", i, ntohs(sa.sin_port));
	}
	connect_to(c, NULL, 0);
	printf("phase2\n");
	recv_range(c, count, 2 * count);
	expect_eagain(a, MSG_DONTWAIT, "A (0.0.0.0) after its datagrams");
	expect_eagain(b, MSG_DONTWAIT, "B (DST, port+4) after its datagrams");
	expect_eagain(d, MSG_DONTWAIT, "D (127.0.0.1)");
	expect_eagain(e, MSG_DONTWAIT, "E ([::], IPV6_V6ONLY)");
	printf("demux: A %d, B %d, C %d + %d, D and E none\n", count, count, count, count);
}

static void send_one(int s, int p, int i)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
	uint8_t buf[BUF];
	size_t n = payload(i, buf);

	inet_pton(AF_INET, dst_ip, &to.sin_addr);
	if (sendto(s, buf, n, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)n)
		die("sendto port %d: %s", p, strerror(errno));
	usleep(1000);	/* as udp_payloads.py paces */
}

static void run_send(char *self __attribute__((unused)))
{
	int s7000, s7001;

	if (!dst_ip)
		die("send needs -d DST");
	s7000 = bound_to(AF_INET, NULL, 7000, 0);
	s7001 = bound_to(AF_INET, NULL, 7001, 0);
	for (int i = 0; i < count; i++) {
		if (phase == 2) {
			send_one(s7001, port + 5, count + i);
			continue;
		}
		send_one(s7000, port, i);
		send_one(s7000, port + 4, i);
		send_one(s7001, port + 5, 100000 + i);
		send_one(s7000, port + 5, i);
	}
}

/*
 * Fork with bound @s: in the child (0 returned, mode @child) after its first
 * receive, which maps its socket (EAGAIN: nothing sent yet); in the parent
 * (the child's pid) once the child did it, "bound" said.
 */
static pid_t fork_ready(int s, const char *child)
{
	int pfd[2];
	pid_t pid;
	char c;

	if (pipe(pfd))
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		mode = child;
		expect_eagain(s, MSG_DONTWAIT, "the child's first receive");
		if (write(pfd[1], "r", 1) != 1)
			die("pipe");
		return 0;
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1)
		die("the child did not get ready");
	bound();
	return pid;
}

static void reap(pid_t pid)
{
	int st = 0;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		die("the child: status %#x", st);
}

/* fork, forkidle: the child receives all; the parent too when @parent_reads */
static void fork_case(bool parent_reads)
{
	int s = udp_socket(0);
	pid_t pid;

	set_timeo(s, 10000);
	do_bind(s);
	pid = fork_ready(s, parent_reads ? "fork (the child)" : "forkidle (the child)");
	if (pid == 0 || parent_reads)
		recv_range(s, 0, count);
	if (pid == 0) {
		printf("%s: the child got %d datagrams\n", mode, count);
		fflush(stdout);
		_exit(0);
	}
	reap(pid);
	if (parent_reads)
		printf("fork: the parent got %d datagrams\n", count);
}

static void run_fork(char *self __attribute__((unused)))
{
	fork_case(true);
}

static void run_forkidle(char *self __attribute__((unused)))
{
	fork_case(false);
}

/* forkshare: what parent and child took, in shared memory */
struct split {
	int total, per[2];
	uint8_t seen[];
};

static void take_share(int s, struct split *sp, int me)
{
	long long end = now_ns(CLOCK_MONOTONIC) + 20000000000LL;
	uint8_t buf[BUF];

	set_timeo(s, 200);
	while (__atomic_load_n(&sp->total, __ATOMIC_ACQUIRE) < count) {
		ssize_t r = recv(s, buf, BUF, 0);
		int i;

		if (r < 0 && errno == EAGAIN) {
			if (now_ns(CLOCK_MONOTONIC) > end)
				die("%d of %d datagrams in 20 s", sp->total, count);
			continue;
		}
		if (r < 7)
			die("recv: %zd (%s)", r, strerror(errno));
		i = atoi((const char *)buf);
		if (i < 0 || i >= count || __atomic_fetch_add(&sp->seen[i], 1, __ATOMIC_RELAXED))
			die("datagram %d twice or out of range", i);
		check(i, buf, r);
		sp->per[me]++;
		__atomic_fetch_add(&sp->total, 1, __ATOMIC_RELEASE);
	}
}

static void run_forkshare(char *self __attribute__((unused)))
{
	struct split *sp = mmap(NULL, sizeof(*sp) + (size_t)count, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int s = udp_socket(0);
	pid_t pid;

	if (sp == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	do_bind(s);
	pid = fork_ready(s, "forkshare (the child)");
	take_share(s, sp, pid == 0);
	if (pid == 0)
		_exit(0);
	reap(pid);
	if (sp->total != count || !sp->per[0] || !sp->per[1])
		die("parent %d + child %d datagrams, not %d split", sp->per[0], sp->per[1], count);
	printf("forkshare: parent %d, child %d\n", sp->per[0], sp->per[1]);
}

static void run_exec(char *self)
{
	int s = udp_socket(0);
	char fd[16], first[16], n[16];

	set_timeo(s, 10000);
	do_bind(s);
	bound();
	recv_range(s, 0, count / 2);
	snprintf(fd, sizeof(fd), "%d", s);
	snprintf(first, sizeof(first), "%d", count / 2);
	snprintf(n, sizeof(n), "%d", count);
	execl(self, self, "execrecv", fd, first, n, (char *)NULL);
	die("exec: %s", strerror(errno));
}

/* After exec (mode "exec"): the rest through the inherited @s. */
static void run_execrecv(int s, int first, int n)
{
	mode = "exec";
	count = n;
	expect_eagain(s, MSG_DONTWAIT, "the first receive after exec");
	printf("bound2\n");
	recv_range(s, first, n);
	printf("exec: %d datagrams after exec\n", n - first);
}

static int cr_sock[3], cr_poll_r, cr_poll_ev, cr_ep_r = -2;

static void *cr_recv(void *arg __attribute__((unused)))
{
	uint8_t buf[BUF];
	ssize_t r = recv(cr_sock[0], buf, BUF, 0);

	check(0, buf, r);
	r = recv(cr_sock[0], buf, BUF, MSG_DONTWAIT);
	if (r != -1 || errno != EBADF)
		die("recv after the close: %zd (%s), not EBADF", r, r < 0 ? strerror(errno) : "data");
	return NULL;
}

static void *cr_poll(void *arg __attribute__((unused)))
{
	struct pollfd p = { .fd = cr_sock[1], .events = POLLIN };

	cr_poll_r = poll(&p, 1, 10000);
	cr_poll_ev = p.revents;
	return NULL;
}

static void *cr_epoll(void *arg)
{
	struct epoll_event out[4];

	cr_ep_r = epoll_wait((int)(intptr_t)arg, out, 4, 3000);
	return NULL;
}

static void run_closerace(char *self __attribute__((unused)))
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct timespec pause = { 0, 300000000 };
	pthread_t t[3];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (int k = 0; k < 3; k++) {
		cr_sock[k] = udp_socket(0);
		set_timeo(cr_sock[k], 10000);
		do_bind(cr_sock[k]);
	}
	ev.data.fd = cr_sock[2];
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cr_sock[2], &ev))
		die("epoll: %s", strerror(errno));
	if (pthread_create(&t[0], NULL, cr_recv, NULL) ||
	    pthread_create(&t[1], NULL, cr_poll, NULL) ||
	    pthread_create(&t[2], NULL, cr_epoll, (void *)(intptr_t)ep))
		die("pthread_create");
	nanosleep(&pause, NULL);	/* the three are blocked by now */
	for (int k = 0; k < 3; k++)
		if (close(cr_sock[k]))
			die("close: %s", strerror(errno));
	bound();
	for (int k = 0; k < 3; k++)
		pthread_join(t[k], NULL);
	/* woken by the datagram (POLLIN) or by anything before it, when the
	 * number is found closed (POLLNVAL, as Linux's poll says it) */
	if (cr_poll_r != 1 || !(cr_poll_ev & (POLLIN | POLLNVAL)))
		die("poll on the closed socket: %d, revents %#x", cr_poll_r, cr_poll_ev);
	if (cr_ep_r != 0)
		die("epoll_wait on the closed socket: %d events", cr_ep_r);
	printf("closerace: recv got datagram 0 then EBADF, poll %#x, epoll nothing\n",
	       cr_poll_ev);
}

static void run_epolldata(char *self __attribute__((unused)))
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 }, out[8];
	int s1 = udp_socket(0), s2 = udp_socket(0), ep = epoll_create1(EPOLL_CLOEXEC), pfd[2], n;
	struct pollfd p[2];
	uint8_t buf[BUF];

	do_bind(s1);
	do_bind(s2);
	if (ep < 0 || pipe(pfd) || epoll_ctl(ep, EPOLL_CTL_ADD, s1, &ev) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, s2, &ev) || epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev))
		die("epoll: %s", strerror(errno));
	bound();
	for (int k = 0; k < 2; k++) {
		p[k] = (struct pollfd){ .fd = k ? s2 : s1, .events = POLLIN };
		if (poll(&p[k], 1, 10000) != 1)
			die("socket %d: no datagram in 10 s", k + 1);
	}
	if (write(pfd[1], "x", 1) != 1)
		die("write pipe");
	n = epoll_wait(ep, out, 8, 1000);
	if (n != 3)
		die("%d events for three registrations with equal data, all readable", n);
	for (int k = 0; k < n; k++)
		if (out[k].data.u64 != 42 || out[k].events != EPOLLIN)
			die("event %d: data %llu events %#x", k, (unsigned long long)out[k].data.u64,
			    out[k].events);
	check(0, buf, recv(s1, buf, BUF, 0));
	check(0, buf, recv(s2, buf, BUF, 0));
	printf("epolldata: 3 events of data 42\n");
}

static void run_etnew(char *self __attribute__((unused)))
{
	struct epoll_event ev, out[8];
	int s = udp_socket(SOCK_NONBLOCK), ep = epoll_create1(EPOLL_CLOEXEC), n, got = 0;

	do_bind(s);
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.fd = s };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev))
		die("epoll: %s", strerror(errno));
	bound();
	n = epoll_wait(ep, out, 8, 10000);
	if (n != 1 || out[0].data.fd != s)
		die("the first datagram: %d events", n);
	n = epoll_wait(ep, out, 8, 300);
	if (n != 0)
		die("EPOLLET: %d events again without a read or a new datagram", n);
	printf("edge1\n");
	n = epoll_wait(ep, out, 8, 10000);
	if (n != 1 || out[0].data.fd != s)
		die("EPOLLET: a new datagram after an unread one: %d events, not a new edge", n);
	drain(s, &got);
	if (got != count)
		die("%d datagrams, not %d", got, count);
	printf("etnew: a new edge for the second datagram\n");
}

static const struct {
	const char *name;
	void (*run)(char *self);
} modes[] = {
	{ "mmsg", run_mmsg },	  { "peek", run_peek },		{ "cmsg", run_cmsg },
	{ "nonblock", run_nonblock }, { "timeo", run_timeo },	{ "epollet", run_epollet },
	{ "epolllt", run_epolllt }, { "dup", run_dup },		{ "threads", run_threads },
	{ "demux", run_demux },	  { "send", run_send },		{ "fork", run_fork },
	{ "forkshare", run_forkshare }, { "forkidle", run_forkidle }, { "exec", run_exec },	{ "closerace", run_closerace },
	{ "epolldata", run_epolldata }, { "etnew", run_etnew },
};

int main(int argc, char **argv)
{
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 5 && !strcmp(argv[1], "fdcheck")) {
		mode = "fdcheck";
		run_fdcheck(atoi(argv[2]), atoi(argv[3]), argv[4]);
		return 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "execrecv")) {
		run_execrecv(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
		printf("ok exec %d\n", count);
		return 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: %s MODE PORT N [-s SRC] [-d DST] [-i IFNAME] [-6] [-P PHASE]\n",
			argv[0]);
		return 2;
	}
	mode = argv[1];
	port = atoi(argv[2]);
	count = atoi(argv[3]);
	optind = 4;
	while ((opt = getopt(argc, argv, "s:d:i:6P:")) != -1) {
		switch (opt) {
		case 's': src_ip = optarg; break;
		case 'd': dst_ip = optarg; break;
		case 'i': ifname = optarg; break;
		case '6': v6 = true; break;
		case 'P': phase = atoi(optarg); break;
		default: return 2;
		}
	}
	for (size_t k = 0;; k++) {
		if (k == sizeof(modes) / sizeof(modes[0]))
			die("unknown mode");
		if (!strcmp(mode, modes[k].name)) {
			modes[k].run(argv[0]);
			break;
		}
	}
	printf("ok %s %d\n", mode, count);
	return 0;
}
