// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_fault: the faults of tests/netns/test_fault_abc.sh that need a
 * program's inside view (rings, views, kicks) on a real veth.
 *
 * In-process scenarios run in the lab's rx namespace and open xsnap on the
 * rx veth themselves; they send their own frames from the tx end through an
 * AF_PACKET socket opened inside the tx namespace (setns there and back),
 * and read what comes back there, so each one is a single deterministic
 * program that waits on counters, never on time:
 *
 *   xsnap_fault SCENARIO -i RX_IF -n TX_NETNS -I TX_IF
 *     short      A1: 0..13-byte frames (the injector refuses them: EINVAL)
 *                and 14..41-byte runts: each counted under the reason the
 *                userspace reference parser gives (a cut UDP header: bad_l4,
 *                classified without ports), no tenant matched
 *     txbad      B1/B4: invalid descriptors through xsnap_send are refused
 *                before the TX ring (kernel tx_invalid_descs stays 0), the
 *                next valid send arrives byte-exact; a victim tenant's
 *                stream is intact
 *     fillempty  C1: nobody receives, the fill ring empties (kernel
 *                rx_dropped and rx_fill_ring_empty_descs +10), then 10/10
 *     slotreuse  A14: tenants deleted and added in one slot while frames flow;
 *                a snapshot of the newcomer holds none of the deleted
 *                tenant's frames (inline engine, then the engine thread)
 *     frag       A7: the tx stack fragments 50 UDP datagrams (3000 bytes,
 *                MTU 1500): the first fragments match the port rule, every
 *                fragment the L3 rule; later ones counted as fragments
 *     wakeup     C6: copy mode transmits only when kicked (need_wakeup set
 *                on the TX ring; kicks withheld: nothing leaves), a batch
 *                larger than one kick's budget goes out whole; C5: the pool
 *                in flight and the kernel stalled, sends stall without loss
 *                and resume; 500 frames through a 64-chunk pool all arrive
 *                in order, each completed once
 *
 *     ifgone     D9 in-process: a veth made for the purpose is deleted under
 *                an open context (engine thread, then inline): a consumer
 *                blocked in xsnap_recv() returns -ENETDOWN, as do the next
 *                recv and send; the context closes cleanly
 *
 * Connected scenarios talk to a running xsnapd (-S SOCK):
 *     badrel     B2: forged releases (another socket's frame, misaligned,
 *                foreign, twice) and a forged release watermark, counted
 *                and confined to the tenant (-t TENANT)
 *     snaps      C4: snapshots in a loop until the daemon refuses one; all
 *                closed, one more works
 *     many       C8: connect until refused (-N EXPECTED successes); the
 *                refusal names the cause; after one leaves, one more fits
 *
 * Prints "key value" lines and "OK" or "FAIL: ..." last; exit 0, 1, or 77
 * (a "SKIP reason: ..." line) when the environment cannot run it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "frames.h"
#include "payload.h"
#include "xsnap_internal.h"
#include "xsnap_parse.h"

#define PORT_T 9000		/* the tenant the fault is aimed at */
#define PORT_V 9001		/* the victim tenant */
#define STREAM_T 1
#define STREAM_V 2
#define STREAM_TX 3
#define PL_LEN 64

static struct {
	const char *rx_if, *tx_ns, *tx_if, *sock, *tenant;
	int expect;
} opt;

static int failed;
static char msgbuf[16384];

#define FAIL(...)                                                                      \
	do {                                                                           \
		printf("FAIL: ");                                                      \
		printf(__VA_ARGS__);                                                   \
		printf(" (line %d)\n", __LINE__);                                      \
		failed = 1;                                                            \
	} while (0)
#define EXPECT(cond, ...)                                                              \
	do {                                                                           \
		if (!(cond))                                                           \
			FAIL(__VA_ARGS__);                                             \
	} while (0)

static int capture_print(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	size_t n = strlen(msgbuf);
	va_list aq;

	va_copy(aq, ap);
	vfprintf(stderr, fmt, aq);
	va_end(aq);
	if (level != XSNAP_DEBUG && n < sizeof(msgbuf) - 1)
		vsnprintf(msgbuf + n, sizeof(msgbuf) - n, fmt, ap);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- kicks: every sendto() on an AF_XDP socket goes through here --------- */
/*
 * The library is linked statically, so this definition is the one its
 * sendto() calls reach: it counts the TX kicks on the xsk descriptor and,
 * while kicks_blocked, swallows them (the ring is written, nobody tells the
 * kernel), which is how C6 shows that copy mode moves only when kicked.
 */
static int kick_fd = -1;
static int kicks_blocked;
static unsigned long kicks;

ssize_t sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG to,
	       socklen_t tolen)
{
	if (fd == kick_fd && kick_fd >= 0) {
		kicks++;
		if (kicks_blocked)
			return 0;
	}
	return syscall(SYS_sendto, fd, buf, len, flags, to.__sockaddr__, tolen);
}

/* --- the tx end: inject and capture -------------------------------------- */
static int inj = -1, udp_tx = -1;

static int inj_open(void)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	char path[128];
	int self, ns, err = 0;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/run/netns/%s", opt.tx_ns);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET)) {
		fprintf(stderr, "entering %s: %s\n", path, strerror(errno));
		return -1;
	}
	inj = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	sll.sll_ifindex = (int)if_nametoindex(opt.tx_if);
	if (inj < 0 || !sll.sll_ifindex || bind(inj, (struct sockaddr *)&sll, sizeof(sll)))
		err = -1;
	/* room for every frame a case transmits back before it reads them */
	int rcv = 8 << 20;

	if (inj >= 0)
		setsockopt(inj, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	udp_tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);	/* the tx stack's */
	if (udp_tx < 0)
		err = -1;
	if (setns(self, CLONE_NEWNET))
		err = -1;
	close(self);
	close(ns);
	if (err)
		fprintf(stderr, "packet socket on %s: %s\n", opt.tx_if, strerror(errno));
	return err;
}

/* A UDP frame to @dport carrying payload (@stream, @seq). */
static void udp_frame(struct frame *f, uint16_t dport, uint32_t stream, uint64_t seq)
{
	memset(f, 0, sizeof(*f));
	frame_eth(f);
	frame_ipv4(f, "10.199.0.1", "10.199.0.2", 0);
	frame_udp(f, 4000, dport);
	frame_payload(f, PL_LEN);
	payload_fill(f->b + f->l4_off + 8, PL_LEN, stream, seq);
	frame_finish(f);
}

static int inject(const void *b, size_t len)
{
	return send(inj, b, len, 0) == (ssize_t)len ? 0 : -errno;
}

static int inject_udp(uint16_t dport, uint32_t stream, uint64_t seq)
{
	struct frame f;

	udp_frame(&f, dport, stream, seq);
	return inject(f.b, f.len);
}

/* Wait up to @ms for a frame arriving on the tx end (not one we sent). */
static ssize_t capture(uint8_t *buf, size_t cap, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		struct pollfd p = { .fd = inj, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		int64_t left = (int64_t)(end - now_ms());
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		n = recvfrom(inj, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n > 0 && from.sll_pkttype != PACKET_OUTGOING)
			return n;
	}
}

/* --- in-process helpers --------------------------------------------------- */
static struct xsnap_ctx *ctx;

/* @engine: XSNAP_ENGINE_INLINE for the rows about what the engine does
 * when (and only when) a receive runs it: C1, C5/C6 */
static struct xsnap_ctx *open_ctx(uint32_t frames, uint32_t ring, uint32_t engine)
{
	XSNAP_OPTS(xsnap_opts, o, .frames = frames, .ring_size = ring, .engine = engine);
	struct xsnap_ctx *c = xsnap_open(opt.rx_if, &o);

	if (!c)
		printf("FAIL: xsnap_open %s: %s\n", opt.rx_if, strerror(errno));
	return c;
}

static int add_tenant(const char *name, uint32_t quota, uint16_t port)
{
	XSNAP_OPTS(xsnap_tenant_opts, to, .quota = quota);
	char match[64];

	snprintf(match, sizeof(match), "udp dst port %u", port);
	if (xsnap_tenant_add(ctx, name, &to) < 0 || xsnap_rule_add(ctx, name, match, 10) < 0) {
		printf("FAIL: tenant %s: %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

static void stats(const char *tenant, struct xsnap_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	xsnap_stats(ctx, tenant, st);
}

static uint64_t xdp_total(void)
{
	struct xsnap_stats st;
	uint64_t n = 0;

	stats(NULL, &st);
	for (int r = 0; r < XSNAP_R_MAX; r++)
		n += st.xdp[r];
	return n;
}

/* A stream receiver: payloads checked, sequence tracked. */
struct rx {
	struct xsnap_sock *s;
	uint32_t stream;
	struct seq_tracker seq;
	uint64_t frames, bad;
};

/* Receive up to @want frames within 5 s, checking each; @keep: hold them
 * in @held (else release). */
static unsigned int rx_take(struct rx *r, unsigned int want, struct xsnap_frame **held)
{
	uint64_t end = now_ms() + 5000;
	unsigned int got = 0;

	while (got < want && now_ms() < end) {
		struct xsnap_frame *v[64];
		unsigned int room = want - got < 64 ? want - got : 64;
		int n = xsnap_recv(r->s, v, room, 100);

		if (n < 0) {
			FAIL("recv: %s", strerror(-n));
			break;
		}
		for (int i = 0; i < n; i++) {
			const void *pl;
			size_t pll;
			uint32_t stream;
			uint64_t seq;

			if (payload_of_frame(xsnap_frame_data(v[i]), xsnap_frame_len(v[i]), &pl,
					     &pll) ||
			    payload_check(pl, pll, &stream, &seq) || stream != r->stream)
				r->bad++;
			else
				seq_track(&r->seq, seq);
			r->frames++;
			if (held)
				held[got + (unsigned int)i] = v[i];
		}
		if (!held && n > 0)
			xsnap_release(r->s, v, (unsigned int)n);
		got += n > 0 ? (unsigned int)n : 0;
	}
	return got;
}

static void rx_report(const char *who, const struct rx *r)
{
	printf("%s frames %llu bad_payload %llu seq_gaps %llu dups %llu\n", who,
	       (unsigned long long)r->frames, (unsigned long long)r->bad,
	       (unsigned long long)r->seq.gaps, (unsigned long long)r->seq.dups);
}

/* Run the engine once (it runs inside receivers): completions, refills. */
static void engine_turn(struct xsnap_sock *s)
{
	struct xsnap_frame *x;

	if (xsnap_recv(s, &x, 1, 1) > 0)
		xsnap_release(s, &x, 1);
}

/* Frame conservation of the whole context, every socket closed. */
static void close_and_check(void)
{
	struct xsnap_stats st;

	stats(NULL, &st);
	uint64_t leaked = st.frames_total - st.frames_free - st.frames_kernel - st.frames_logged;

	printf("frames total %u free %u kernel %u logged %u leaked %llu\n", st.frames_total,
	       st.frames_free, st.frames_kernel, st.frames_logged, (unsigned long long)leaked);
	EXPECT(leaked == 0, "%llu frames leaked", (unsigned long long)leaked);
	/* and no reference without a holder (which conservation cannot see) */
	EXPECT(xsnap_audit(ctx) == 0, "the reference audit failed");
	xsnap_close(ctx);
	ctx = NULL;
}

static struct xdp_statistics kstats(void)
{
	struct xdp_statistics xs = { 0 };
	socklen_t len = sizeof(xs);

	getsockopt(ctx->q[0].fd, SOL_XDP, XDP_STATISTICS, &xs, &len);
	return xs;
}

/* --- A1 ------------------------------------------------------------------- */
static void sc_short(void)
{
	uint64_t before[XSNAP_R_MAX], want[XSNAP_R_MAX] = { 0 };
	struct xsnap_stats st;
	uint8_t buf[64] = { 0 };
	unsigned int sent = 0;
	struct rx r = { .stream = STREAM_T };

	if (!(ctx = open_ctx(0, 0, XSNAP_ENGINE_THREAD)) || add_tenant("t", 1024, PORT_T))
		return;
	r.s = xsnap_socket(ctx, "t", NULL);
	stats(NULL, &st);
	memcpy(before, st.xdp, sizeof(before));
	uint64_t total0 = xdp_total();
	/* 0..13 bytes: shorter than Ethernet */
	for (size_t len = 0; len < ETH_HLEN; len++) {
		int err = inject(buf, len);

		printf("inject %zu bytes: %s\n", len, err ? strerror(-err) : "sent");
		if (!err) {	/* a kernel that lets them through: the program must cope */
			want[XSNAP_R_SHORT_L2]++;
			sent++;
		} else {
			EXPECT(err == -EINVAL, "%zu-byte frame: %s, expected EINVAL", len,
			       strerror(-err));
		}
	}
	/* runts from 14 bytes: cut Ethernet, VLAN, IPv4 and UDP headers of a
	 * frame the tenant's rule would match */
	struct frame f;

	udp_frame(&f, PORT_T, STREAM_T, 999);
	for (size_t len = ETH_HLEN; len < 42; len++) {
		struct xsnap_pkt p;
		int reason;

		/* from 34 bytes the IPv4 length says what is there: the UDP
		 * header is what is cut */
		struct frame g = f;

		if (len >= 34)
			frame_put16(&g, g.l3_off + 2, (uint16_t)(len - ETH_HLEN));
		memset(&p, 0, sizeof(p));
		reason = -xsnap_parse(g.b, g.b + len, &p);
		if (reason == 0 && p.l4_bad) {
			/* a cut UDP header: classified without ports, so the
			 * port rule cannot match (nomatch, not checked) */
			want[XSNAP_R_BAD_L4]++;
		} else if (reason <= 0 || reason >= XSNAP_R_MAX) {
			FAIL("the reference parser accepts a %zu-byte cut of a UDP frame", len);
			continue;
		} else {
			want[reason]++;
		}
		EXPECT(!inject(g.b, len), "inject %zu bytes", len);
		sent++;
	}
	/* control: whole frames reach the tenant */
	for (uint64_t i = 0; i < 20; i++)
		EXPECT(!inject_udp(PORT_T, STREAM_T, i), "inject");
	want[XSNAP_R_DELIVER] += 20;
	uint64_t end = now_ms() + 5000;

	while (xdp_total() < total0 + sent + 20 && now_ms() < end)
		usleep(2000);
	rx_take(&r, 20, NULL);
	stats(NULL, &st);
	for (int k = 0; k < XSNAP_R_MAX; k++) {
		uint64_t got = st.xdp[k] - before[k];

		if (got || want[k])
			printf("reason %s %llu expected %llu\n", xsnap_reason_str(k),
			       (unsigned long long)got, (unsigned long long)want[k]);
		/* nomatch: whatever else the tx namespace's stack sends */
		if (k != XSNAP_R_NOMATCH)
			EXPECT(got == want[k], "reason %s moved by %llu, expected %llu",
			       xsnap_reason_str(k), (unsigned long long)got,
			       (unsigned long long)want[k]);
	}
	rx_report("tenant", &r);
	EXPECT(r.frames == 20 && r.bad == 0 && r.seq.gaps == 0, "the tenant got only the controls");
	stats("t", &st);
	EXPECT(st.rx_frames == 20, "tenant logged %llu", (unsigned long long)st.rx_frames);
	xsnap_sock_close(r.s);
	close_and_check();
}

/* --- A14: a tenant slot reused under load ---------------------------------- */
static _Atomic bool inj_stop;

/* Both streams, interleaved, until told to stop: a (PORT_T, STREAM_T) and
 * b (PORT_V, STREAM_V).  Paced a little so the rx ring is not all one
 * burst; the checks wait on counters, never on this pace. */
static void *slot_injector(void *arg)
{
	uint64_t seq = 0;

	(void)arg;
	while (!atomic_load(&inj_stop)) {
		for (int i = 0; i < 16; i++, seq++) {
			inject_udp(PORT_T, STREAM_T, seq);
			inject_udp(PORT_V, STREAM_V, seq);
		}
		usleep(500);
	}
	return NULL;
}

/* Wait up to 5 s until the program tagged @min frames for @tenant since
 * it was added (its per-slot XDP counter starts at 0 with it). */
static bool tagged_at_least(const char *tenant, uint64_t min)
{
	uint64_t end = now_ms() + 5000;
	struct xsnap_stats st;

	do {
		stats(tenant, &st);
		if (st.xdp_tenant_frames >= min)
			return true;
	} while (now_ms() < end && !usleep(1000));
	return false;
}

/*
 * Two tenants take turns in slot 0 while both streams flow: "a" (udp dst
 * port PORT_T, stream STREAM_T) and "b" (PORT_V, STREAM_V).  A round waits
 * until frames were tagged for the tenant in the slot, deletes it, adds
 * the other one (same slot), waits until frames were tagged for that one,
 * and snapshots it: the snapshot must hold its own stream only.  With the
 * inline engine the deleted tenant's frames wait in the rx ring until the
 * snapshot runs the engine (the old code logged them for the newcomer);
 * then the same with the engine thread.
 */
static void sc_slotreuse(void)
{
	static const struct {
		const char *name;
		uint16_t port;
		uint32_t stream;
	} ten[2] = { { "a", PORT_T, STREAM_T }, { "b", PORT_V, STREAM_V } };
	XSNAP_OPTS(xsnap_snap_opts, all, .frames = 1024);
	uint64_t own = 0, foreign = 0;
	pthread_t th;

	atomic_store(&inj_stop, false);
	if (pthread_create(&th, NULL, slot_injector, NULL)) {
		FAIL("injector thread");
		return;
	}
	for (int mode = 0; mode < 2 && !failed; mode++) {
		uint32_t engine = mode ? XSNAP_ENGINE_THREAD : XSNAP_ENGINE_INLINE;

		if (!(ctx = open_ctx(0, 0, engine)) || add_tenant("a", 1024, PORT_T))
			break;
		for (int r = 0; r < 10 && !failed; r++) {
			int cur = r & 1, nxt = !cur, slot;
			struct xsnap_frame *v[64];
			struct xsnap_snap *sn;
			struct xsnap_sock *s;
			uint64_t mine = 0, theirs = 0;
			int n;

			EXPECT(tagged_at_least(ten[cur].name, 32), "no frames tagged for %s",
			       ten[cur].name);
			EXPECT(!xsnap_tenant_del(ctx, ten[cur].name), "delete %s", ten[cur].name);
			slot = xsnap_tenant_add(ctx, ten[nxt].name, NULL);
			EXPECT(slot == 0, "%s took slot %d, expected the freed slot 0",
			       ten[nxt].name, slot);
			char match[64];

			snprintf(match, sizeof(match), "udp dst port %u", ten[nxt].port);
			EXPECT(xsnap_rule_add(ctx, ten[nxt].name, match, 10) > 0, "rule");
			if (!(s = xsnap_socket(ctx, ten[nxt].name, NULL))) {
				FAIL("socket %s: %s", ten[nxt].name, strerror(errno));
				break;
			}
			EXPECT(tagged_at_least(ten[nxt].name, 32), "no frames tagged for %s",
			       ten[nxt].name);
			if (!(sn = xsnap_snapshot(s, &all))) {
				FAIL("snapshot: %s", strerror(errno));
				xsnap_sock_close(s);
				break;
			}
			while ((n = xsnap_snap_next(sn, v, 64)) > 0) {
				for (int i = 0; i < n; i++) {
					const uint8_t *d = xsnap_frame_data(v[i]);
					const struct xsnap_meta *m = xsnap_frame_meta(v[i]);
					uint32_t len = xsnap_frame_len(v[i]), stream = 0;

					if (m->l4_off && m->l4_off + 8u + PAYLOAD_HDR_LEN <= len)
						stream = payload_get32(d + m->l4_off + 8 +
								       PAYLOAD_OFF_STREAM);
					if (stream == ten[nxt].stream)
						mine++;
					else
						theirs++;
				}
			}
			printf("%s engine, round %d: %s in slot %d, snapshot: %llu own, %llu "
			       "foreign\n",
			       mode ? "thread" : "inline", r, ten[nxt].name, slot,
			       (unsigned long long)mine, (unsigned long long)theirs);
			EXPECT(mine > 0, "%s's snapshot holds none of its own frames", ten[nxt].name);
			EXPECT(theirs == 0, "%s's snapshot holds %llu frames of %s", ten[nxt].name,
			       (unsigned long long)theirs, ten[cur].name);
			own += mine;
			foreign += theirs;
			xsnap_snap_close(sn);
			xsnap_sock_close(s);
		}
		xsnap_close(ctx);
		ctx = NULL;
	}
	atomic_store(&inj_stop, true);
	pthread_join(th, NULL);
	printf("slot reuse: %llu own frames, %llu foreign in the snapshots\n",
	       (unsigned long long)own, (unsigned long long)foreign);
}

/* --- B1/B4 ---------------------------------------------------------------- */
static void sc_txbad(void)
{
	struct xsnap_frame *v[8], *o;
	struct rx rt = { .stream = STREAM_T }, rv = { .stream = STREAM_V };
	struct frame sent[8];
	uint8_t buf[2048];
	xsnap_print_fn_t old;

	if (!(ctx = open_ctx(0, 0, XSNAP_ENGINE_THREAD)) || add_tenant("t", 1024, PORT_T) ||
	    add_tenant("victim", 1024, PORT_V))
		return;
	rt.s = xsnap_socket(ctx, "t", NULL);
	rv.s = xsnap_socket(ctx, "victim", NULL);
	/* the victim's stream runs before, during and after the fault */
	for (uint64_t i = 0; i < 100; i++) {
		if (i < 8) {
			udp_frame(&sent[i], PORT_T, STREAM_T, i);
			EXPECT(!inject(sent[i].b, sent[i].len), "inject");
		}
		EXPECT(!inject_udp(PORT_V, STREAM_V, i), "inject");
	}
	EXPECT(rx_take(&rt, 8, v) == 8, "tenant t: 8 frames");
	o = xsnap_frame_alloc(rv.s, 64);	/* a chunk of the victim's pool */
	EXPECT(o != NULL, "alloc in the victim's pool");

	struct xsnap_frame *f = handle_view(v[0]);
	const struct xsnap_frame good = *f;
	uint64_t base = good.addr & ~(uint64_t)(FRAME_SIZE - 1);
	struct {
		const char *why;
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ "len below an Ethernet header", good.addr, 0 },
		{ "len below an Ethernet header", good.addr, 13 },
		{ "len beyond a frame", good.addr, 3841 },
		{ "addr outside the UMEM", (uint64_t)ctx->umem.nchunks << FRAME_SHIFT, 64 },
		{ "across the end of a chunk", base + FRAME_SIZE - 16, 64 },
		{ "another tenant's pool", o ? handle_view(o)->addr : 0, 64 },
	};
	struct xsnap_frame *twice[2] = { v[1], v[1] };

	old = xsnap_set_print(capture_print);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msgbuf[0] = '\0';
		f->addr = bad[i].addr;
		f->len = bad[i].len;
		EXPECT(xsnap_send(rt.s, v, 3) == -EINVAL, "send of a bad descriptor accepted");
		EXPECT(strstr(msgbuf, bad[i].why), "message '%s' lacks '%s'", msgbuf, bad[i].why);
		*f = good;
	}
	EXPECT(xsnap_send(rt.s, twice, 2) == -EINVAL, "the same frame twice accepted");
	xsnap_set_print(old);
	struct xdp_statistics ks = kstats();

	printf("kernel tx_invalid_descs %llu\n", (unsigned long long)ks.tx_invalid_descs);
	EXPECT(ks.tx_invalid_descs == 0, "a bad descriptor reached the kernel");
	EXPECT(ctx->q[0].tx_prod == 0, "descriptors were queued");

	/* the next valid send goes out, byte-exact, zero-copy */
	EXPECT(xsnap_send(rt.s, v, 3) == 3, "valid send");
	for (int i = 0; i < 3; i++) {
		ssize_t n;
		uint32_t stream = 0;
		uint64_t seq = 0;
		const void *pl;
		size_t pll;

		do {	/* skip what is not ours (the tx stack's own frames) */
			n = capture(buf, sizeof(buf), 5000);
		} while (n > 0 && (payload_of_frame(buf, (size_t)n, &pl, &pll) ||
				   payload_check(pl, pll, &stream, &seq) || stream != STREAM_T));
		EXPECT(n == (ssize_t)sent[i].len && seq == (uint64_t)i &&
			       !memcmp(buf, sent[i].b, sent[i].len),
		       "transmitted frame %d: %zd bytes, seq %llu", i, n, (unsigned long long)seq);
	}
	uint64_t end = now_ms() + 5000;
	struct xsnap_stats st;

	do {	/* the engine takes completions when it runs */
		engine_turn(rt.s);
		stats("t", &st);
	} while (st.tx_completed < 3 && now_ms() < end);
	printf("tenant tx_frames %llu tx_completed %llu bad_releases %llu\n",
	       (unsigned long long)st.tx_frames, (unsigned long long)st.tx_completed,
	       (unsigned long long)st.bad_releases);
	EXPECT(st.tx_frames == 3 && st.tx_completed == 3, "transmits");
	EXPECT(st.bad_releases == 7, "refused sends counted");
	ks = kstats();
	EXPECT(ks.tx_invalid_descs == 0, "tx_invalid_descs %llu",
	       (unsigned long long)ks.tx_invalid_descs);
	xsnap_release(rt.s, v + 3, 5);
	if (o)
		xsnap_release(rv.s, &o, 1);
	rx_take(&rv, 100, NULL);
	rx_report("victim", &rv);
	EXPECT(rv.frames == 100 && rv.bad == 0 && rv.seq.gaps == 0 && rv.seq.dups == 0,
	       "the victim lost or saw corrupted frames");
	xsnap_sock_close(rt.s);
	xsnap_sock_close(rv.s);
	close_and_check();
}

/* --- C1 ------------------------------------------------------------------- */
static void sc_fillempty(void)
{
	const uint32_t ring = 64;
	struct rx r = { .stream = STREAM_T };
	struct xdp_statistics ks;
	struct xsnap_stats st;
	uint64_t end;

	/* 256 frames: the fill and rx rings (64 each) and a quota of 64 */
	if (!(ctx = open_ctx(256, ring, XSNAP_ENGINE_INLINE)) || add_tenant("t", 64, PORT_T))
		return;
	r.s = xsnap_socket(ctx, "t", NULL);
	/* nobody calls xsnap_recv: the engine does not run; the kernel has the
	 * 64 chunks of the fill ring and no more */
	for (uint64_t i = 0; i < ring + 10; i++)
		EXPECT(!inject_udp(PORT_T, STREAM_T, i), "inject");
	end = now_ms() + 5000;
	do {
		ks = kstats();
	} while (ks.rx_fill_ring_empty_descs < 10 && now_ms() < end && !usleep(2000));
	stats("t", &st);
	printf("xdp %llu kernel rx_dropped %llu rx_fill_ring_empty_descs %llu\n",
	       (unsigned long long)st.xdp_tenant_frames, (unsigned long long)ks.rx_dropped,
	       (unsigned long long)ks.rx_fill_ring_empty_descs);
	EXPECT(st.xdp_tenant_frames == ring + 10, "frames that reached XDP");
	EXPECT(ks.rx_fill_ring_empty_descs == 10, "fill ring empty count");
	EXPECT(ks.rx_dropped == 10, "kernel drops");
	stats(NULL, &st);
	EXPECT(st.kernel_fill_empty == 10 && st.kernel_rx_dropped == 10,
	       "xsnap_stats shows the kernel counters");
	/* the consumer runs again: the 64 that fit, in order, then 10/10 */
	EXPECT(rx_take(&r, ring, NULL) == ring, "the frames the kernel kept");
	EXPECT(r.seq.next == ring && r.seq.gaps == 0, "in order");
	for (uint64_t i = 0; i < 10; i++)
		EXPECT(!inject_udp(PORT_T, STREAM_T, ring + 10 + i), "inject");
	EXPECT(rx_take(&r, 10, NULL) == 10, "10/10 after the refill");
	ks = kstats();
	rx_report("tenant", &r);
	EXPECT(ks.rx_fill_ring_empty_descs == 10, "no new fill-ring drop after the refill");
	EXPECT(r.bad == 0 && r.frames == ring + 10, "frames");
	xsnap_sock_close(r.s);
	close_and_check();
}

/* --- D9 in-process: the device goes away ---------------------------------- */
struct blocked {
	struct xsnap_sock *s;
	_Atomic int done;
	int rc;
};

static void *recv_blocked(void *arg)
{
	struct blocked *b = arg;
	struct xsnap_frame *f;

	b->rc = xsnap_recv(b->s, &f, 1, -1);
	atomic_store(&b->done, 1);
	return NULL;
}

static int sh(const char *cmd)
{
	int r = system(cmd);

	EXPECT(r == 0, "'%s' failed (%d)", cmd, r);
	return r;
}

static void sc_ifgone(void)
{
	static const char *const mode[] = { "engine thread", "inline engine" };
	const uint32_t engines[] = { XSNAP_ENGINE_THREAD, XSNAP_ENGINE_INLINE };

	for (int m = 0; m < 2 && !failed; m++) {
		struct blocked b = { 0 };
		struct xsnap_frame *f, *fresh;
		struct xsnap_sock *s2;
		pthread_t th;
		uint64_t end;
		int r;

		if (sh("ip link add xs-gone type veth peer name xs-gone-p && "
		       "ip link set xs-gone up && ip link set xs-gone-p up"))
			return;
		XSNAP_OPTS(xsnap_opts, o, .engine = engines[m]);
		ctx = xsnap_open("xs-gone", &o);
		EXPECT(ctx, "%s: xsnap_open xs-gone: %s", mode[m], strerror(errno));
		if (!ctx || add_tenant("t", 64, PORT_T)) {
			sh("ip link del xs-gone");
			return;
		}
		b.s = xsnap_socket(ctx, "t", NULL);
		s2 = xsnap_socket(ctx, "t", NULL);
		EXPECT(b.s && s2, "sockets");
		fresh = s2 ? xsnap_frame_alloc(s2, 64) : NULL;
		EXPECT(fresh, "alloc");
		pthread_create(&th, NULL, recv_blocked, &b);
		/* the consumer is asleep in recv (nothing can arrive); the
		 * device goes while it sleeps or before: either way it must
		 * come back with ENETDOWN */
		sh("ip link del xs-gone");
		end = now_ms() + 5000;
		while (!atomic_load(&b.done) && now_ms() < end)
			usleep(1000);
		EXPECT(atomic_load(&b.done), "%s: recv still blocked 5 s after the removal", mode[m]);
		if (!atomic_load(&b.done)) {
			/* cannot join a thread that never returns: give up */
			printf("FAIL\n");
			_exit(1);
		}
		pthread_join(th, NULL);
		printf("%s: blocked recv: %s\n", mode[m], strerror(-b.rc));
		EXPECT(b.rc == -ENETDOWN, "%s: blocked recv returned %d", mode[m], b.rc);
		r = xsnap_recv(s2, &f, 1, 0);
		EXPECT(r == -ENETDOWN, "%s: recv after the removal returned %d", mode[m], r);
		r = xsnap_recv(s2, &f, 1, 100);
		EXPECT(r == -ENETDOWN, "%s: recv with a timeout returned %d", mode[m], r);
		r = fresh ? xsnap_send(s2, &fresh, 1) : -ENETDOWN;
		printf("%s: send: %s\n", mode[m], strerror(-r));
		EXPECT(r == -ENETDOWN, "%s: send after the removal returned %d", mode[m], r);
		xsnap_release(s2, &fresh, 1);
		xsnap_sock_close(b.s);
		xsnap_sock_close(s2);
		close_and_check();
		ctx = NULL;
	}
}

/* --- C1 with the engine thread --------------------------------------------- */
/* Nobody calls xsnap_recv for a while: the engine thread still moves every
 * frame into the log and restocks the fill ring, so the kernel never runs
 * out of fill entries, even for more frames than the fill and rx rings hold
 * together; a log that is full tail-drops for its tenant only (counted),
 * and the consumer then receives the oldest quota frames, in order. */
static void sc_norecv(void)
{
	const uint32_t ring = 128, quota = 256, burst = 1000;
	struct rx r = { .stream = STREAM_T };
	struct xdp_statistics ks;
	struct xsnap_stats st;
	uint64_t end, seq = 0;

	if (!(ctx = open_ctx(1024, ring, XSNAP_ENGINE_THREAD)) || add_tenant("t", quota, PORT_T))
		return;
	r.s = xsnap_socket(ctx, "t", NULL);
	/* 1. fewer than the quota, more than the rings: all logged.  16
	 * frames a millisecond: the engine thread has 8 ms to restock a fill
	 * ring of 128 on a loaded machine */
	for (; seq < 200; seq++) {
		EXPECT(!inject_udp(PORT_T, STREAM_T, seq), "inject");
		if (seq % 16 == 15)
			usleep(1000);
	}
	end = now_ms() + 5000;
	do
		stats("t", &st);
	while (st.rx_frames < seq && now_ms() < end && !usleep(2000));
	ks = kstats();
	printf("logged %llu of %llu without a receive call; fill_empty %llu rx_dropped %llu\n",
	       (unsigned long long)st.rx_frames, (unsigned long long)seq,
	       (unsigned long long)ks.rx_fill_ring_empty_descs, (unsigned long long)ks.rx_dropped);
	EXPECT(st.rx_frames == seq, "the engine thread logged every frame");
	EXPECT(ks.rx_fill_ring_empty_descs == 0 && ks.rx_dropped == 0, "kernel drops");
	/* 2. more than the quota and the rings together: the tenant
	 * tail-drops, the kernel does not */
	for (; seq < burst; seq++) {
		EXPECT(!inject_udp(PORT_T, STREAM_T, seq), "inject");
		if (seq % 16 == 15)
			usleep(1000);
	}
	end = now_ms() + 5000;
	do
		stats("t", &st);
	while (st.rx_frames + st.quota_drops < burst && now_ms() < end && !usleep(2000));
	ks = kstats();
	printf("logged %llu quota_drops %llu of %u; fill_empty %llu rx_dropped %llu\n",
	       (unsigned long long)st.rx_frames, (unsigned long long)st.quota_drops, burst,
	       (unsigned long long)ks.rx_fill_ring_empty_descs, (unsigned long long)ks.rx_dropped);
	EXPECT(st.rx_frames == quota && st.quota_drops == burst - quota,
	       "a full log drops the tenant's own frames, counted");
	EXPECT(ks.rx_fill_ring_empty_descs == 0 && ks.rx_dropped == 0, "kernel drops");
	/* 3. the consumer comes back: the oldest quota frames, in order */
	EXPECT(rx_take(&r, quota, NULL) == quota, "the logged frames");
	rx_report("tenant", &r);
	EXPECT(r.seq.next == quota && r.seq.gaps == 0 && r.bad == 0, "in order, intact");
	xsnap_sock_close(r.s);
	close_and_check();
}

/* --- A7 ------------------------------------------------------------------- */
static void sc_frag(void)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(PORT_T) };
	uint64_t before[XSNAP_R_MAX], want_frag = 0, next = 0, order_bad = 0;
	struct xsnap_stats st, sp, sl;
	struct xsnap_sock *sport, *sl3;
	struct xsnap_frame *v[64];
	static uint8_t dgram[3000];
	unsigned int nport = 0, nl3 = 0, firsts = 0, bad = 0;
	uint64_t end;

	if (!(ctx = open_ctx(0, 0, XSNAP_ENGINE_THREAD)) || add_tenant("ports", 1024, PORT_T))
		return;
	XSNAP_OPTS(xsnap_tenant_opts, to, .quota = 1024);
	if (xsnap_tenant_add(ctx, "l3", &to) < 0 ||
	    xsnap_rule_add(ctx, "l3", "ip src 10.199.0.1", 20) < 0) {
		FAIL("tenant l3: %s", strerror(errno));
		return;
	}
	sport = xsnap_socket(ctx, "ports", NULL);
	sl3 = xsnap_socket(ctx, "l3", NULL);
	stats(NULL, &st);
	memcpy(before, st.xdp, sizeof(before));
	inet_pton(AF_INET, "10.199.0.2", &dst.sin_addr);
	for (uint64_t i = 0; i < 50; i++) {
		payload_fill(dgram, sizeof(dgram), STREAM_T, i);
		EXPECT(sendto(udp_tx, dgram, sizeof(dgram), 0, (struct sockaddr *)&dst,
			      sizeof(dst)) == (ssize_t)sizeof(dgram),
		       "send a datagram: %s", strerror(errno));
	}
	end = now_ms() + 5000;
	do {
		stats("l3", &sl);
	} while (sl.xdp_tenant_frames < 150 && now_ms() < end && !usleep(2000));
	/* the port tenant: first fragments only, datagrams in order */
	while (nport < 50 && now_ms() < end) {
		int n = xsnap_recv(sport, v, 64, 100);

		for (int i = 0; i < n; i++) {
			const uint8_t *d = xsnap_frame_data(v[i]);
			const struct xsnap_meta *m = xsnap_frame_meta(v[i]);
			uint16_t fo = (uint16_t)(d[m->l3_off + 6] << 8 | d[m->l3_off + 7]);
			const uint8_t *pl = d + m->l3_off + 20 + 8;

			if (!(fo & 0x2000) || (fo & 0x1fff) || payload_get32(pl) != PAYLOAD_MAGIC)
				bad++;
			else if (payload_get64(pl + PAYLOAD_OFF_SEQ) != next++)
				order_bad++;
		}
		if (n > 0) {
			xsnap_release(sport, v, (unsigned int)n);
			nport += (unsigned int)n;
		}
	}
	/* the L3 tenant: every fragment; expectations from the reference parser */
	while (nl3 < 150 && now_ms() < end) {
		int n = xsnap_recv(sl3, v, 64, 100);

		for (int i = 0; i < n; i++) {
			const uint8_t *d = xsnap_frame_data(v[i]);
			struct xsnap_pkt p;

			memset(&p, 0, sizeof(p));
			if (xsnap_parse(d, d + xsnap_frame_len(v[i]), &p))
				bad++;
			want_frag += !!p.frag;	/* a later fragment: no L4 */
			firsts += !p.frag && p.l4_off;
		}
		if (n > 0) {
			xsnap_release(sl3, v, (unsigned int)n);
			nl3 += (unsigned int)n;
		}
	}
	stats(NULL, &st);
	stats("ports", &sp);
	stats("l3", &sl);
	printf("port tenant %u frames (first fragments), l3 tenant %u frames; reference: %llu "
	       "later fragments, %u first; xdp deliver %llu fragment %llu\n",
	       nport, nl3, (unsigned long long)want_frag, firsts,
	       (unsigned long long)(st.xdp[XSNAP_R_DELIVER] - before[XSNAP_R_DELIVER]),
	       (unsigned long long)(st.xdp[XSNAP_R_FRAGMENT] - before[XSNAP_R_FRAGMENT]));
	EXPECT(nport == 50 && bad == 0 && order_bad == 0, "first fragments to the port rule");
	EXPECT(nl3 == 150, "every fragment to the L3 rule");
	EXPECT(sp.rx_frames == 50 && sl.rx_frames == 150, "logged");
	EXPECT(want_frag == 100 && firsts == 50, "two later fragments per datagram (reference)");
	EXPECT(st.xdp[XSNAP_R_FRAGMENT] - before[XSNAP_R_FRAGMENT] == want_frag,
	       "fragment counter");
	EXPECT(st.xdp[XSNAP_R_DELIVER] - before[XSNAP_R_DELIVER] == 150, "deliver counter");
	xsnap_sock_close(sport);
	xsnap_sock_close(sl3);
	close_and_check();
}

/* --- C6, C5 --------------------------------------------------------------- */
/* A fresh frame for the tx end (dst MAC nobody has: its stack ignores it). */
static struct xsnap_frame *tx_frame(struct xsnap_sock *s, uint64_t seq)
{
	struct xsnap_frame *f;
	struct frame b;
	uint8_t *w;

	udp_frame(&b, 5555, STREAM_TX, seq);
	memcpy(b.b, "\x02\x00\x00\x00\x00\x99", 6);
	f = xsnap_frame_alloc(s, (uint32_t)b.len);
	if (!f)
		return NULL;
	w = xsnap_frame_cow(s, &f);
	memcpy(w, b.b, b.len);
	return f;
}

/* Count the frames of STREAM_TX arriving at the tx end within @ms; check
 * their order from *@next. */
static unsigned int tx_captured(uint64_t *next, unsigned int want, int ms, uint64_t *bad)
{
	uint8_t buf[2048];
	unsigned int got = 0;

	while (got < want) {
		ssize_t n = capture(buf, sizeof(buf), ms);
		const void *pl;
		size_t pll;
		uint32_t stream;
		uint64_t seq;

		if (n <= 0)
			break;
		if (payload_of_frame(buf, (size_t)n, &pl, &pll) ||
		    payload_check(pl, pll, &stream, &seq) || stream != STREAM_TX)
			continue;
		if (seq != (*next)++)
			(*bad)++;
		got++;
	}
	return got;
}

static void sc_wakeup(void)
{
	struct xsnap_sock *s;
	struct xsnap_frame *f[8];
	struct xsnap_stats st;
	struct queue *q;
	uint64_t next = 0, bad = 0, seq = 0, end;
	uint32_t cons0;
	unsigned int got;
	unsigned long kicks0;

	if (!(ctx = open_ctx(0, 0, XSNAP_ENGINE_INLINE)) || add_tenant("t", 1024, PORT_T))
		return;
	s = xsnap_socket(ctx, "t", NULL);
	q = &ctx->q[0];
	kick_fd = q->fd;
	printf("zerocopy %d tx need_wakeup %d\n", q->zerocopy,
	       !!xsk_ring_prod__needs_wakeup(&q->tx));
	if (q->zerocopy) {
		printf("SKIP reason: the driver runs zero-copy; this row is about copy mode\n");
		exit(77);
	}
	EXPECT(xsk_ring_prod__needs_wakeup(&q->tx), "copy mode: the TX ring asks for kicks");

	/* C6: descriptors on the ring, kicks withheld: nothing leaves */
	kicks_blocked = 1;
	cons0 = *q->tx.consumer;
	for (int i = 0; i < 8; i++)
		f[i] = tx_frame(s, seq++);
	EXPECT(xsnap_send(s, f, 8) == 8, "queued");
	got = tx_captured(&next, 8, 300, &bad);
	printf("without kicks: %u of 8 left, ring consumer moved by %u\n", got,
	       *q->tx.consumer - cons0);
	EXPECT(got == 0 && *q->tx.consumer == cons0, "copy mode transmitted without a kick");
	/* one more send, kicked: all nine go, in order */
	kicks_blocked = 0;
	kicks0 = kicks;
	f[0] = tx_frame(s, seq++);
	EXPECT(xsnap_send(s, f, 1) == 1, "queued");
	EXPECT(kicks > kicks0, "the send did not kick");
	got = tx_captured(&next, 9, 5000, &bad);
	printf("with a kick: %u of 9 left\n", got);
	EXPECT(got == 9 && bad == 0, "all nine after the kick, in order");

	/* C5, one batch: the whole pool (64) in one send, then the program
	 * only receives: the kernel moves 32 per kick, and nothing but the
	 * library kicks, so all 64 go out only if it kicks until done */
	struct xsnap_frame *b[64];
	unsigned int nb = 0, stalls = 0, sends = 0;

	engine_turn(s);
	while (nb < 64 && (b[nb] = tx_frame(s, seq)))
		nb++, seq++;
	EXPECT(nb == ctx->umem.pool_frames, "the whole pool: %u", nb);
	kicks0 = kicks;
	EXPECT(xsnap_send(s, b, nb) == (int)nb, "batch queued");
	got = tx_captured(&next, nb, 5000, &bad);
	printf("one batch of %u: %u arrived, %lu kicks\n", nb, got, kicks - kicks0);
	EXPECT(got == nb && bad == 0, "a batch larger than one kick's budget stalled");
	/* C5, a stall: the whole pool queued and the kernel taking nothing
	 * (kicks withheld): sending stalls (the pool is in flight), nothing is
	 * lost or completed; once the kernel moves again, the engine (run by
	 * a receive) kicks, every frame arrives and completes, and the pool
	 * is whole again */
	engine_turn(s);
	kicks_blocked = 1;
	nb = 0;
	while (nb < 64 && (b[nb] = tx_frame(s, seq)))
		nb++, seq++;
	EXPECT(xsnap_send(s, b, nb) == (int)nb, "batch queued");
	EXPECT(tx_frame(s, seq) == NULL && errno == ENOBUFS, "the pool is in flight: stalled");
	stats("t", &st);
	uint64_t done0 = st.tx_completed;

	got = tx_captured(&next, nb, 300, &bad);
	stats("t", &st);
	printf("stalled: %u of %u left, %llu completed\n", got, nb,
	       (unsigned long long)(st.tx_completed - done0));
	EXPECT(got == 0 && st.tx_completed == done0, "a frame moved while stalled");
	kicks_blocked = 0;
	/* a receiving program runs the engine again and again: each run
	 * kicks what is left (one kick moves a bounded batch) */
	end = now_ms() + 5000;
	do {
		engine_turn(s);
		stats("t", &st);
	} while (st.tx_completed < st.tx_frames && now_ms() < end);
	got = tx_captured(&next, nb, 5000, &bad);
	printf("resumed: %u of %u arrived, %llu out of order; pool_free %u\n", got, nb,
	       (unsigned long long)bad, st.pool_free);
	EXPECT(got == nb && bad == 0, "frames lost after the stall");
	EXPECT(st.pool_free == ctx->umem.pool_frames, "the pool came back whole");

	/* C5, a stream: 500 frames, as many per send as the pool has free */
	uint64_t first = seq;

	kicks0 = kicks;
	end = now_ms() + 20000;
	while (seq < first + 500 && now_ms() < end) {
		nb = 0;
		while (nb < 64 && seq + nb < first + 500 && (b[nb] = tx_frame(s, seq + nb)))
			nb++;
		if (!nb) {	/* pool empty: completions come back when the engine runs */
			stalls++;
			engine_turn(s);
			continue;
		}
		int n = xsnap_send(s, b, nb);

		sends++;
		if (n < 0)
			n = 0;
		if ((unsigned int)n < nb)	/* past the ring: retry those */
			xsnap_release(s, b + n, nb - (unsigned int)n);
		seq += (uint64_t)n;
	}
	got = tx_captured(&next, 500, 5000, &bad);
	do {
		engine_turn(s);
		stats("t", &st);
	} while (st.tx_completed < st.tx_frames && now_ms() < end + 5000);
	printf("500 frames: %u arrived, %llu out of order, %u stalls, %lu kicks for %u sends; "
	       "tx_frames %llu tx_completed %llu pool_free %u\n",
	       got, (unsigned long long)bad, stalls, kicks - kicks0, sends,
	       (unsigned long long)st.tx_frames, (unsigned long long)st.tx_completed,
	       st.pool_free);
	EXPECT(got == 500 && bad == 0, "frames lost or reordered in transmit");
	EXPECT(st.tx_frames == seq && st.tx_completed == seq, "each transmit completed once");
	EXPECT(st.pool_free == ctx->umem.pool_frames, "the pool came back whole");
	EXPECT(kicks - kicks0 >= sends, "a kick per send");
	kick_fd = -1;
	xsnap_sock_close(s);
	close_and_check();
}

/* --- connected: B2, C4, C8 ------------------------------------------------ */
static struct xsnap_ctx *connect_ctx(void)
{
	struct xsnap_ctx *c = xsnap_connect(opt.sock);

	if (!c)
		printf("FAIL: connect %s: %s\n", opt.sock, strerror(errno));
	return c;
}

/* Wait until @s holds @n frames (the script sends them once we are ready). */
static int take_held(struct xsnap_sock *s, struct xsnap_frame **v, int n)
{
	uint64_t end = now_ms() + 10000;
	int got = 0;

	while (got < n && now_ms() < end) {
		int k = xsnap_recv(s, v + got, (unsigned int)(n - got), 100);

		if (k < 0)
			return k;
		got += k;
	}
	return got;
}

static void ready(const char *path)
{
	int fd = path ? open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;

	if (fd >= 0)
		close(fd);
}

static const char *ready_file;

static void sc_badrel(void)
{
	struct xsnap_frame *v[16], *w[4];
	struct xsnap_sock *s, *s2;
	struct xsnap_stats st;
	uint8_t junk[64] = { 0 };
	uint64_t bad0;

	if (!(ctx = connect_ctx()))
		return;
	s = xsnap_socket(ctx, opt.tenant, NULL);
	s2 = xsnap_socket(ctx, opt.tenant, NULL);
	if (!s || !s2) {
		FAIL("socket on %s: %s", opt.tenant, strerror(errno));
		return;
	}
	ready(ready_file);
	EXPECT(take_held(s, v, 16) == 16, "16 frames on the first socket");
	EXPECT(take_held(s2, w, 4) == 4, "4 frames on the second socket");
	stats(opt.tenant, &st);
	bad0 = st.bad_releases;
	uint64_t seq0 = xsnap_frame_seq(v[0]);
	struct xsnap_frame *forged[] = {
		w[0],							/* another socket's */
		(struct xsnap_frame *)((uint8_t *)v[0] + 4),		/* misaligned */
		(struct xsnap_frame *)junk,				/* not a view */
		NULL,
	};
	for (unsigned int i = 0; i < sizeof(forged) / sizeof(forged[0]); i++)
		xsnap_release(s, &forged[i], 1);
	xsnap_release(s, v, 1);
	xsnap_release(s, v, 1);		/* twice */
	stats(opt.tenant, &st);
	printf("bad_releases %llu\n", (unsigned long long)(st.bad_releases - bad0));
	EXPECT(st.bad_releases - bad0 == 5, "forged releases counted");
	/* the other socket's frame is untouched by it; the released handle
	 * reads as nothing */
	EXPECT(xsnap_frame_seq(w[0]) == seq0, "second socket's view");
	EXPECT(xsnap_frame_seq(v[0]) == 0, "a released handle still reads its frame");
	/* a forged watermark, "everything released", while the rest of the
	 * tenant's frames arrive: only this tenant's own log can suffer; the
	 * frames the other socket holds stay as they were */
	uint64_t seqw[4], end = now_ms() + 10000;

	for (int i = 0; i < 4; i++)
		seqw[i] = xsnap_frame_seq(w[i]);
	atomic_store(&s->ctl->low, UINT64_MAX);
	do {
		usleep(2000);
		stats(opt.tenant, &st);
	} while (st.rx_frames + st.quota_drops < (uint64_t)opt.expect && now_ms() < end);
	EXPECT(st.rx_frames + st.quota_drops >= (uint64_t)opt.expect, "%d frames for the tenant",
	       opt.expect);
	for (int i = 0; i < 4; i++) {
		const void *pl;
		size_t pll;
		uint32_t stream;
		uint64_t pseq;

		EXPECT(xsnap_frame_seq(w[i]) == seqw[i] &&
			       !payload_of_frame(xsnap_frame_data(w[i]), xsnap_frame_len(w[i]), &pl,
						 &pll) &&
			       !payload_check(pl, pll, &stream, &pseq),
		       "a frame the second socket holds changed under it");
	}
	atomic_store(&s->ctl->low, 0);	/* and "nothing released" */
	xsnap_release(s, v + 1, 15);
	xsnap_release(s2, w, 4);
	stats(opt.tenant, &st);
	printf("tenant held %u quota_drops %llu\n", st.held, (unsigned long long)st.quota_drops);
	xsnap_sock_close(s);
	xsnap_sock_close(s2);
	xsnap_close(ctx);
}

static void sc_snaps(void)
{
	XSNAP_OPTS(xsnap_snap_opts, last8, .frames = 8);
	struct xsnap_snap *sn[64];
	struct xsnap_frame *v[32];
	struct xsnap_sock *s;
	xsnap_print_fn_t old;
	int n = 0, err = 0;

	if (!(ctx = connect_ctx()))
		return;
	if (!(s = xsnap_socket(ctx, opt.tenant, NULL))) {
		FAIL("socket on %s: %s", opt.tenant, strerror(errno));
		return;
	}
	ready(ready_file);
	EXPECT(take_held(s, v, 32) == 32, "32 frames");
	xsnap_release(s, v, 32);
	old = xsnap_set_print(capture_print);
	msgbuf[0] = '\0';
	while (n < 64) {
		sn[n] = xsnap_snapshot(s, &last8);
		if (!sn[n]) {
			err = errno;
			break;
		}
		n++;
	}
	xsnap_set_print(old);
	printf("snapshots taken %d, then: %s; message: %s", n, strerror(err), msgbuf);
	EXPECT(n == opt.expect, "%d snapshots before the refusal, expected %d", n, opt.expect);
	EXPECT(err == EMFILE && strstr(msgbuf, "snapshots open on socket"),
	       "the refusal names the limit");
	for (int i = 0; i < n; i++)
		EXPECT(xsnap_snap_len(sn[i]) == 8, "snapshot %d holds 8 frames", i);
	for (int i = 0; i < n; i++)
		xsnap_snap_close(sn[i]);
	sn[0] = xsnap_snapshot(s, &last8);
	EXPECT(sn[0] != NULL, "a snapshot after closing them: %s", strerror(errno));
	xsnap_snap_close(sn[0]);
	xsnap_sock_close(s);
	xsnap_close(ctx);
}

static void sc_many(void)
{
	static struct xsnap_ctx *c[512];
	xsnap_print_fn_t old = xsnap_set_print(capture_print);
	int n = 0, err = 0;

	msgbuf[0] = '\0';
	while (n < 512 && (c[n] = xsnap_connect(opt.sock)))
		n++;
	err = errno;
	printf("connected %d, then: %s; message: %s", n, strerror(err), msgbuf);
	EXPECT(n == opt.expect, "%d connections before the refusal, expected %d", n, opt.expect);
	EXPECT(err == EUSERS && strstr(msgbuf, "too many clients"),
	       "the refusal names the cause");
	/* one leaves, one more fits; the refused one left nothing behind */
	if (n > 0) {
		/* the daemon frees the slot when it reads the hang-up, which
		 * may come after our next connect: until then that connect is
		 * refused (EUSERS), so wait for the slot, bounded */
		uint64_t until = now_ms() + 5000;

		xsnap_close(c[--n]);
		do {
			msgbuf[0] = '\0';
			c[n] = xsnap_connect(opt.sock);
		} while (!c[n] && errno == EUSERS && now_ms() < until && !usleep(2000));
		EXPECT(c[n] != NULL, "a connection after one closed: %s", msgbuf);
		if (c[n])
			n++;
	}
	xsnap_set_print(old);
	/* the script measures the daemon at its fullest, then removes the file */
	ready(ready_file);
	uint64_t end = now_ms() + 10000;

	while (ready_file && access(ready_file, F_OK) == 0 && now_ms() < end)
		usleep(10000);
	while (n > 0)
		xsnap_close(c[--n]);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
		int connected;
	} sc[] = {
		{ "short", sc_short, 0 },   { "txbad", sc_txbad, 0 },  { "fillempty", sc_fillempty, 0 },
		{ "norecv", sc_norecv, 0 },
		{ "frag", sc_frag, 0 },     { "slotreuse", sc_slotreuse, 0 },
		{ "wakeup", sc_wakeup, 0 }, { "ifgone", sc_ifgone, 0 }, { "badrel", sc_badrel, 1 }, { "snaps", sc_snaps, 1 },
		{ "many", sc_many, 1 },
	};
	int ch;

	while ((ch = getopt(argc, argv, "i:n:I:S:t:N:R:")) != -1) {
		switch (ch) {
		case 'i': opt.rx_if = optarg; break;
		case 'n': opt.tx_ns = optarg; break;
		case 'I': opt.tx_if = optarg; break;
		case 'S': opt.sock = optarg; break;
		case 't': opt.tenant = optarg; break;
		case 'N': opt.expect = atoi(optarg); break;
		case 'R': ready_file = optarg; break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc)
		goto usage;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
		if (strcmp(sc[i].name, argv[optind]))
			continue;
		if (sc[i].connected ? !opt.sock || !opt.tenant :
				      !opt.rx_if || !opt.tx_ns || !opt.tx_if)
			goto usage;
		if (!sc[i].connected && inj_open())
			return 1;
		sc[i].fn();
		if (ctx && !sc[i].connected)
			xsnap_close(ctx);
		printf("%s\n", failed ? "FAIL" : "OK");
		return failed ? 1 : 0;
	}
usage:
	fprintf(stderr, "usage: xsnap_fault short|txbad|fillempty|frag|slotreuse|wakeup|ifgone -i RX_IF -n TX_NETNS -I TX_IF\n"
			"       xsnap_fault badrel|snaps|many -S SOCK -t TENANT [-N EXPECTED] [-R READY]\n");
	return 2;
}
