// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_dclient: a consumer process of xsnapd for tests/netns/test_daemon.sh.
 *
 *   xsnap_dclient -S SOCK -t TENANT [-R READY [-F]] [-m MODE] [-s SOCKETS] [-I IDS]
 *                 [-G GROUP]
 *
 * READY is created once the sockets are open, or with -F (recv and hold)
 * once the first frame arrived: a test that kills a holding consumer knows
 * it holds something.
 *
 * Modes:
 *   recv     (default) receive and release until SIGTERM/SIGINT, then print
 *            "frames N seq_gaps G bad_payload B log_gaps L first F last S
 *            delivered D queues Q": G counts breaks in the sequence numbers of each
 *            xsnap-gen stream's payloads (per socket), B frames whose payload
 *            does not verify (tools/common/payload.h), L breaks in the
 *            tenant log's sequence numbers, F and S the first and last
 *            payload sequence number seen, D the daemon's count for the
 *            tenant, Q the number of receive queues frames came from; exit 3 with "recv error: ..." if recv fails;
 *            -I IDS: also write "STREAM SEQ CHUNK SPORT" for each verified
 *            frame to the file IDS (CHUNK: xsnap_frame_id(), the chunk of
 *            the consumer's view that holds it; SPORT: the L4 source port);
 *            -G GROUP: the sockets are in share mode, group GROUP
 *   hold     like recv but never release (frames stay with the daemon until
 *            the process dies)
 *   snap     (-n COUNT -k K) receive COUNT frames, then snapshot the last K
 *            and the last 10 s; exit 0 if the snapshot holds exactly the K
 *            newest frames in order
 *   snaphold (-n COUNT -k K) receive COUNT frames, snapshot the last K,
 *            print "snapshot held N" and keep it until killed (E5)
 *   write    receive one frame and write into it (must die of SIGSEGV)
 *   mmapw    try to map or reopen the receive region writable, and to
 *            mprotect the log and a frame writable; release a frame twice
 *            (counted in bad_releases); exit 0 if all were refused
 *   hostile  send malformed and forged messages on raw connections; exit 0
 *            if each got an error reply or a disconnect (a descriptor: the
 *            kernel refuses the sendmsg, EPERM; before Linux 6.16, no
 *            SO_PASSRIGHTS: a disconnect) and the daemon still serves
 *   version  (-n VER) a raw connection that says HELLO with protocol version
 *            VER (header and body); print the reply "version VER: STATUS:
 *            MESSAGE"; exit 0 if it was refused with EPROTONOSUPPORT
 *   flood    a tenant that asks for too much: snapshots until refused,
 *            sockets until refused, then -n COUNT stats requests as fast as
 *            answered; exit 0 if the per-socket and per-connection limits
 *            refused with EMFILE and every request was answered
 *   txpolicy receive a frame, send it back (a private version, addresses
 *            swapped) and a copy whose IPv4 source is 10.199.0.77: exit 0
 *            if the copy was refused (EPERM, tx_refused +1) and the
 *            reflection sent; prints "txpolicy: frame HEX" (what was sent)
 *   cow      (-s 2 -n COUNT) both sockets receive COUNT frames and hold
 *            them; the first makes each a private version ending in
 *            "COW!" and commits it; print "committed N early_intact E
 *            writer_sees W" (E: frames the second socket, which held them
 *            already, still reads as sent; W: the writer's views that show
 *            the new bytes), then hold until SIGTERM
 *   late     (-n COUNT -g GO) open the socket, wait for the file GO, then
 *            receive COUNT frames: print "late N committed C" (C: version
 *            1 ending in "COW!")
 *   idle     connect without HELLO and sleep until SIGTERM (a stalled client)
 *   epoll    receive (timeout 0) only when epoll on xsnap_fd() says so,
 *            until SIGTERM; print "frames N wakeups W empty E" (E: wake-ups
 *            after which recv found nothing)
 *   recvfrom xsnap_recvfrom() until SIGTERM: print "datagrams N bad B src
 *            ADDR:PORT..." (B: payloads that do not verify; each distinct
 *            source once)
 *   stale    (-k QUOTA) receive a frame and release it, receive on until a
 *            frame lands in its view (sequence number + QUOTA); each time,
 *            use the kept handle in every call that takes one; exit 0 if
 *            each refused it (ESTALE; accessors empty; release counted)
 *            and the frame that reused the view was left intact
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "payload.h"
#include "proto.h"
#include "xpraw.h"

static volatile sig_atomic_t stop;
static FILE *ids;	/* -I */

static void on_sig(int sig)
{
	(void)sig;
	stop = 1;
}

static void ready(const char *path)
{
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

#define MAX_STREAMS 16

/* Payload sequence of each xsnap-gen stream, per socket. */
struct stream_seq {
	uint64_t last;
	bool seen;
};

static int run_recv(struct xsnap_ctx *ctx, struct xsnap_sock **socks, int nsocks,
		    const char *tenant, bool hold, const char *readyf, bool ready_on_frame)
{
	uint64_t frames = 0, gaps = 0, log_gaps = 0, bad = 0, last[16] = { 0 };
	uint64_t first_seq = 0, last_seq = 0, queues[XSNAP_MAX_QUEUES / 64 + 1] = { 0 };
	static struct stream_seq ss[16][MAX_STREAMS];
	struct xsnap_frame *v[64];
	bool any = false;
	int rc = 0;

	if (!ready_on_frame)
		ready(readyf);
	while (!stop) {
		for (int i = 0; i < nsocks && !stop; i++) {
			int n = xsnap_recv(socks[i], v, 64, nsocks > 1 ? 10 : 200);

			if (n < 0) {
				if (n == -EINTR)
					break;
				printf("recv error: %s after frames %llu\n", strerror(-n),
				       (unsigned long long)frames);
				fflush(stdout);
				return 3;
			}
			for (int k = 0; k < n; k++) {
				uint64_t seq = xsnap_frame_seq(v[k]), pseq;
				const void *pl;
				size_t pllen;
				uint32_t stream;

				if (last[i] && seq != last[i] + 1)
					log_gaps++;
				last[i] = seq;
				if (xsnap_frame_queue(v[k]) < XSNAP_MAX_QUEUES)
					queues[xsnap_frame_queue(v[k]) / 64] |=
						1ull << (xsnap_frame_queue(v[k]) % 64);
				if (payload_of_frame(xsnap_frame_data(v[k]), xsnap_frame_len(v[k]), &pl,
						     &pllen) ||
				    payload_check(pl, pllen, &stream, &pseq) || stream >= MAX_STREAMS) {
					bad++;
					continue;
				}
				if (ss[i][stream].seen && pseq != ss[i][stream].last + 1)
					gaps++;
				ss[i][stream].seen = true;
				ss[i][stream].last = pseq;
				if (ids) {
					const struct xsnap_meta *m = xsnap_frame_meta(v[k]);
					const uint8_t *d = xsnap_frame_data(v[k]);

					fprintf(ids, "%u %llu %llu %u\n", stream,
						(unsigned long long)pseq,
						(unsigned long long)xsnap_frame_id(v[k]),
						m->l4_off ? (unsigned int)(d[m->l4_off] << 8 |
									   d[m->l4_off + 1]) :
							    0u);
				}
				if (!any)
					first_seq = pseq;
				any = true;
				last_seq = pseq;
			}
			if (ready_on_frame && !frames && n > 0)
				ready(readyf);
			frames += (uint64_t)n;
			if (!hold)
				xsnap_release(socks[i], v, (unsigned int)n);
		}
	}
	{
		XSNAP_OPTS(xsnap_stats, st);

		/* the daemon's count includes what this process delivered */
		if (xsnap_stats(ctx, tenant, &st))
			rc = 1;
		unsigned int nq = 0;

		for (size_t w = 0; w < sizeof(queues) / sizeof(queues[0]); w++)
			nq += (unsigned int)__builtin_popcountll(queues[w]);
		printf("frames %llu seq_gaps %llu bad_payload %llu log_gaps %llu first %llu "
		       "last %llu delivered %llu queues %u\n",
		       (unsigned long long)frames, (unsigned long long)gaps,
		       (unsigned long long)bad, (unsigned long long)log_gaps,
		       (unsigned long long)first_seq, (unsigned long long)last_seq,
		       (unsigned long long)st.delivered, nq);
	}
	return rc;
}

/* Receive @count frames, then take a snapshot of the last @k and of the
 * last 10 s, and check what they hold. */
/* Receive and release @count frames (until SIGTERM); *@last (if not NULL):
 * the sequence number of the last.  0, or -1 after a receive error. */
static int recv_count(struct xsnap_sock *s, uint64_t count, uint64_t *last)
{
	struct xsnap_frame *v[64];
	uint64_t got = 0;
	int n;

	while (got < count && !stop) {
		n = xsnap_recv(s, v, 64, 200);
		if (n < 0) {
			printf("recv error: %s\n", strerror(-n));
			return -1;
		}
		if (n > 0 && last)
			*last = xsnap_frame_seq(v[n - 1]);
		got += (uint64_t)n;
		xsnap_release(s, v, (unsigned int)n);
	}
	return 0;
}

/* recv_count(), then a snapshot of the last @k frames; NULL with the exit
 * status in *@rc (3: receive error, 1: snapshot refused). */
static struct xsnap_snap *recv_then_snapshot(struct xsnap_sock *s, uint64_t count, uint32_t k,
					     uint64_t *last, int *rc)
{
	struct xsnap_snap *sn;

	if (recv_count(s, count, last)) {
		*rc = 3;
		return NULL;
	}
	XSNAP_OPTS(xsnap_snap_opts, o, .frames = k);
	sn = xsnap_snapshot(s, &o);
	if (!sn) {
		printf("snapshot failed: %s\n", strerror(errno));
		*rc = 1;
	}
	return sn;
}

static int run_snap(struct xsnap_sock *s, uint64_t count, uint32_t k, const char *readyf)
{
	struct xsnap_frame *v[64];
	uint64_t last = 0, prev = 0, nsn = 0, bad = 0;
	struct xsnap_snap *sn;
	int n;

	ready(readyf);
	sn = recv_then_snapshot(s, count, k, &last, &n);
	if (!sn)
		return n;
	while ((n = xsnap_snap_next(sn, v, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			uint64_t q = xsnap_frame_seq(v[i]);

			bad += prev && q != prev + 1;
			prev = q;
		}
		nsn += (uint64_t)n;
		/* snapshot frames cannot be released */
		xsnap_release(s, v, 1);
	}
	printf("snapshot frames %llu len %llu last %llu newest %llu gaps %llu\n",
	       (unsigned long long)nsn, (unsigned long long)xsnap_snap_len(sn),
	       (unsigned long long)prev, (unsigned long long)last, (unsigned long long)bad);
	xsnap_snap_close(sn);
	XSNAP_OPTS(xsnap_snap_opts, o2, .last_ms = 10000);
	sn = xsnap_snapshot(s, &o2);
	printf("snapshot last 10 s: %llu frames\n",
	       sn ? (unsigned long long)xsnap_snap_len(sn) : 0ull);
	/* left open: closes with the socket */
	return sn && !bad && nsn == k && prev == last ? 0 : 1;
}

static int run_write(struct xsnap_sock *s, const char *readyf)
{
	struct xsnap_frame *f;
	int n;

	ready(readyf);
	do {
		n = xsnap_recv(s, &f, 1, 200);
	} while (n == 0 && !stop);
	if (n <= 0) {
		printf("no frame (%d)\n", n);
		return 1;
	}
	printf("writing into frame seq %llu\n", (unsigned long long)xsnap_frame_seq(f));
	fflush(stdout);
	/* the default action, not a sanitizer's handler: the test wants the
	 * kernel's SIGSEGV as the exit status */
	signal(SIGSEGV, SIG_DFL);
	*(volatile char *)xsnap_frame_data(f) = 0x55;
	printf("write succeeded: isolation broken\n");
	return 0;
}

#define COW_MARK "COW!"

/* Does frame @f end in the copy-on-write marker? */
static bool cow_marked(struct xsnap_frame *f)
{
	const uint8_t *d = xsnap_frame_data(f);
	uint32_t len = xsnap_frame_len(f);

	return d && len >= 4 && !memcmp(d + len - 4, COW_MARK, 4);
}

/* Receive exactly @n frames on @s into @v (held); how many came. */
static int recv_n(struct xsnap_sock *s, struct xsnap_frame **v, int n)
{
	int got = 0;

	while (got < n && !stop) {
		int r = xsnap_recv(s, v + got, (unsigned int)(n - got), 200);

		if (r < 0) {
			printf("recv error: %s\n", strerror(-r));
			return got;
		}
		got += r;
	}
	return got;
}

static int run_cow(struct xsnap_sock *w, struct xsnap_sock *early, int count, const char *readyf)
{
	static struct xsnap_frame *v[1024], *e[1024];
	int committed = 0, intact = 0, sees = 0;

	if (count < 1 || count > 1024)
		return 2;
	ready(readyf);
	if (recv_n(w, v, count) != count || recv_n(early, e, count) != count) {
		printf("cow: fewer than %d frames\n", count);
		return 1;
	}
	for (int i = 0; i < count; i++) {
		uint8_t *p = xsnap_frame_cow(w, &v[i]);
		uint32_t len = xsnap_frame_len(v[i]);
		int ver;

		if (!p) {
			printf("cow %d: %s\n", i, strerror(errno));
			break;
		}
		memcpy(p + len - 4, COW_MARK, 4);
		ver = xsnap_frame_commit(w, v[i]);
		if (ver != 1) {
			printf("commit %d: %s\n", i, ver < 0 ? strerror(-ver) : "version not 1");
			break;
		}
		committed++;
	}
	for (int i = 0; i < count; i++) {
		const void *pl;
		size_t pllen;
		uint32_t stream;
		uint64_t pseq;

		intact += xsnap_frame_version(e[i]) == 0 && !cow_marked(e[i]) &&
			  !payload_of_frame(xsnap_frame_data(e[i]), xsnap_frame_len(e[i]), &pl,
					    &pllen) &&
			  !payload_check(pl, pllen, &stream, &pseq);
		sees += xsnap_frame_version(v[i]) == 1 && cow_marked(v[i]);
	}
	printf("committed %d early_intact %d writer_sees %d\n", committed, intact, sees);
	while (!stop)
		pause();
	xsnap_release(w, v, (unsigned int)count);
	xsnap_release(early, e, (unsigned int)count);
	return committed == count && intact == count && sees == count ? 0 : 1;
}

static int run_late(struct xsnap_sock *s, int count, const char *go, const char *readyf)
{
	static struct xsnap_frame *v[1024];
	int got, marked = 0;

	if (count < 1 || count > 1024 || !go)
		return 2;
	ready(readyf);
	while (!stop && access(go, F_OK))
		usleep(10000);
	got = recv_n(s, v, count);
	for (int i = 0; i < got; i++)
		marked += xsnap_frame_version(v[i]) == 1 && cow_marked(v[i]);
	printf("late %d committed %d\n", got, marked);
	xsnap_release(s, v, (unsigned int)got);
	return got == count && marked == count ? 0 : 1;
}

static const char *sock_path;
static int raw_connect(void);

/*
 * What an attacker gets without the library: HELLO and SOCKET of @tenant on
 * a raw connection of its own; the descriptors of the reply in @fds (the
 * library maps them and closes them; an attacker keeps them).  Returns how
 * many came, or -1.
 */
static int raw_socket_fds(const char *tenant, int *fds)
{
	static uint8_t qb[XP_MAX_MSG], rb[XP_MAX_MSG];
	unsigned int nfds = 0;
	struct xp_msg q, r;
	char err[256];
	int fd = raw_connect();

	xp_begin(&q, qb, sizeof(qb), XP_HELLO, 0);
	xp_put_u32(&q, XP_VERSION);
	if (xp_call(fd, &q, rb, sizeof(rb), &r, NULL, NULL, err, sizeof(err)))
		return -1;
	xp_begin(&q, qb, sizeof(qb), XP_SOCKET, 0);
	xp_put_str(&q, tenant);
	xp_put_str(&q, "");
	xp_put_u32(&q, XSNAP_FANOUT);
	xp_put_u32(&q, 0);
	if (xp_call(fd, &q, rb, sizeof(rb), &r, fds, &nfds, err, sizeof(err))) {
		printf("raw SOCKET: %s\n", err);
		return -1;
	}
	return (int)nfds;	/* the connection stays open: the socket lives */
}

/* Start address of the first mapping whose /proc/self/maps line names @what. */
static void *find_map(const char *what)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	void *p = NULL;

	while (f && fgets(line, sizeof(line), f)) {
		if (strstr(line, what)) {
			p = (void *)strtoul(line, NULL, 16);
			break;
		}
	}
	if (f)
		fclose(f);
	return p;
}

static int run_mmapw(struct xsnap_ctx *ctx, struct xsnap_sock *s, const char *tenant,
		     const char *readyf)
{
	int fds[XP_MAX_FDS], nfds = raw_socket_fds(tenant, fds), rx, bad = 0, r, fd;
	struct xsnap_frame *f;
	char path[64];
	void *p;
	int n;

	ready(readyf);
	if (nfds <= XP_FD_RX) {
		printf("no descriptors from a raw SOCKET request\n");
		return 1;
	}
	rx = fds[XP_FD_RX];	/* the tenant's view: the region its frames are read from */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rx, 0);
	printf("mmap receive region writable: %s\n", p == MAP_FAILED ? strerror(errno) : "MAPPED");
	bad += p != MAP_FAILED;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rx);
	fd = open(path, O_RDWR);
	printf("reopen receive region read-write: %s\n", fd < 0 ? strerror(errno) : "OPENED");
	bad += fd >= 0;
	if (fcntl(rx, F_GETFL) & O_ACCMODE) {
		printf("receive region descriptor is not read-only\n");
		bad++;
	}
	p = find_map("memfd:xsnap-log");
	r = p ? mprotect(p, 4096, PROT_READ | PROT_WRITE) : -1;
	printf("mprotect log region writable: %s\n",
	       !p ? "no mapping" : r ? strerror(errno) : "ALLOWED");
	bad += !p || !r;
	do {
		n = xsnap_recv(s, &f, 1, 200);
	} while (n == 0 && !stop);
	if (n == 1) {
		uintptr_t pg = (uintptr_t)xsnap_frame_data(f) & ~(uintptr_t)4095;

		r = mprotect((void *)pg, 4096, PROT_READ | PROT_WRITE);
		printf("mprotect frame writable: %s\n", r ? strerror(errno) : "ALLOWED");
		bad += !r;
		/* a double release is counted, not harmful */
		xsnap_release(s, &f, 1);
		xsnap_release(s, &f, 1);
		{
			XSNAP_OPTS(xsnap_stats, st);

			r = xsnap_stats(ctx, tenant, &st);
			printf("double release: bad_releases %llu\n",
			       (unsigned long long)st.bad_releases);
			bad += r || st.bad_releases < 1;
		}
	}
	printf("%s\n", bad ? "isolation broken" : "all refused");
	return bad ? 1 : 0;
}

/* --- hostile clients -------------------------------------------------------- */

static int raw_connect(void)
{
	return xpraw_connect_or_exit(sock_path);
}

static uint8_t buf[XP_MAX_MSG + 4096], rbuf[XP_MAX_MSG];

/* Read the answer: status of an error reply, 1 for a disconnect, 0 for
 * success; -9999 after 5 s without one, -9998 if it is not a reply. */
static int answer(int fd)
{
	struct timeval tv = { .tv_sec = 5 };
	struct xp_msg m;
	int r;

	/* bounds xp_call()'s waits on this connection too (raw_sock_open) */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	r = xpraw_reply(fd, 5000, rbuf, sizeof(rbuf), &m);
	if (r == -ETIMEDOUT || r == -EAGAIN)
		return -9999;
	if (r == XPRAW_BAD)
		return -9998;
	return r ? r : m.hdr.status;
}

/* Send the request @m (@nfds in its header, none sent): the answer. */
static int ask(int fd, struct xp_msg *m, uint32_t nfds)
{
	xpraw_send(fd, m, nfds);
	return answer(fd);
}

static int hello(int fd)
{
	xpraw_hello(fd);
	return answer(fd);
}

struct hcase {
	const char *name;
	int expect;	/* -errno of the error reply, or 1 for a disconnect */
	int got;
};

static int check(struct hcase *c, int got)
{
	c->got = got;
	printf("hostile %-28s -> %-28s %s\n", c->name,
	       got == 1 ? "disconnect" : got < 0 ? strerror(-got) : "SUCCESS",
	       got == c->expect ? "ok" : "UNEXPECTED");
	return got == c->expect ? 0 : 1;
}

/* SOCKET of @tenant on the raw connection @fd: its handle in *@idx, *@gen
 * (the descriptors that come with it are closed); 0 or the error status. */
static int raw_sock_open(int fd, const char *tenant, uint32_t *idx, uint32_t *gen)
{
	static uint8_t qb[XP_MAX_MSG], rb[XP_MAX_MSG];
	int fds[XP_MAX_FDS], r;
	unsigned int nfds = 0;
	struct xp_msg q, rep;
	char err[256];

	xp_begin(&q, qb, sizeof(qb), XP_SOCKET, 0);
	xp_put_str(&q, tenant);
	xp_put_str(&q, "");
	xp_put_u32(&q, XSNAP_FANOUT);
	xp_put_u32(&q, 0);
	r = xp_call(fd, &q, rb, sizeof(rb), &rep, fds, &nfds, err, sizeof(err));
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (r)
		return r;
	*idx = xp_get_u32(&rep);
	*gen = xp_get_u32(&rep);
	return 0;
}

/* SOCK_CLOSE (@snap == UINT32_MAX) or SNAP_CLOSE of snapshot @snap of the
 * socket (@idx, @gen) on @fd: the reply's status. */
static int raw_close(int fd, uint32_t idx, uint32_t gen, uint32_t snap)
{
	struct xp_msg m;

	xp_begin(&m, buf, sizeof(buf), snap == UINT32_MAX ? XP_SOCK_CLOSE : XP_SNAP_CLOSE, 0);
	xp_put_u32(&m, idx);
	xp_put_u32(&m, gen);
	if (snap != UINT32_MAX)
		xp_put_u32(&m, snap);
	return ask(fd, &m, 0);
}

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83	/* Linux 6.16 */
#endif

/*
 * Can a Unix socket here refuse descriptors (SO_PASSRIGHTS, Linux 6.16)?
 * With it, xsnapd's socket makes the kernel refuse a client's sendmsg with
 * descriptors (EPERM); without it (Debian 12's 6.1), xsnapd disconnects
 * such a client instead, and that is the answer to expect.
 */
static bool kernel_has_passrights(void)
{
	int sv[2], zero = 0;
	bool ok;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return true;	/* cannot tell: expect the strict answer */
	ok = !setsockopt(sv[0], SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero));
	close(sv[0]);
	close(sv[1]);
	return ok;
}

static int run_hostile(struct xsnap_sock *mine, const char *tenant)
{
	struct hcase cs[] = {
		{ "truncated", 1 },          { "oversized", 1 },
		{ "short header", 1 },       { "wrong version", -EPROTONOSUPPORT },
		{ "unknown op", -EOPNOTSUPP }, { "nfds says 1, none sent", -EBADMSG },
		{ "request before hello", -EPROTO },
		{ "bad string", -EBADMSG },  { "trailing bytes", -EBADMSG },
		{ "forged handle", -EBADF }, { "handle of an empty slot", -ESTALE },
		{ "huge string length", -EBADMSG }, { "forged snapshot handle", -EBADF },
		{ "stale handle, slot reused", -ESTALE }, { "snapshot id never taken", -EBADF },
		{ "snapshot id in range, never taken", -EBADF },
		{ "send of a chunk neither leased nor logged", -EINVAL },
		{ "send of an address past the UMEM", -EINVAL },
		{ "commit of a chunk never leased", -EINVAL },
		{ "a lease of more than a batch", -EBADMSG },
		{ "the reused slot's own handle", 0 },
		{ "control verb as non-admin", -EPERM },
		{ "a descriptor sent", kernel_has_passrights() ? -EPERM : 1 },
	};
	struct xp_msg m;
	int fd, len, bad = 0, i = 0;
	uint32_t u;

	/* truncated: len says more than was sent */
	fd = raw_connect();
	xp_begin(&m, buf, sizeof(buf), XP_HELLO, 0);
	xp_put_u32(&m, XP_VERSION);
	len = xp_end(&m, 0);
	xp_send(fd, buf, (size_t)len - 2, NULL, 0);
	bad += check(&cs[i++], answer(fd));
	close(fd);
	/* oversized: more than XP_MAX_MSG */
	fd = raw_connect();
	{
		int sz = XP_MAX_MSG + 4096;

		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		memset(buf, 0, sizeof(buf));
		struct xp_hdr h = { .len = sizeof(buf), .version = XP_VERSION, .op = XP_HELLO };

		memcpy(buf, &h, sizeof(h));
		xp_send(fd, buf, sizeof(buf), NULL, 0);
	}
	bad += check(&cs[i++], answer(fd));
	close(fd);
	/* shorter than a header */
	fd = raw_connect();
	xp_send(fd, "abc", 3, NULL, 0);
	bad += check(&cs[i++], answer(fd));
	close(fd);

	fd = raw_connect();
	/* wrong version */
	xp_begin(&m, buf, sizeof(buf), XP_HELLO, 0);
	xp_put_u32(&m, 99);
	m.hdr.version = 99;
	bad += check(&cs[i++], ask(fd, &m, 0));
	/* unknown op */
	xp_begin(&m, buf, sizeof(buf), 77, 0);
	bad += check(&cs[i++], ask(fd, &m, 0));
	/* descriptor count that lies */
	xp_begin(&m, buf, sizeof(buf), XP_HELLO, 0);
	xp_put_u32(&m, XP_VERSION);
	bad += check(&cs[i++], ask(fd, &m, 1));
	/* anything but HELLO first */
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	xp_put_str(&m, "");
	bad += check(&cs[i++], ask(fd, &m, 0));
	if (hello(fd) != 0) {
		printf("hello failed\n");
		return 1;
	}
	/* a string with a control character */
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	xp_put_str(&m, "al\npha");
	bad += check(&cs[i++], ask(fd, &m, 0));
	/* trailing bytes */
	xp_begin(&m, buf, sizeof(buf), XP_SOCK_CLOSE, 0);
	xp_put_u32(&m, 0);
	xp_put_u32(&m, 0);
	xp_put_u32(&m, 0);
	bad += check(&cs[i++], ask(fd, &m, 0));
	/* a handle that is not ours (the real client's socket is handle 0..N
	 * of another connection) and one out of range */
	xp_begin(&m, buf, sizeof(buf), XP_SOCK_CLOSE, 0);
	xp_put_u32(&m, 0);
	xp_put_u32(&m, 0);
	{
		int a = ask(fd, &m, 0);

		xp_begin(&m, buf, sizeof(buf), XP_SOCK_CLOSE, 0);
		xp_put_u32(&m, 1u << 30);
		xp_put_u32(&m, 0);
		xpraw_send(fd, &m, 0);
		bad += check(&cs[i++], a == -EBADF || a == -ESTALE ? answer(fd) : a);
	}
	/* stale: close our own socket twice at the protocol level */
	(void)mine;
	xp_begin(&m, buf, sizeof(buf), XP_SOCK_CLOSE, 0);
	xp_put_u32(&m, 1000);	/* a free slot: nothing there */
	xp_put_u32(&m, 7);
	bad += check(&cs[i++], ask(fd, &m, 0));
	/* a string length beyond the message */
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	u = 0xffff;
	memcpy(buf + m.len, &u, 2);
	m.len += 2;
	bad += check(&cs[i++], ask(fd, &m, 0));
	/* a snapshot of a socket that is not ours */
	xp_begin(&m, buf, sizeof(buf), XP_SNAP_CLOSE, 0);
	xp_put_u32(&m, 1u << 30);
	xp_put_u32(&m, 0);
	xp_put_u32(&m, 3);
	bad += check(&cs[i++], ask(fd, &m, 0));
	/* a handle kept after its socket closed, once the slot is reused by a
	 * new socket of the same connection: stale, and the new socket is
	 * not touched (its own handle closes it afterwards) */
	{
		uint32_t i0, g0, i1, g1;
		int r = raw_sock_open(fd, tenant, &i0, &g0);

		if (!r)
			r = raw_close(fd, i0, g0, UINT32_MAX);
		if (!r)
			r = raw_sock_open(fd, tenant, &i1, &g1);
		if (!r && i1 != i0) {
			printf("hostile: the new socket took slot %u, not %u: no reuse to test\n", i1,
			       i0);
			r = -9997;
		}
		bad += check(&cs[i++], r ? r : raw_close(fd, i0, g0, UINT32_MAX));
		/* an owned socket, a snapshot id it never had */
		bad += check(&cs[i++], r ? r : raw_close(fd, i1, g1, 12345));
		/* and one within the per-socket table (MAX_SOCK_SNAPS is 16):
		 * the slot exists but holds nothing */
		bad += check(&cs[i++], r ? r : raw_close(fd, i1, g1, 3));
		/* transmit and copy-on-write requests naming memory it was
		 * never given: the first chunk of the receive region (another
		 * tenant's frame, perhaps) and an address past everything */
		for (int k = 0; k < 2; k++) {
			xp_begin(&m, buf, sizeof(buf), XP_SEND, 0);
			xp_put_u32(&m, i1);
			xp_put_u32(&m, g1);
			xp_put_u32(&m, UINT32_MAX);	/* queue -1 */
			xp_put_u32(&m, 0);		/* no leases wanted */
			xp_put_u32(&m, 1);
			xp_put_u64(&m, 0);
			xp_put_u64(&m, k ? (1ull << 40) + 256 : 256);
			xp_put_u32(&m, 64);
			bad += check(&cs[i++], r ? r : ask(fd, &m, 0));
		}
		xp_begin(&m, buf, sizeof(buf), XP_COMMIT, 0);
		xp_put_u32(&m, i1);
		xp_put_u32(&m, g1);
		xp_put_u64(&m, 1);
		xp_put_u64(&m, 256);
		xp_put_u32(&m, 64);
		bad += check(&cs[i++], r ? r : ask(fd, &m, 0));
		xp_begin(&m, buf, sizeof(buf), XP_POOL, 0);
		xp_put_u32(&m, i1);
		xp_put_u32(&m, g1);
		xp_put_u32(&m, XP_POOL_BATCH + 1);
		xp_put_u32(&m, 0);
		bad += check(&cs[i++], r ? r : ask(fd, &m, 0));
		bad += check(&cs[i++], r ? r : raw_close(fd, i1, g1, UINT32_MAX));
	}
	/* control verbs: the test runs this as a non-admin uid */
	xp_begin(&m, buf, sizeof(buf), XP_TENANT_DEL, 0);
	xp_put_str(&m, "alpha");
	{
		int a = ask(fd, &m, 0);

		if (getuid() == 0 && a == 0)
			a = -EPERM;	/* root may; not a meaningful case */
		bad += check(&cs[i++], a);
	}
	close(fd);
	/* a descriptor with a request: the daemon's socket refuses them
	 * (SO_PASSRIGHTS 0), so sendmsg fails with EPERM and nothing arrives;
	 * a kernel without SO_PASSRIGHTS delivers it and the daemon hangs up */
	fd = raw_connect();
	if (hello(fd) != 0) {
		printf("hello failed\n");
		return 1;
	}
	{
		int zero = 0;	/* stdin */
		int r;

		xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
		xp_put_str(&m, "");
		len = xp_end(&m, 1);
		r = xp_send(fd, buf, (size_t)len, &zero, 1);
		bad += check(&cs[i++], r ? r : answer(fd));
	}
	close(fd);
	/* the daemon still serves */
	fd = raw_connect();
	if (hello(fd) != 0) {
		printf("daemon no longer answers\n");
		bad++;
	}
	close(fd);
	printf("%s\n", bad ? "hostile: FAILED" : "hostile: all rejected, daemon alive");
	return bad ? 1 : 0;
}

/* --- protocol version skew, flooding, transmit, stalling ------------------ */

/* HELLO with protocol version @ver in the header and the body. */
static int run_version(uint32_t ver)
{
	int fd = raw_connect(), fds[XP_MAX_FDS], n;
	unsigned int nfds = 0;
	char msg[XP_STR_MAX + 1] = "";
	struct timeval tv = { .tv_sec = 5 };
	struct xp_hdr h;
	struct xp_msg m;
	int len;

	xp_begin(&m, buf, sizeof(buf), XP_HELLO, 0);
	xp_put_u32(&m, ver);
	len = xp_end(&m, 0);
	memcpy(&h, buf, sizeof(h));
	h.version = (uint16_t)ver;
	memcpy(buf, &h, sizeof(h));
	xp_send(fd, buf, (size_t)len, NULL, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = xp_recv(fd, rbuf, sizeof(rbuf), fds, &nfds);
	close(fd);
	if (n < (int)sizeof(h)) {
		printf("version %u: no reply (%d)\n", ver, n);
		return 1;
	}
	memcpy(&h, rbuf, sizeof(h));
	if (n > (int)sizeof(h) + 2) {
		uint16_t sl;

		memcpy(&sl, rbuf + sizeof(h), 2);
		if (sl <= XP_STR_MAX && sizeof(h) + 2 + sl <= (size_t)n) {
			memcpy(msg, rbuf + sizeof(h) + 2, sl);
			msg[sl] = '\0';
		}
	}
	printf("version %u: %s: %s (reply in protocol version %u)\n", ver,
	       h.status ? strerror(-(int32_t)h.status) : "accepted", msg, h.version);
	return (int32_t)h.status == -EPROTONOSUPPORT ? 0 : 1;
}

/* Milliseconds on the monotonic clock. */
static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Ask for more than a tenant gets: snapshots, sockets, requests. */
static int run_flood(struct xsnap_ctx *ctx, struct xsnap_sock *s, const char *tenant,
		     unsigned long count, const char *readyf)
{
	static struct xsnap_sock *more[256];
	struct xsnap_snap *sn[64];
	int nsn = 0, nmore = 0, snap_err = 0, sock_err = 0, bad = 0;
	unsigned long answered = 0;
	uint64_t t0;

	ready(readyf);
	while (nsn < 64) {
		XSNAP_OPTS(xsnap_snap_opts, o, .frames = 1);

		sn[nsn] = xsnap_snapshot(s, &o);
		if (!sn[nsn]) {
			snap_err = errno;
			break;
		}
		nsn++;
	}
	printf("flood: %d snapshots open, then: %s\n", nsn, snap_err ? strerror(snap_err) : "none");
	bad += snap_err != EMFILE;
	while (nmore < 256) {
		more[nmore] = xsnap_socket(ctx, tenant, NULL);
		if (!more[nmore]) {
			sock_err = errno;
			break;
		}
		nmore++;
	}
	printf("flood: %d more sockets, then: %s\n", nmore, sock_err ? strerror(sock_err) : "none");
	bad += sock_err != EMFILE;
	t0 = now_ms();
	for (unsigned long i = 0; i < count && !stop; i++) {
		XSNAP_OPTS(xsnap_stats, st);

		if (xsnap_stats(ctx, tenant, &st))
			break;
		answered++;
	}
	printf("flood: %lu of %lu stats requests answered in %llu ms\n", answered, count,
	       (unsigned long long)(now_ms() - t0));
	bad += answered != count;
	for (int i = 0; i < nsn; i++)
		xsnap_snap_close(sn[i]);
	for (int i = 0; i < nmore; i++)
		xsnap_sock_close(more[i]);
	printf("%s\n", bad ? "flood: limits NOT enforced" : "flood: limits enforced");
	return bad ? 1 : 0;
}

/* No transmit on a connected context (docs/design.md), so nothing can be
 * spoofed through it: both ways in must say EOPNOTSUPP. */
/* Swap Ethernet, IP and UDP/TCP source and destination of frame @d. */
static void swap_frame(uint8_t *d, const struct xsnap_meta *m)
{
	uint8_t t[16];
	unsigned int n[3] = { 6, m->l3_proto == 4 ? 4 : 16, 2 };
	unsigned int off[3] = { 0, m->l3_off + (m->l3_proto == 4 ? 12 : 8), m->l4_off };

	for (int k = 0; k < 3; k++) {
		if (k == 2 && !m->l4_off)
			break;
		memcpy(t, d + off[k], n[k]);
		memcpy(d + off[k], d + off[k] + n[k], n[k]);
		memcpy(d + off[k] + n[k], t, n[k]);
	}
}

/*
 * Then a flood of refused batches: TXFLOOD_BATCH copies of the spoofed
 * frame sent again and again for TXFLOOD_MS.  Each refused request costs
 * the daemon a copy and a policy check per frame, so it costs the client a
 * whole request of its rate limit: print how many were answered, which the
 * test bounds by the limit.  Consumes @spoof.
 */
#define TXFLOOD_BATCH 32
#define TXFLOOD_MS 2000

static int txpolicy_flood(struct xsnap_sock *s, struct xsnap_frame *spoof, uint32_t len)
{
	struct xsnap_frame *v[TXFLOOD_BATCH];
	uint64_t t0, ms = 0, refused = 0, other = 0;
	unsigned int n = 0;
	uint8_t *p;

	v[n++] = spoof;
	while (n < TXFLOOD_BATCH) {
		v[n] = xsnap_frame_alloc(s, len);
		p = v[n] ? xsnap_frame_cow(s, &v[n]) : NULL;
		if (!p)
			break;
		memcpy(p, xsnap_frame_data(spoof), len);
		n++;
	}
	t0 = now_ms();
	while (ms < TXFLOOD_MS && !stop) {
		int r = xsnap_send(s, v, n);

		if (r == -EPERM)
			refused++;
		else
			other++;
		ms = now_ms() - t0;
	}
	printf("txpolicy: flood of %u-frame batches: %llu refused, %llu other in %llu ms\n", n,
	       (unsigned long long)refused, (unsigned long long)other, (unsigned long long)ms);
	xsnap_release(s, v, n);
	return n == TXFLOOD_BATCH && refused && !other ? 0 : 1;
}

/*
 * E8: transmit under the tenant's rules.  Receive one frame, make a
 * private version sent back to its sender (addresses swapped: it conforms
 * to "ip src RX and udp src port P"), and a copy of it whose IPv4 source is
 * 10.199.0.77 (someone else's).  The spoofed one must be refused (EPERM,
 * counted in tx_refused) and the conforming one sent; print its bytes.
 */
static int run_txpolicy(struct xsnap_ctx *ctx, struct xsnap_sock *s, const char *tenant,
			const char *readyf)
{
	static const uint8_t other[4] = { 10, 199, 0, 77 };
	XSNAP_OPTS(xsnap_stats, st0);
	XSNAP_OPTS(xsnap_stats, st1);
	struct xsnap_frame *f, *spoof;
	const struct xsnap_meta *m;
	uint8_t *w, *p;
	uint32_t len;
	int n, r1, r2;

	ready(readyf);
	do {
		n = xsnap_recv(s, &f, 1, 200);
	} while (n == 0 && !stop);
	if (n != 1) {
		printf("txpolicy: no frame received (%d)\n", n);
		return 1;
	}
	m = xsnap_frame_meta(f);
	len = xsnap_frame_len(f);
	w = xsnap_frame_cow(s, &f);
	spoof = xsnap_frame_alloc(s, len);
	p = spoof ? xsnap_frame_cow(s, &spoof) : NULL;
	if (!w || !p || m->l3_proto != 4) {
		printf("txpolicy: no private versions (%s)\n", strerror(errno));
		return 1;
	}
	swap_frame(w, m);
	memcpy(p, w, len);
	memcpy(p + m->l3_off + 12, other, 4);
	xsnap_stats(ctx, tenant, &st0);
	r1 = xsnap_send(s, &spoof, 1);
	printf("txpolicy: spoofed source: %s\n", r1 < 0 ? strerror(-r1) : "SENT");
	printf("txpolicy: frame");
	for (uint32_t i = 0; i < len; i++)
		printf("%s%02x", i ? "" : " ", w[i]);
	printf("\n");
	r2 = xsnap_send(s, &f, 1);
	printf("txpolicy: conforming: %s\n", r2 < 0 ? strerror(-r2) : r2 ? "sent" : "not taken");
	xsnap_stats(ctx, tenant, &st1);
	printf("txpolicy: tx_refused +%llu\n",
	       (unsigned long long)(st1.tx_refused - st0.tx_refused));
	if (r2 != 1)
		xsnap_release(s, &f, 1);
	if (r1 != -EPERM || r2 != 1 || st1.tx_refused - st0.tx_refused != 1) {
		xsnap_release(s, &spoof, 1);
		return 1;
	}
	return txpolicy_flood(s, spoof, len);
}

/* Use the released handle @old in every call: 0 if each refused it. */
static int stale_refused(struct xsnap_ctx *ctx, struct xsnap_sock *s, const char *tenant,
			 struct xsnap_frame *old, const char *when)
{
	XSNAP_OPTS(xsnap_stats, st0);
	XSNAP_OPTS(xsnap_stats, st1);
	void *w;
	int r, bad = 0;

	bad += xsnap_stats(ctx, tenant, &st0) != 0;
	bad += xsnap_frame_data(old) != NULL || xsnap_frame_len(old) || xsnap_frame_seq(old);
	w = xsnap_frame_cow(s, &old);
	printf("stale %s: cow: %s\n", when, w ? "ALLOWED" : strerror(errno));
	bad += w || errno != ESTALE;
	r = xsnap_frame_commit(s, old);
	printf("stale %s: commit: %s\n", when, r < 0 ? strerror(-r) : "ALLOWED");
	bad += r != -ESTALE;
	r = xsnap_send(s, &old, 1);
	printf("stale %s: send: %s\n", when, r < 0 ? strerror(-r) : "ALLOWED");
	bad += r != -ESTALE;
	xsnap_release(s, &old, 1);
	bad += xsnap_stats(ctx, tenant, &st1) != 0;
	/* the refused send and the release */
	printf("stale %s: bad_releases +%llu\n", when,
	       (unsigned long long)(st1.bad_releases - st0.bad_releases));
	bad += st1.bad_releases - st0.bad_releases != 2;
	return bad;
}

/* Frames through a tenant of log capacity @quota: a kept handle is refused,
 * also once its view holds a later frame. */
static int run_stale(struct xsnap_ctx *ctx, struct xsnap_sock *s, const char *tenant,
		     uint32_t quota, const char *readyf)
{
	struct xsnap_frame *f, *old = NULL;
	uint64_t seq0 = 0, seq;
	int n, bad = 0;

	ready(readyf);
	while (!stop) {
		n = xsnap_recv(s, &f, 1, 200);
		if (n < 0) {
			printf("stale: recv: %s\n", strerror(-n));
			return 1;
		}
		if (!n)
			continue;
		seq = xsnap_frame_seq(f);
		if (!old) {
			old = f;
			seq0 = seq;
			xsnap_release(s, &f, 1);
			bad += stale_refused(ctx, s, tenant, old, "released");
			continue;
		}
		if (seq == seq0 + quota) {
			/* this frame took the kept handle's view */
			uint64_t id = xsnap_frame_id(f);

			bad += stale_refused(ctx, s, tenant, old, "reused");
			printf("stale reused: holder seq %llu intact %s\n", (unsigned long long)seq,
			       xsnap_frame_seq(f) == seq && xsnap_frame_id(f) == id &&
					       xsnap_frame_data(f) ? "yes" : "NO");
			bad += xsnap_frame_seq(f) != seq || xsnap_frame_id(f) != id ||
			       !xsnap_frame_data(f);
			xsnap_release(s, &f, 1);
			printf("%s\n", bad ? "stale handle accepted" : "all refused");
			return bad ? 1 : 0;
		}
		xsnap_release(s, &f, 1);
	}
	printf("stale: the view was never reused\n");
	return 1;
}

/* Receive only when epoll on xsnap_fd() reports the socket readable. */
static int run_epoll(struct xsnap_sock *s, const char *readyf)
{
	uint64_t frames = 0, wakeups = 0, empty = 0;
	struct epoll_event ev = { .events = EPOLLIN };
	struct xsnap_frame *v[64];
	int ep = epoll_create1(EPOLL_CLOEXEC), fd = xsnap_fd(s), n;

	if (ep < 0 || fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		printf("epoll: %s\n", strerror(errno));
		return 1;
	}
	/* drain and arm: recv with timeout 0 until it returns 0 */
	while ((n = xsnap_recv(s, v, 64, 0)) > 0) {
		frames += (uint64_t)n;
		xsnap_release(s, v, (unsigned int)n);
	}
	ready(readyf);
	while (!stop) {
		struct epoll_event out;
		bool got = false;

		if (epoll_wait(ep, &out, 1, 200) <= 0)
			continue;
		wakeups++;
		while ((n = xsnap_recv(s, v, 64, 0)) > 0) {
			frames += (uint64_t)n;
			got = true;
			xsnap_release(s, v, (unsigned int)n);
		}
		if (n < 0) {
			printf("recv error: %s\n", strerror(-n));
			close(ep);
			return 3;
		}
		empty += !got;
	}
	close(ep);
	printf("frames %llu wakeups %llu empty %llu\n", (unsigned long long)frames,
	       (unsigned long long)wakeups, (unsigned long long)empty);
	return 0;
}

/* xsnap_recvfrom() until told to stop: the datagrams, and whence. */
static int run_recvfrom(struct xsnap_sock *s, const char *readyf)
{
	char srcs[8][INET6_ADDRSTRLEN + 8];
	uint64_t dgrams = 0, bad = 0;
	int nsrc = 0;

	ready(readyf);
	while (!stop) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		uint8_t buf[2048];
		char a[INET6_ADDRSTRLEN], one[sizeof(srcs[0])];
		uint32_t stream;
		uint64_t pseq;
		uint16_t port;
		ssize_t n = xsnap_recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
		bool known = false;

		if (n == -EINTR)
			break;
		if (n < 0) {
			printf("recvfrom error: %s\n", strerror((int)-n));
			return 3;
		}
		dgrams++;
		bad += payload_check(buf, (size_t)n, &stream, &pseq) != 0;
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)&ss;

			inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
			port = ntohs(in->sin_port);
		} else {
			const struct sockaddr_in6 *in6 = (const void *)&ss;

			inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
			port = ntohs(in6->sin6_port);
		}
		snprintf(one, sizeof(one), "%s:%u", a, port);
		for (int i = 0; i < nsrc && !known; i++)
			known = !strcmp(srcs[i], one);
		if (!known && nsrc < 8)
			snprintf(srcs[nsrc++], sizeof(srcs[0]), "%s", one);
	}
	printf("datagrams %llu bad %llu src", (unsigned long long)dgrams, (unsigned long long)bad);
	for (int i = 0; i < nsrc; i++)
		printf(" %s", srcs[i]);
	printf("\n");
	return 0;
}

/* E5: hold a snapshot (pinned frames of the tenant's log) until killed. */
static int run_snaphold(struct xsnap_sock *s, uint64_t count, uint32_t k, const char *readyf)
{
	struct xsnap_snap *sn;
	int rc;

	ready(readyf);
	sn = recv_then_snapshot(s, count, k, NULL, &rc);
	if (!sn)
		return rc;
	printf("snapshot held %llu\n", (unsigned long long)xsnap_snap_len(sn));
	fflush(stdout);
	while (!stop)
		pause();
	xsnap_snap_close(sn);
	return 0;
}

static int run_idle(const char *readyf)
{
	int fd = raw_connect();

	ready(readyf);
	while (!stop)
		pause();
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *tenant = NULL, *readyf = NULL, *mode = "recv", *gofile = NULL;
	unsigned long count = 0, k = 0;
	struct xsnap_sock *socks[16];
	struct xsnap_ctx *ctx;
	int opt, nsocks = 1, rc;
	bool ready_on_frame = false;
	struct sigaction sa = { .sa_handler = on_sig };
	XSNAP_OPTS(xsnap_sock_opts, sopts);

	while ((opt = getopt(argc, argv, "S:t:R:Fm:s:n:k:I:G:g:")) != -1) {
		switch (opt) {
		case 'S':
			sock_path = optarg;
			break;
		case 't':
			tenant = optarg;
			break;
		case 'R':
			readyf = optarg;
			break;
		case 'F':
			ready_on_frame = true;
			break;
		case 'm':
			mode = optarg;
			break;
		case 's':
			nsocks = atoi(optarg);
			break;
		case 'n':
			count = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			k = strtoul(optarg, NULL, 10);
			break;
		case 'g':
			gofile = optarg;
			break;
		case 'G':
			sopts.mode = XSNAP_SHARE;
			sopts.group = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'I':
			ids = fopen(optarg, "w");
			if (!ids) {
				perror(optarg);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (!sock_path || (!tenant && strcmp(mode, "version") && strcmp(mode, "idle")) ||
	    nsocks < 1 || nsocks > 16) {
		fprintf(stderr, "usage: xsnap_dclient -S SOCK -t TENANT [-R READY [-F]] [-m MODE] "
				"[-s N] [-n COUNT -k K] [-I IDS] [-G GROUP]\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "version")) {
		ready(readyf);
		return run_version((uint32_t)count);
	}
	if (!strcmp(mode, "idle"))
		return run_idle(readyf);
	ctx = xsnap_connect(sock_path);
	if (!ctx) {
		printf("connect failed: %s\n", strerror(errno));
		return 4;
	}
	for (int i = 0; i < nsocks; i++) {
		socks[i] = xsnap_socket(ctx, tenant, &sopts);
		if (!socks[i]) {
			printf("socket failed: %s\n", strerror(errno));
			ready(readyf);
			xsnap_close(ctx);
			return 5;
		}
	}
	if (!strcmp(mode, "recv") || !strcmp(mode, "hold"))
		rc = run_recv(ctx, socks, nsocks, tenant, !strcmp(mode, "hold"), readyf,
			      ready_on_frame);
	else if (!strcmp(mode, "snap"))
		rc = run_snap(socks[0], count, (uint32_t)k, readyf);
	else if (!strcmp(mode, "snaphold"))
		rc = run_snaphold(socks[0], count, (uint32_t)k, readyf);
	else if (!strcmp(mode, "write"))
		rc = run_write(socks[0], readyf);
	else if (!strcmp(mode, "mmapw"))
		rc = run_mmapw(ctx, socks[0], tenant, readyf);
	else if (!strcmp(mode, "flood"))
		rc = run_flood(ctx, socks[0], tenant, count, readyf);
	else if (!strcmp(mode, "txpolicy"))
		rc = run_txpolicy(ctx, socks[0], tenant, readyf);
	else if (!strcmp(mode, "epoll"))
		rc = run_epoll(socks[0], readyf);
	else if (!strcmp(mode, "recvfrom"))
		rc = run_recvfrom(socks[0], readyf);
	else if (!strcmp(mode, "cow"))
		rc = nsocks == 2 ? run_cow(socks[0], socks[1], (int)count, readyf) : 2;
	else if (!strcmp(mode, "late"))
		rc = run_late(socks[0], (int)count, gofile, readyf);
	else if (!strcmp(mode, "stale"))
		rc = run_stale(ctx, socks[0], tenant, (uint32_t)k, readyf);
	else if (!strcmp(mode, "hostile")) {
		ready(readyf);
		rc = run_hostile(socks[0], tenant);
	} else
		rc = 2;
	xsnap_close(ctx);
	if (ids && fclose(ids))
		rc = rc ? rc : 1;
	return rc;
}
