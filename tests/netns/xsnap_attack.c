// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_attack: a hostile client of xsnapd for tests/netns/test_hostile.sh.
 * It runs unprivileged (uid/gid 65534, no capabilities) while a victim
 * tenant streams; the script checks the victim, the daemon's answers and
 * its exit, this program what it can see from the client side.
 *
 *   xsnap_attack -S SOCK -m MODE [-t TENANT] [-R READY] [-e EXPECT] [-n N] [-T SECONDS]
 *
 * READY is created when the attack is in place (the script then measures the
 * daemon).  Every mode prints "MODE: ..." lines, then "MODE: verdict ok"
 * when what it observed is what the daemon must do ("MODE: verdict FAILED"
 * otherwise), keeps what it holds until SIGTERM (so that the daemon can be
 * stopped while the attack still stands) and exits 0 after "ok", 1 after
 * "FAILED" (2: usage, 4: could not connect).
 *
 *   fdpass   pass a TCP socket whose last close would linger (SO_LINGER 60 s,
 *            unsent data its peer never reads) with SCM_RIGHTS, then close
 *            our copy.  -e refused: the kernel refuses the sendmsg (EPERM)
 *            and the connection is still served.  -e closed: the daemon
 *            disconnects us and closes the socket at once, abortively (its
 *            peer sees a reset within 10 s), without lingering in its loop.
 *   connflood  connect (xsnap_connect, HELLO) until refused: ok if -n N
 *            connections were accepted and the refusal was EUSERS with a
 *            message containing -e TEXT.
 *   sockflood  open sockets of -t TENANT until refused, 32 per connection
 *            on as many connections as it takes: ok if -n N were opened and
 *            the refusal's message contains -e TEXT.
 *   fdexhaust  take what the daemon's descriptors allow (connections, and
 *            sockets of -t TENANT on them) until a connection is refused for
 *            lack of descriptors; then for -T SECONDS try to connect every
 *            millisecond: ok if every attempt was refused that way (EMFILE).
 *   holddel  a consumer of -t TENANT that takes -n N frames and holds them,
 *            leaving the rest in the log; it then waits on xsnap_fd() (not
 *            armed: only a change of the log's state writes it) until the
 *            tenant is deleted: ok if its next xsnap_recv() fails with
 *            ENOENT at once, draining nothing, and its handle is stale
 *            (a snapshot: ESTALE).  It prints the inodes of the tenant's log
 *            region and pool.
 *   loginode a consumer of -t TENANT that prints the inodes of its log
 *            region and of its tenant's pool: ok if it has both.
 *   statsflood  STATS requests on one connection, as many as the socket
 *            takes, for -T SECONDS, reading the replies as they come: ok
 *            if every reply was a reply (the script judges the rate).
 *   forge    a consumer of -t TENANT that receives and releases -n N frames,
 *            then writes into its control page what a liar would: delivered
 *            2^60, a release watermark at the end of time: ok if it got the
 *            N frames (the script checks what the daemon reports).
 *   notifystall  a consumer of -t TENANT that turns its notify pipe into a
 *            trap: blocking (O_NONBLOCK cleared on its read end, which it
 *            never reads) and one page small, then keeps announcing that it
 *            waits on it (WAIT_FD, WAIT_FUTEX) and releasing everything (its
 *            watermark at the end of time, so that its tenant's log keeps
 *            moving) while the tenant's frames flow, until the pipe is full
 *            or -T SECONDS passed: ok if the pipe filled up (the daemon met
 *            a full pipe and, the script checks, went on); it goes on asking
 *            until SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "xpraw.h"
#include "xsnap_internal.h"

static struct {
	const char *sock, *tenant, *ready, *expect;
	long n;
	int secs;
} opt = { .secs = 3 };

static volatile sig_atomic_t stop;
static uint8_t buf[XP_MAX_MSG], rbuf[XP_MAX_MSG];

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static void ready(void)
{
	int fd;

	if (!opt.ready)
		return;
	fd = open(opt.ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

/* Print the verdict, hold until SIGTERM, return the exit status. */
static int verdict(const char *mode, bool ok)
{
	printf("%s: verdict %s\n", mode, ok ? "ok" : "FAILED");
	while (!stop)
		pause();
	return ok ? 0 : 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A raw connection to the daemon, or -errno. */
static int raw_connect(void)
{
	return xpraw_connect(opt.sock);
}

/* The reply to our last request: its status, 1 if the daemon hung up,
 * -ETIMEDOUT after @ms. */
static int answer(int fd, int ms, char *msg, size_t msgsz)
{
	struct xp_msg m;
	int r;

	if (msg && msgsz)
		*msg = '\0';
	r = xpraw_reply(fd, ms, rbuf, sizeof(rbuf), &m);
	if (r == XPRAW_BAD)
		return -EPROTO;
	if (r)
		return r;
	if (m.hdr.status && msg)
		xp_get_str(&m, msg, msgsz, true);
	return m.hdr.status;
}

/* A STATS request of all tenants, ready to send: its length. */
static int stats_req(uint8_t *b, size_t cap, uint32_t nfds)
{
	struct xp_msg m;

	xp_begin(&m, b, cap, XP_STATS, 0);
	xp_put_str(&m, "");
	return xp_end(&m, nfds);
}

/* Library warnings (the daemon's refusals come through them). */
static char msgbuf[1024];

static int capture(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	size_t n;

	if (level != XSNAP_WARN)
		return 0;
	vsnprintf(msgbuf, sizeof(msgbuf), fmt, ap);
	n = strlen(msgbuf);
	while (n && msgbuf[n - 1] == '\n')
		msgbuf[--n] = '\0';
	return 0;
}

/* --- fdpass ---------------------------------------------------------------- */

/* A TCP socket connected to @lst (never accepted, never read), its send
 * buffer full, lingering 60 s at its last close. */
static int lingering_tcp(int *lst)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct linger lg = { .l_onoff = 1, .l_linger = 60 };
	socklen_t sl = sizeof(sa);
	int fd, small = 4096;
	long sent = 0;
	ssize_t r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lst < 0 || fd < 0 || bind(*lst, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(*lst, 1) || getsockname(*lst, (struct sockaddr *)&sa, &sl))
		return -errno;
	/* small buffers on both sides: they fill at once */
	setsockopt(*lst, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return -errno;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	memset(rbuf, 'x', sizeof(rbuf));
	while ((r = write(fd, rbuf, sizeof(rbuf))) > 0)
		sent += r;
	if (errno != EAGAIN)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		return -errno;
	printf("fdpass: TCP socket with %ld bytes its peer will not read, SO_LINGER 60 s\n", sent);
	return fd;
}

/* The accepted end of the lingering socket: how did the other end close? */
static const char *peer_end(int lst)
{
	struct pollfd p = { .fd = lst, .events = POLLIN };
	int64_t end = now_ms() + 10000;
	char b[65536];
	int fd;

	if (poll(&p, 1, 10000) <= 0)
		return "no connection to accept";
	fd = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return strerror(errno);
	p.fd = fd;
	while (now_ms() < end) {
		ssize_t r;

		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			break;
		r = read(fd, b, sizeof(b));
		if (r < 0) {
			close(fd);
			return errno == ECONNRESET ? "reset" : strerror(errno);
		}
		if (r == 0) {
			close(fd);
			return "closed after its data drained (it lingered)";
		}
	}
	close(fd);
	return "still open after 10 s";
}

static int run_fdpass(void)
{
	int lst, tcp = lingering_tcp(&lst), fd, len, r, a;
	bool refused = opt.expect && !strcmp(opt.expect, "refused");
	char msg[256];

	if (tcp < 0) {
		printf("fdpass: cannot make the lingering socket: %s\n", strerror(-tcp));
		return 1;
	}
	fd = raw_connect();
	if (fd < 0 || xpraw_hello(fd) || answer(fd, 5000, msg, sizeof(msg))) {
		printf("fdpass: cannot connect to xsnapd\n");
		return 4;
	}
	/* a request that says it carries one descriptor, and does */
	len = stats_req(buf, sizeof(buf), 1);
	r = xp_send(fd, buf, (size_t)len, &tcp, 1);
	printf("fdpass: sendmsg with SCM_RIGHTS: %s\n", r ? strerror(-r) : "sent");
	ready();
	if (r) {
		/* not in flight: our close is the last, so make it quick */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(tcp, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(tcp);
		len = stats_req(buf, sizeof(buf), 0);
		xp_send(fd, buf, (size_t)len, NULL, 0);
		a = answer(fd, 5000, msg, sizeof(msg));
		printf("fdpass: the next request: %s\n",
		       a == 0 ? "answered" : a == 1 ? "disconnected" : strerror(-a));
		return verdict("fdpass", refused && r == -EPERM && a == 0);
	}
	/* in flight: the daemon's reference is the last one now */
	close(tcp);
	a = answer(fd, 5000, msg, sizeof(msg));
	printf("fdpass: the daemon: %s\n", a == 1 ? "disconnected us" :
					   a == 0 ? "answered" :
					   a < 0  ? strerror(-a) :
						    "replied with an error");
	const char *how = peer_end(lst);

	printf("fdpass: the passed socket's peer: %s\n", how);
	return verdict("fdpass", !refused && a == 1 && !strcmp(how, "reset"));
}

/* --- connflood ------------------------------------------------------------- */
#define FLOOD_MAX 300

static int run_connflood(void)
{
	static struct xsnap_ctx *c[FLOOD_MAX];
	int n = 0, err = 0, rc;

	xsnap_set_print(capture);
	while (n < FLOOD_MAX) {
		msgbuf[0] = '\0';
		c[n] = xsnap_connect(opt.sock);
		if (!c[n]) {
			err = errno;
			break;
		}
		n++;
	}
	printf("connflood: %d connections, then: %s: %s\n", n, err ? strerror(err) : "none",
	       msgbuf);
	ready();
	rc = verdict("connflood", n == opt.n && err == EUSERS && opt.expect &&
					 strstr(msgbuf, opt.expect));
	while (n)
		xsnap_close(c[--n]);
	return rc;
}

/* --- sockflood, fdexhaust ---------------------------------------------------- */
#define CONN_MAX 64
#define SOCK_MAX 2048

static struct xsnap_ctx *ctxs[CONN_MAX];
static struct xsnap_sock *socks[SOCK_MAX];
static int nctx, nsock;

static void release_all(void)
{
	while (nsock)
		xsnap_sock_close(socks[--nsock]);
	while (nctx)
		xsnap_close(ctxs[--nctx]);
}

static int run_sockflood(void)
{
	int err = 0, rc;

	xsnap_set_print(capture);
	while (nctx < CONN_MAX && !err) {
		msgbuf[0] = '\0';
		ctxs[nctx] = xsnap_connect(opt.sock);
		if (!ctxs[nctx]) {
			err = errno;
			break;
		}
		nctx++;
		for (int i = 0; i < 32 && nsock < SOCK_MAX; i++) {
			socks[nsock] = xsnap_socket(ctxs[nctx - 1], opt.tenant, NULL);
			if (!socks[nsock]) {
				err = errno;
				break;
			}
			nsock++;
		}
	}
	printf("sockflood: %d sockets on %d connections, then: %s: %s\n", nsock, nctx,
	       err ? strerror(err) : "none", msgbuf);
	ready();
	rc = verdict("sockflood", nsock == opt.n && err == EMFILE && opt.expect &&
					  strstr(msgbuf, opt.expect));
	release_all();
	return rc;
}

static int run_fdexhaust(void)
{
	long tries = 0, refused = 0, let_in = 0;
	int err = 0, sock_err = 0, rc;
	char first[sizeof(msgbuf)] = "", sock_msg[sizeof(msgbuf)] = "";
	int64_t t0, end;

	xsnap_set_print(capture);
	while (nctx < CONN_MAX) {
		msgbuf[0] = '\0';
		ctxs[nctx] = xsnap_connect(opt.sock);
		if (!ctxs[nctx]) {
			err = errno;
			snprintf(first, sizeof(first), "%s", msgbuf);
			break;
		}
		nctx++;
		while (nsock < SOCK_MAX) {
			msgbuf[0] = '\0';
			socks[nsock] = xsnap_socket(ctxs[nctx - 1], opt.tenant, NULL);
			if (!socks[nsock]) {
				sock_err = errno;
				snprintf(sock_msg, sizeof(sock_msg), "%s", msgbuf);
				break;
			}
			nsock++;
		}
	}
	printf("fdexhaust: %d connections and %d sockets held; a socket then: %s: %s\n", nctx,
	       nsock, sock_err ? strerror(sock_err) : "none", sock_msg);
	printf("fdexhaust: a connection then: %s: %s\n", err ? strerror(err) : "none", first);
	ready();
	t0 = now_ms();
	end = t0 + opt.secs * 1000;
	while (now_ms() < end && !stop) {
		struct xsnap_ctx *c;

		msgbuf[0] = '\0';
		c = xsnap_connect(opt.sock);
		tries++;
		if (c) {
			let_in++;
			xsnap_close(c);
		} else if (errno == EMFILE && strstr(msgbuf, "out of file descriptors")) {
			refused++;
		}
		usleep(1000);
	}
	printf("fdexhaust: hammer: %ld connection attempts in %lld ms: %ld refused for lack of "
	       "descriptors, %ld let in\n",
	       tries, (long long)(now_ms() - t0), refused, let_in);
	rc = verdict("fdexhaust", err == EMFILE && strstr(first, "out of file descriptors") &&
					  refused == tries);
	release_all();
	return rc;
}

/* The context of holddel, loginode and consumer(): closed by main(). */
static struct xsnap_ctx *cons_ctx;

/* --- holddel, loginode --------------------------------------------------------- */

/* The inode of the memfd @name ("memfd:xsnap-log", "memfd:xsnap-pool") we
 * mapped, or 0. */
static unsigned long memfd_inode(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long ino = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, name))
			continue;
		/* start-end perms offset dev inode path */
		if (sscanf(line, "%*s %*s %*s %*s %lu", &ino) == 1)
			break;
	}
	if (f)
		fclose(f);
	return ino;
}

static int run_holddel(void)
{
	static struct xsnap_frame *v[1024];
	struct xsnap_ctx *ctx;
	struct xsnap_sock *s;
	struct xsnap_snap *sn;
	struct pollfd p;
	long held = 0;
	int r = 0, snap_err = 0;

	ctx = cons_ctx = xsnap_connect(opt.sock);
	s = ctx ? xsnap_socket(ctx, opt.tenant, NULL) : NULL;
	if (!s) {
		printf("holddel: no socket of %s: %s\n", opt.tenant, strerror(errno));
		return 4;
	}
	printf("holddel: log inode %lu\n", memfd_inode("memfd:xsnap-log"));
	printf("holddel: pool inode %lu\n", memfd_inode("memfd:xsnap-pool"));
	ready();
	while (held < opt.n && !stop) {
		long want = opt.n - held;

		r = xsnap_recv(s, v + held, (unsigned int)(want < 64 ? want : 64), 200);
		if (r < 0)
			break;
		held += r;
	}
	printf("holddel: holding %ld frames (never released)\n", held);
	/* asleep until the log's state changes: a delete writes every
	 * socket's notify pipe, then the daemon closes its end */
	p = (struct pollfd){ .fd = xsnap_fd(s), .events = POLLIN };
	if (r >= 0 && poll(&p, 1, 30000) != 1)
		printf("holddel: not woken within 30 s\n");
	if (r >= 0)
		r = xsnap_recv(s, v, 64, 0);
	printf("holddel: after the delete: recv: %s\n",
	       r < 0 ? strerror(-r) : r ? "FRAMES" : "nothing (0)");
	XSNAP_OPTS(xsnap_snap_opts, o, .frames = 1);
	sn = xsnap_snapshot(s, &o);
	if (!sn)
		snap_err = errno;
	printf("holddel: a snapshot: %s\n", sn ? "TAKEN" : strerror(snap_err));
	/* the socket and context stay open, mappings and all, until SIGTERM */
	return verdict("holddel", held == opt.n && r == -ENOENT && snap_err == ESTALE);
}

static int run_loginode(void)
{
	struct xsnap_ctx *ctx = cons_ctx = xsnap_connect(opt.sock);
	struct xsnap_sock *s = ctx ? xsnap_socket(ctx, opt.tenant, NULL) : NULL;
	unsigned long ino, pool;

	if (!s) {
		printf("loginode: no socket of %s: %s\n", opt.tenant, strerror(errno));
		return 4;
	}
	ino = memfd_inode("memfd:xsnap-log");
	pool = memfd_inode("memfd:xsnap-pool");
	printf("loginode: log inode %lu; pool inode %lu\n", ino, pool);
	ready();
	return verdict("loginode", ino != 0 && pool != 0);
}

/* --- statsflood ------------------------------------------------------------ */
static int run_statsflood(void)
{
	int fd = raw_connect(), len;
	long sent = 0, answered = 0, other = 0;
	int64_t t0, end;
	char msg[256];

	if (fd < 0 || xpraw_hello(fd) || answer(fd, 5000, msg, sizeof(msg))) {
		printf("statsflood: cannot connect to xsnapd\n");
		return 4;
	}
	len = stats_req(buf, sizeof(buf), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ready();
	t0 = now_ms();
	end = t0 + opt.secs * 1000;
	while (now_ms() < end && !stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
		int64_t left = end - now_ms();

		if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
			continue;
		if (p.revents & (POLLHUP | POLLERR))
			break;
		/* as many requests as the socket takes */
		while ((p.revents & POLLOUT) && send(fd, buf, (size_t)len, MSG_DONTWAIT) == len)
			sent++;
		for (;;) {
			ssize_t n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
			struct xp_msg m;
			bool ok;

			if (n <= 0)
				break;
			ok = !xp_parse(&m, rbuf, (size_t)n, 0) && m.hdr.op == XP_STATS &&
			     !m.hdr.status;
			answered += ok;
			other += !ok;
		}
	}
	printf("statsflood: %ld requests sent, %ld answered, %ld other replies in %lld ms\n", sent,
	       answered, other, (long long)(now_ms() - t0));
	return verdict("statsflood", answered > 0 && !other);
}

/* --- forge, notifystall --------------------------------------------------------- */
static struct xsnap_sock *consumer(const char *mode)
{
	struct xsnap_ctx *ctx = cons_ctx = xsnap_connect(opt.sock);
	struct xsnap_sock *s = ctx ? xsnap_socket(ctx, opt.tenant, NULL) : NULL;

	if (!s)
		printf("%s: no socket of %s: %s\n", mode, opt.tenant, strerror(errno));
	return s;
}

static int run_forge(void)
{
	struct xsnap_sock *s = consumer("forge");
	struct xsnap_frame *v[64];
	long got = 0;

	if (!s)
		return 4;
	ready();
	while (got < opt.n && !stop) {
		int r = xsnap_recv(s, v, 64, 200);

		if (r < 0) {
			printf("forge: recv: %s\n", strerror(-r));
			break;
		}
		got += r;
		xsnap_release(s, v, (unsigned int)r);
	}
	/* the control page is ours to write: lie */
	s->ctl->delivered = 1ull << 60;
	atomic_store(&s->ctl->low, UINT64_MAX);
	printf("forge: received and released %ld frames; wrote delivered 2^60 and low 2^64-1\n",
	       got);
	return verdict("forge", got == opt.n);
}

static int run_notifystall(void)
{
	struct xsnap_sock *s = consumer("notifystall");
	int64_t t0, end;
	int cap, n = -1;

	if (!s)
		return 4;
	/* s->efd is the read end of the socket's notify pipe */
	if (fcntl(s->efd, F_SETFL, 0) || (cap = fcntl(s->efd, F_SETPIPE_SZ, 4096)) < 0) {
		printf("notifystall: fcntl: %s\n", strerror(errno));
		return 1;
	}
	printf("notifystall: notify pipe blocking, %d bytes, never read\n", cap);
	ready();
	t0 = now_ms();
	end = t0 + opt.secs * 1000;
	while (now_ms() < end && !stop && (ioctl(s->efd, FIONREAD, &n) || n < cap)) {
		atomic_fetch_or(&s->ctl->waiting, WAIT_FD | WAIT_FUTEX);
		atomic_store(&s->ctl->low, UINT64_MAX);
		usleep(50);
	}
	ioctl(s->efd, FIONREAD, &n);
	printf("notifystall: the pipe holds %d of %d bytes after %lld ms\n", n, cap,
	       (long long)(now_ms() - t0));
	printf("notifystall: verdict %s\n", n == cap ? "ok" : "FAILED");
	/* and goes on asking for wake-ups the full pipe cannot take */
	while (!stop) {
		atomic_fetch_or(&s->ctl->waiting, WAIT_FD | WAIT_FUTEX);
		atomic_store(&s->ctl->low, UINT64_MAX);
		usleep(50);
	}
	return n == cap ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };
	const char *mode = NULL;
	int o, rc;

	while ((o = getopt(argc, argv, "S:m:t:R:e:n:T:")) != -1) {
		switch (o) {
		case 'S': opt.sock = optarg; break;
		case 'm': mode = optarg; break;
		case 't': opt.tenant = optarg; break;
		case 'R': opt.ready = optarg; break;
		case 'e': opt.expect = optarg; break;
		case 'n': opt.n = strtol(optarg, NULL, 10); break;
		case 'T': opt.secs = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (!opt.sock || !mode || optind != argc)
		goto usage;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = -1;
	if (!strcmp(mode, "fdpass"))
		rc = run_fdpass();
	else if (!strcmp(mode, "connflood"))
		rc = run_connflood();
	else if (!strcmp(mode, "sockflood") && opt.tenant)
		rc = run_sockflood();
	else if (!strcmp(mode, "fdexhaust") && opt.tenant)
		rc = run_fdexhaust();
	else if (!strcmp(mode, "holddel") && opt.tenant)
		rc = run_holddel();
	else if (!strcmp(mode, "loginode") && opt.tenant)
		rc = run_loginode();
	else if (!strcmp(mode, "statsflood"))
		rc = run_statsflood();
	else if (!strcmp(mode, "forge") && opt.tenant)
		rc = run_forge();
	else if (!strcmp(mode, "notifystall") && opt.tenant)
		rc = run_notifystall();
	if (cons_ctx)
		xsnap_close(cons_ctx);
	if (rc >= 0)
		return rc;
usage:
	fprintf(stderr, "usage: xsnap_attack -S SOCK -m MODE [-t TENANT] [-R READY] [-e EXPECT]\n"
			"                    [-n N] [-T SECONDS]\n"
			"modes: fdpass connflood sockflood fdexhaust holddel loginode\n"
			"       statsflood forge notifystall\n");
	return 2;
}
