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
 * it (need_wakeup).  With nothing to read it sleeps in poll() (so that a
 * NAPI thread on the same core can run), like xsnap_recv() does, or with
 * --spin looks again at once.
 *
 *   bench_afxdp -i xs-rx -c 1 -w 2 -R /tmp/ready [--ring 2048] [-L]
 */
#include <poll.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "bench.h"
#include "bench_xdp.h"

#define FRAME_SIZE	XSK_UMEM__DEFAULT_FRAME_SIZE

static struct {
	uint32_t ring;		/* rx and fill ring entries */
	uint32_t frames;	/* UMEM chunks: 2 x ring */
	struct bench_xdp xdp;
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp, rx;
	struct xdp_statistics st0, st1;
} ax = { .ring = XSK_RING_CONS__DEFAULT_NUM_DESCS };

static struct bench b;

static void *consumer(void *arg)
{
	struct bench_cons *c = arg;
	int fd = xsk_socket__fd(ax.xsk);
	uint64_t sink = 0;

	while (!bench_stopping(&b)) {
		uint32_t idx_rx, idx_fill, n, got;
		uint64_t now = 0;

		n = xsk_ring_cons__peek(&ax.rx, BENCH_BATCH, &idx_rx);
		if (!n) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (xsk_ring_prod__needs_wakeup(&ax.fill))
				recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			if (!b.spin)
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
			const uint8_t *data = xsk_umem__get_data(ax.area, d->addr);

			sink += data[0];
			if (b.latency)
				bench_lat_frame(&b, c, data, d->len, now);
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

static void at_start(struct bench *bb)
{
	(void)bb;
	read_stats(&ax.st0);
}

static void at_end(struct bench *bb)
{
	(void)bb;
	read_stats(&ax.st1);
}

static int setup(int ifindex)
{
	struct xsk_umem_config ucfg = {
		.fill_size = ax.ring,
		.comp_size = ax.ring,
		.frame_size = FRAME_SIZE,
		.frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = ax.ring,
		.tx_size = 0,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	uint64_t size = (uint64_t)ax.frames * FRAME_SIZE;
	char why[9000];
	uint32_t idx, q = 0;
	int err, fd;

	err = bench_xdp_open(&ax.xdp, true, ifindex, why, sizeof(why));
	if (err) {
		bench_err(&b, "%s", why);
		return -1;
	}
	ax.area = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (ax.area == MAP_FAILED) {
		ax.area = NULL;
		bench_err(&b, "UMEM of %" PRIu64 " bytes: %s", size, strerror(errno));
		return -1;
	}
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
	if (bpf_map_update_elem(ax.xdp.map_fd, &q, &fd, 0)) {
		bench_err(&b, "inserting the socket into the XSKMAP: %s", strerror(errno));
		return -1;
	}
	/* the fill ring gets ring entries; the other half of the UMEM is what
	 * sits in the rx ring or with the consumer */
	if (xsk_ring_prod__reserve(&ax.fill, ax.ring, &idx) != ax.ring) {
		bench_err(&b, "could not fill the fill ring");
		return -1;
	}
	for (uint32_t i = 0; i < ax.ring; i++)
		*xsk_ring_prod__fill_addr(&ax.fill, idx + i) = (uint64_t)i * FRAME_SIZE;
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
		munmap(ax.area, (size_t)ax.frames * FRAME_SIZE);
	bench_xdp_close(&ax.xdp);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_afxdp -i IFACE [options]\n"
		   "One raw AF_XDP socket (copy mode, queue 0), one consumer touching one byte\n"
		   "per frame; report its rate over a window.\n\n"
		   BENCH_COMMON_HELP
		   "      --ring N             rx and fill ring entries (default 2048;\n"
		   "                           UMEM: 2 x N frames)\n"
		   "Prints one JSON object.  -n must be 1.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		BENCH_COMMON_OPTS,
		{ "ring", required_argument, NULL, 'r' },
		{ 0 }
	};
	char extra[256];
	int c, ifindex, ret = EXIT_FAILURE;

	bench_init(&b, "bench_afxdp");
	while ((c = getopt_long(argc, argv, BENCH_COMMON_SHORT, lo, NULL)) != -1) {
		if (bench_common_opt(&b, c, optarg))
			continue;
		switch (c) {
		case 'r':
			ax.ring = (uint32_t)bench_parse_ul(&b, "--ring", optarg, 64, 1u << 16);
			if (ax.ring & (ax.ring - 1))
				bench_usage_error(&b, "--ring: %u is not a power of two", ax.ring);
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			bench_usage_error(&b, "unknown option or missing argument");
		}
	}
	bench_check_opts(&b, argc, argv);
	if (b.n != 1)
		bench_usage_error(&b, "-n: one raw socket has one consumer");
	ax.frames = 2 * ax.ring;
	ifindex = (int)if_nametoindex(b.ifname);
	if (!ifindex) {
		bench_err(&b, "%s", strerror(errno));
		return EXIT_FAILURE;
	}
	bench_signals(&b);
	if (bench_pin_self(&b) || bench_alloc_lat(&b) || setup(ifindex))
		goto out;
	if (bench_run(&b, consumer, at_start, at_end))
		goto out;
	snprintf(extra, sizeof(extra),
		 "\"umem_bytes\":%" PRIu64 ",\"ring\":%u,\"rx_dropped\":%llu,\"rx_ring_full\":%llu,"
		 "\"fill_empty\":%llu",
		 (uint64_t)ax.frames * FRAME_SIZE, ax.ring,
		 (unsigned long long)(ax.st1.rx_dropped - ax.st0.rx_dropped),
		 (unsigned long long)(ax.st1.rx_ring_full - ax.st0.rx_ring_full),
		 (unsigned long long)(ax.st1.rx_fill_ring_empty_descs -
				      ax.st0.rx_fill_ring_empty_descs));
	if (!bench_report(&b, "afxdp", "raw", extra))
		ret = EXIT_SUCCESS;
out:
	teardown();
	return ret;
}
