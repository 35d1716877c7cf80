// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_afxdp: the single-consumer ceiling.  One raw libxdp AF_XDP socket
 * (copy mode on veth) bound to queue 0 of the interface, a trivial XDP
 * program redirecting every frame of the queue to it (tools/bench/
 * bench_xdp.h), and one consumer thread that touches one byte per frame and
 * gives the chunk straight back to the fill ring.  This is what a user
 * would write for one consumer; xsnap's per-consumer rates are measured
 * against it.
 *
 * The loop, per batch of up to 64 descriptors: peek the rx ring; read the
 * first byte of each frame; put the same addresses into the fill ring;
 * release the rx entries; kick the kernel only when the fill ring asks for
 * it (need_wakeup).  With nothing to read it waits in one of three ways:
 *
 *   block      (default) sleeps in poll() (so that a NAPI thread on the same
 *              core can run), like xsnap_recv() does;
 *   spin       (--spin) looks again at once;
 *   busy-poll  (--busy-poll) the socket has SO_PREFER_BUSY_POLL,
 *              SO_BUSY_POLL 20 us and SO_BUSY_POLL_BUDGET 64, and the
 *              thread calls recvfrom(MSG_DONTWAIT), in which the kernel runs
 *              the device's NAPI poll itself (up to 20 us) until frames come:
 *              the lowest-overhead way a raw AF_XDP user can wait.
 *
 * Spinning and busy polling start with the first frame: until then the
 * thread sleeps in poll() (see bench.h).
 *
 * With -P/--rt-prio N the receive thread runs SCHED_FIFO at priority N (only
 * with blocking poll: a real-time thread that never sleeps would starve the
 * NAPI thread that shares its core).
 *
 * The UMEM is on 2 MiB hugetlb pages when the system has them free
 * (vm.nr_hugepages), else on normal pages, the way libxsnap backs xsnap's
 * receive region by default: the baseline gets the same fewer TLB misses.
 * --no-huge forces normal pages; the report says which ("hugepages").
 *
 * With --steer the socket sits behind xsnap's own XDP program instead of the
 * trivial redirect: xsnap_steer, loaded and attached the way libxsnap does
 * (steer_open(), steer_attach()), with one rule delivering the benchmark's
 * stream ('udp dst port 9000') to tenant slot 0, whose socket this one is.
 * Every frame is parsed, classified and given xsnap's metadata before the
 * redirect: the program's cost, without xsnap's engine and consumers.  The
 * rule set gets its specialised program as in libxsnap; --general keeps
 * it on the general classifier (STEER_NO_SPEC), for the difference.
 *
 *   bench_afxdp -i xs-rx -c 1 -w 2 -R /tmp/ready [--ring 2048] [-L]
 *               [--spin | --busy-poll] [-P 1] [--no-huge] [--steer [--general]]
 */
#include <poll.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "bench.h"
#include "bench_xdp.h"
#include "rule.h"
#include "xsnap_internal.h"

#define AX_FRAME_SIZE	XSK_UMEM__DEFAULT_FRAME_SIZE
#define HUGE_SIZE	(2u << 20)	/* the hugetlb page size the UMEM asks for */

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << 26)	/* log2(2 MiB) << MAP_HUGE_SHIFT */
#endif

/* --busy-poll: how long one recvfrom() may busy-poll, and its NAPI budget */
#define BUSY_POLL_US		20
#define BUSY_POLL_BUDGET	64

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL	69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET	70
#endif

enum { W_BLOCK, W_SPIN, W_BUSY_POLL };
static const char *const wait_names[] = { "block", "spin", "busy-poll" };

static struct {
	uint32_t ring;		/* rx and fill ring entries */
	uint32_t frames;	/* UMEM chunks: 2 x ring */
	struct bench_xdp xdp;
	void *area;
	size_t area_size;	/* mapped: the UMEM, rounded up to HUGE_SIZE if huge */
	bool no_huge;		/* --no-huge */
	bool steer;		/* --steer: behind xsnap_steer */
	bool general;		/* --general: with no specialised program */
	bool steer_open;	/* st is open (steer_close() it) */
	struct steer st;
	bool huge;		/* the UMEM is on hugetlb pages */
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp, rx;
	struct xdp_statistics st0, st1;
	int wait;		/* W_* */
	bool busy_poll_set;	/* every busy-poll socket option took */
	long long bp0, bp1;	/* TcpExt BusyPollRxPackets at the window's edges */
	unsigned int napi_id;	/* the socket's SO_INCOMING_NAPI_ID after the window */
} ax = { .ring = XSK_RING_CONS__DEFAULT_NUM_DESCS, .xdp = BENCH_XDP_INIT };

static struct bench b;

static void *consumer(void *arg)
{
	struct bench_cons *c = arg;
	int fd = xsk_socket__fd(ax.xsk);
	/* behind xsnap_steer with the metadata as the packet's head: the
	 * frame follows it (steer_meta_in_head()) */
	const uint32_t head = ax.steer && ax.st.meta_head ? (uint32_t)sizeof(struct xsnap_meta) : 0;
	uint64_t sink = 0;

	if (bench_rt_self(&b)) {
		bench_fail(c);
		return NULL;
	}
	while (!bench_stopping(&b)) {
		uint32_t idx_rx, idx_fill, n, got;
		uint64_t now = 0;

		n = xsk_ring_cons__peek(&ax.rx, BENCH_BATCH, &idx_rx);
		if (!n) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			bool spin = bench_spinning(&b, c);

			/* busy-poll: this call runs the NAPI loop (and is the
			 * fill ring's wake-up as well) */
			if ((spin && ax.wait == W_BUSY_POLL) ||
			    xsk_ring_prod__needs_wakeup(&ax.fill))
				recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			if (!spin)
				poll(&p, 1, 100);
			continue;
		}
		if (b.latency)
			now = bench_now_ns();
		/* every chunk we take goes straight back: the fill ring has room */
		while ((got = xsk_ring_prod__reserve(&ax.fill, n, &idx_fill)) != n) {
			if (bench_stopping(&b))
				return NULL;
		}
		for (uint32_t i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&ax.rx, idx_rx + i);
			const uint8_t *data = (const uint8_t *)xsk_umem__get_data(ax.area, d->addr) + head;

			sink += data[0];
			if (b.latency && d->len >= head)
				bench_lat_frame(&b, c, data, d->len - head, now);
			*xsk_ring_prod__fill_addr(&ax.fill, idx_fill + i) =
				xsk_umem__extract_addr(d->addr);
		}
		/* submit/release carry the barriers that order our reads and
		 * writes of the descriptors before the new ring indices */
		xsk_ring_prod__submit(&ax.fill, n);
		xsk_ring_cons__release(&ax.rx, n);
		if (xsk_ring_prod__needs_wakeup(&ax.fill))
			recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		bench_count(c, n);
	}
	c->sink = sink;
	return NULL;
}

static int read_stats(struct xdp_statistics *st)
{
	socklen_t len = sizeof(*st);

	memset(st, 0, sizeof(*st));
	return getsockopt(xsk_socket__fd(ax.xsk), SOL_XDP, XDP_STATISTICS, st, &len);
}

/*
 * The namespace's TcpExt BusyPollRxPackets (frames that busy polling, not
 * the NAPI softirq or kthread, took from the device: proof that --busy-poll
 * polls), or -1 if there is no such counter.
 */
static long long busy_poll_rx(void)
{
	char names[4096], vals[4096];
	long long v = -1;
	FILE *f = fopen("/proc/net/netstat", "re");

	if (!f)
		return -1;
	while (v < 0 && fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		char *sn, *sv, *pn, *pv;

		pn = strtok_r(names, " \n", &sn);
		pv = strtok_r(vals, " \n", &sv);
		if (!pn || !pv || strcmp(pn, "TcpExt:"))
			continue;
		while ((pn = strtok_r(NULL, " \n", &sn)) && (pv = strtok_r(NULL, " \n", &sv)))
			if (!strcmp(pn, "BusyPollRxPackets")) {
				v = strtoll(pv, NULL, 10);
				break;
			}
	}
	fclose(f);
	return v;
}

static void at_start(struct bench *bb)
{
	(void)bb;
	read_stats(&ax.st0);
	ax.bp0 = busy_poll_rx();
}

static void at_end(struct bench *bb)
{
	socklen_t len = sizeof(ax.napi_id);

	(void)bb;
	read_stats(&ax.st1);
	ax.bp1 = busy_poll_rx();
	/* 0: the frames came with no NAPI id, and busy polling has no NAPI
	 * instance to poll */
	if (getsockopt(xsk_socket__fd(ax.xsk), SOL_SOCKET, SO_INCOMING_NAPI_ID, &ax.napi_id, &len))
		ax.napi_id = 0;
}

/* --busy-poll's socket options; a refused one is a warning (the run goes on,
 * and its report says busy_poll_set false). */
static void set_busy_poll(int fd)
{
	static const struct {
		int opt, val;
		const char *name;
	} o[] = {
		{ SO_PREFER_BUSY_POLL, 1, "SO_PREFER_BUSY_POLL" },
		{ SO_BUSY_POLL, BUSY_POLL_US, "SO_BUSY_POLL" },
		{ SO_BUSY_POLL_BUDGET, BUSY_POLL_BUDGET, "SO_BUSY_POLL_BUDGET" },
	};

	ax.busy_poll_set = true;
	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++) {
		if (!setsockopt(fd, SOL_SOCKET, o[i].opt, &o[i].val, sizeof(o[i].val)))
			continue;
		fprintf(stderr, "%s: warning: %s %d: %s (going on)\n", b.prog, o[i].name,
			o[i].val, strerror(errno));
		ax.busy_poll_set = false;
	}
}

/*
 * Map the UMEM (@size bytes), pre-faulted: on 2 MiB hugetlb pages unless
 * --no-huge, falling back to normal pages if the pool cannot give them
 * (mmap() takes its pages from vm.nr_hugepages' free ones, ENOMEM if short).
 * Sets ax.area, ax.area_size and ax.huge; -1 after saying why.
 */
static int umem_map(uint64_t size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	void *p;

	if (!ax.no_huge) {
		ax.area_size = (size_t)((size + HUGE_SIZE - 1) & ~(uint64_t)(HUGE_SIZE - 1));
		p = mmap(NULL, ax.area_size, PROT_READ | PROT_WRITE,
			 flags | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
		if (p != MAP_FAILED) {
			ax.area = p;
			ax.huge = true;
			return 0;
		}
		fprintf(stderr, "%s: UMEM on normal pages: %zu bytes of 2 MiB hugetlb pages: %s\n",
			b.prog, ax.area_size, strerror(errno));
	}
	ax.area_size = (size_t)size;
	p = mmap(NULL, ax.area_size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED) {
		bench_err(&b, "UMEM of %" PRIu64 " bytes: %s", size, strerror(errno));
		return -1;
	}
	ax.area = p;
	return 0;
}

/* --steer: xsnap_steer on the interface as libxsnap attaches it, with one
 * rule for the benchmark's stream (tenant slot 0).  Returns 0, or a negative
 * errno with a message in @why. */
static int steer_setup(int ifindex, char *why, size_t whylen)
{
	struct rule r = { .id = 1, .prio = 10, .tenant = 0 };
	const char *match = "udp dst port 9000";
	char err_msg[256];
	int err;

	err = steer_open(&ax.st, b.ifname, ifindex, NULL, ax.general ? STEER_NO_SPEC : 0);
	if (err) {
		snprintf(why, whylen, "loading xsnap_steer: %s", strerror(-err));
		return err;
	}
	ax.steer_open = true;
	if (rule_parse(match, &r, err_msg, sizeof(err_msg))) {
		snprintf(why, whylen, "rule '%s': %s", match, err_msg);
		return -EINVAL;
	}
	err = steer_apply(&ax.st, &r, 1, 1u);
	if (!err)
		err = steer_attach(&ax.st, b.ifname, XSNAP_MODE_NATIVE);
	if (err)
		snprintf(why, whylen, "xsnap_steer with rule '%s': %s", match, strerror(-err));
	return err;
}

static int setup(int ifindex)
{
	struct xsk_umem_config ucfg = {
		.fill_size = ax.ring,
		.comp_size = ax.ring,
		.frame_size = AX_FRAME_SIZE,
		.frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = ax.ring,
		.tx_size = 0,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	uint64_t size = (uint64_t)ax.frames * AX_FRAME_SIZE;
	char why[9000];
	uint32_t idx, q = 0;
	int err, fd;

	if (ax.steer)
		err = steer_setup(ifindex, why, sizeof(why));
	else
		err = bench_xdp_open(&ax.xdp, true, ifindex, why, sizeof(why));
	if (err) {
		bench_err(&b, "%s", why);
		return -1;
	}
	if (umem_map(size))
		return -1;
	/* the UMEM is its frames; a hugetlb mapping's tail past them is unused */
	err = xsk_umem__create(&ax.umem, ax.area, size, &ax.fill, &ax.comp, &ucfg);
	if (err) {
		bench_err(&b, "xsk_umem__create: %s", strerror(-err));
		return -1;
	}
	err = xsk_socket__create(&ax.xsk, b.ifname, q, ax.umem, &ax.rx, NULL, &scfg);
	if (err) {
		bench_err(&b, "xsk_socket__create (queue 0, copy mode): %s", strerror(-err));
		return -1;
	}
	fd = xsk_socket__fd(ax.xsk);
	err = ax.steer ? steer_set_xsk(&ax.st, q, fd) :
			 (bpf_map_update_elem(ax.xdp.map_fd, &q, &fd, 0) ? -errno : 0);
	if (err) {
		bench_err(&b, "inserting the socket into the XSKMAP: %s", strerror(-err));
		return -1;
	}
	if (ax.wait == W_BUSY_POLL)
		set_busy_poll(fd);
	/* the fill ring gets ring entries; the other half of the UMEM is what
	 * sits in the rx ring or with the consumer */
	if (xsk_ring_prod__reserve(&ax.fill, ax.ring, &idx) != ax.ring) {
		bench_err(&b, "could not fill the fill ring");
		return -1;
	}
	for (uint32_t i = 0; i < ax.ring; i++)
		*xsk_ring_prod__fill_addr(&ax.fill, idx + i) = (uint64_t)i * AX_FRAME_SIZE;
	xsk_ring_prod__submit(&ax.fill, ax.ring);
	return 0;
}

static void teardown(void)
{
	if (ax.xsk)
		xsk_socket__delete(ax.xsk);
	if (ax.umem)
		xsk_umem__delete(ax.umem);
	if (ax.area)
		munmap(ax.area, ax.area_size);
	bench_xdp_close(&ax.xdp);
	if (ax.steer_open)
		steer_close(&ax.st);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_afxdp -i IFACE [options]\n"
		   "One raw AF_XDP socket (copy mode, queue 0), one consumer touching one byte\n"
		   "per frame; report its rate over a window.\n\n"
		   BENCH_COMMON_HELP
		   BENCH_RT_HELP("the receive thread")
		   "                           Blocking poll only (not with -S, --busy-poll).\n"
		   "      --busy-poll          busy-poll the device when idle (from the first\n"
		   "                           frame on): SO_PREFER_BUSY_POLL, SO_BUSY_POLL 20 us\n"
		   "                           and SO_BUSY_POLL_BUDGET 64 on the socket, and\n"
		   "                           recvfrom(MSG_DONTWAIT) instead of poll() (a\n"
		   "                           refused option: a warning); not with -S\n"
		   "      --ring N             rx and fill ring entries (default 2048;\n"
		   "                           UMEM: 2 x N frames)\n"
		   "      --no-huge            UMEM on normal pages (default: on 2 MiB hugetlb\n"
		   "                           pages when vm.nr_hugepages has them free, else on\n"
		   "                           normal pages)\n"
		   "      --steer              behind xsnap's XDP program (xsnap_steer, one rule\n"
		   "                           'udp dst port 9000') instead of a bare redirect\n"
		   "      --general            with --steer: the rule set on the general\n"
		   "                           classifier, without its specialised program\n"
		   "Prints one JSON object (\"wait\": block, spin or busy-poll; \"hugepages\":\n"
		   "whether the UMEM is on hugetlb pages).  -n must be 1.\n");
}

static bool afxdp_opt(int c, const char *arg)
{
	switch (c) {
	case 'r':
		ax.ring = bench_parse_pow2(&b, "--ring", arg, 64, 1u << 16);
		return true;
	case 'B':
		ax.wait = W_BUSY_POLL;
		return true;
	case 'H':
		ax.no_huge = true;
		return true;
	case 'X':
		ax.steer = true;
		return true;
	case 'G':
		ax.general = true;
		return true;
	}
	return false;
}

/* The report's own fields: the UMEM, the socket's kernel counters in the
 * window, how it waited, and what busy polling did. */
static int afxdp_fields(struct bench *bb, char *buf, size_t size)
{
	int len;

	(void)bb;
	len = snprintf(buf, size,
		       "\"umem_bytes\":%" PRIu64 ",\"hugepages\":%s,\"ring\":%u,\"rx_dropped\":%llu,"
		       "\"rx_ring_full\":%llu,\"fill_empty\":%llu,\"wait\":\"%s\",\"program\":\"%s\","
		       "\"specialised\":%s",
		       (uint64_t)ax.frames * AX_FRAME_SIZE, ax.huge ? "true" : "false", ax.ring,
		       (unsigned long long)(ax.st1.rx_dropped - ax.st0.rx_dropped),
		       (unsigned long long)(ax.st1.rx_ring_full - ax.st0.rx_ring_full),
		       (unsigned long long)(ax.st1.rx_fill_ring_empty_descs -
					    ax.st0.rx_fill_ring_empty_descs),
		       wait_names[ax.wait], ax.steer ? "xsnap_steer" : "redirect",
		       ax.steer && ax.st.spec ? "true" : "false");
	if (ax.wait == W_BUSY_POLL && len >= 0 && (size_t)len < size)
		snprintf(buf + len, size - (size_t)len,
			 ",\"busy_poll\":{\"usecs\":%d,\"budget\":%d,\"prefer\":1,\"set\":%s,"
			 "\"rx_packets\":%lld,\"napi_id\":%u}",
			 BUSY_POLL_US, BUSY_POLL_BUDGET, ax.busy_poll_set ? "true" : "false",
			 ax.bp0 >= 0 && ax.bp1 >= 0 ? ax.bp1 - ax.bp0 : -1, ax.napi_id);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		BENCH_COMMON_OPTS,
		{ "ring", required_argument, NULL, 'r' },
		{ "busy-poll", no_argument, NULL, 'B' },
		{ "no-huge", no_argument, NULL, 'H' },
		{ "steer", no_argument, NULL, 'X' },
		{ "general", no_argument, NULL, 'G' },
		{ 0 }
	};
	static const struct bench_prog prog = {
		.system = "afxdp", .mode = "raw", .setup_if = setup, .consumer = consumer,
		.at_start = at_start, .at_end = at_end, .fields = afxdp_fields,
		.teardown = teardown,
	};

	bench_init(&b, "bench_afxdp");
	b.rt_what = "the receive thread";
	bench_options(&b, argc, argv, BENCH_COMMON_SHORT, lo, afxdp_opt, usage);
	if (b.n != 1)
		bench_usage_error(&b, "-n: one raw socket has one consumer");
	if (ax.general && !ax.steer)
		bench_usage_error(&b, "--general: only with --steer");
	if (ax.wait == W_BUSY_POLL && b.spin)
		bench_usage_error(&b, "--busy-poll and -S/--spin are two ways to wait: one");
	if (b.rt_prio && (ax.wait == W_BUSY_POLL || b.spin))
		bench_usage_error(&b, "-P/--rt-prio needs blocking poll: a SCHED_FIFO thread that "
				  "never sleeps starves the rest of its CPU");
	if (b.spin)
		ax.wait = W_SPIN;
	b.spin = ax.wait != W_BLOCK;	/* bench_spinning(): busy polling spins too */
	ax.frames = 2 * ax.ring;
	return bench_main(&b, &prog);
}
