// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_snap: what xsnap's snapshot store costs.
 *
 *   snapshot  xsnap_snapshot() of the last 10 000 frames of a tenant's log
 *             (the log retains released frames up to its quota, so a
 *             consumer that keeps up still has them), in microseconds; and
 *             reading the snapshot through with xsnap_snap_next(), in ns per
 *             frame;
 *   cow       xsnap_frame_cow() of received frames (copy into the tenant's
 *             private pool), in ns per frame, timed per batch of 64 and
 *             divided; the versions are then released.
 *
 *   send      (--send) xsnap_frame_alloc(), writing a 64-byte UDP frame and
 *             xsnap_send() in batches of 64, for --reps windows of 100 ms:
 *             frames the rings took per second, in Mpps.  The frames go to
 *             a MAC address nobody has, so the peer drops them on arrival.
 *
 * With --connect SOCK it is a client of an xsnapd (which bench.sh started
 * and configured: tenant t0) and measures copy-on-write or send only:
 * through the daemon a private version or fresh frame lives in the tenant
 * instance's own pool, leased in batches, and xsnapd copies each frame it
 * sends out of it (one request per batch), so the cost per frame includes
 * those requests and that copy.
 *
 * One tenant (quota 16384), one fan-out socket, one thread pinned to --cpu.
 * The generator should be paced below what one consumer takes, so that the
 * log fills without drops.  After the first frame and --warmup seconds the
 * program receives until the log holds enough frames, then repeats each
 * measurement --reps times (default 21), receiving and releasing what
 * arrived in between, and reports min/median/max.
 *
 *   bench_snap -i xs-rx -c 1 -R /tmp/ready
 */
#include <xsnap/xsnap.h>

#include "bench.h"

#define SNAP_FRAMES	10000u
#define QUOTA		16384u

static struct {
	unsigned int reps;
	const char *connect;	/* xsnapd's socket: copy-on-write or send through it */
	bool send;		/* --send: the transmit rate instead */
	struct xsnap_ctx *ctx;
	struct xsnap_sock *sock;
	uint64_t received;
} sb = { .reps = 21 };

static struct bench b;

static int print_quiet(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	return level == XSNAP_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* Receive and release whatever is there (up to @max frames, waiting up to @ms). */
static int drain(unsigned int max, int ms)
{
	struct xsnap_frame *v[BENCH_BATCH];
	unsigned int got = 0;

	while (got < max) {
		int n = xsnap_recv(sb.sock, v, BENCH_BATCH, ms);

		if (n < 0 && n != -EINTR) {
			bench_err(&b, "xsnap_recv: %s", strerror(-n));
			return -1;
		}
		if (n <= 0)
			break;
		/* a consumer reads what it receives: its mapping of the region
		 * is populated as it goes, as a real one's is after a pass */
		for (int i = 0; i < n; i++)
			b.cons[0].sink += *(const uint8_t *)xsnap_frame_data(v[i]);
		xsnap_release(sb.sock, v, (unsigned int)n);
		got += (unsigned int)n;
		ms = 0;
	}
	sb.received += got;
	return 0;
}

static void summary(const char *name, uint64_t *v, unsigned int n, double div)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf(",\"%s\":{\"min\":%.3f,\"median\":%.3f,\"max\":%.3f,\"reps\":%u}", name,
	       (double)v[0] / div, (double)v[n / 2] / div, (double)v[n - 1] / div, n);
}

static int run(void)
{
	uint64_t *snap_ns, *read_ns, *cow_ns, deadline;
	int err = -1;

	snap_ns = calloc(sb.reps, sizeof(*snap_ns));
	read_ns = calloc(sb.reps, sizeof(*read_ns));
	cow_ns = calloc(sb.reps, sizeof(*cow_ns));
	if (!snap_ns || !read_ns || !cow_ns) {
		bench_err(&b, "out of memory");
		goto out;
	}
	/* first frame, warm-up, then until the log holds a snapshot's worth */
	deadline = bench_now_ns() + (uint64_t)(b.first_s * 1e9);
	while (!sb.received) {
		if (drain(BENCH_BATCH, 100))
			goto out;
		if (bench_now_ns() > deadline) {
			bench_err(&b, "no frame arrived within %g s", b.first_s);
			goto out;
		}
	}
	deadline = bench_now_ns() + (uint64_t)(b.warmup_s * 1e9);
	/* connected: a pass over the receive region (the bench's 16384
	 * frames) populates the client's mapping of it first */
	while (bench_now_ns() < deadline ||
	       sb.received < (sb.connect ? 3 * 16384 : SNAP_FRAMES + 1000)) {
		if (drain(1u << 20, 100))
			goto out;
		if (bench_stopping(&b) || bench_now_ns() > deadline + 30000000000ULL) {
			bench_err(&b, "fewer than %u frames in 30 s", SNAP_FRAMES + 1000);
			goto out;
		}
	}

	for (unsigned int r = 0; r < sb.reps; r++) {
		XSNAP_OPTS(xsnap_snap_opts, so, .frames = SNAP_FRAMES);
		struct xsnap_frame *v[BENCH_BATCH];
		struct xsnap_snap *snap;
		uint64_t t0, t1, t2, len, seen = 0, sink = 0;
		unsigned int got = 0;
		int n;

		if (sb.connect)
			goto cow;
		/* snapshot: take it, then read it through */
		t0 = bench_now_ns();
		snap = xsnap_snapshot(sb.sock, &so);
		t1 = bench_now_ns();
		if (!snap) {
			bench_err(&b, "xsnap_snapshot: %s", strerror(errno));
			goto out;
		}
		len = xsnap_snap_len(snap);
		while ((n = xsnap_snap_next(snap, v, BENCH_BATCH)) > 0) {
			for (int i = 0; i < n; i++)
				sink += *(const uint8_t *)xsnap_frame_data(v[i]);
			seen += (uint64_t)n;
		}
		t2 = bench_now_ns();
		xsnap_snap_close(snap);
		if (n < 0 || len != SNAP_FRAMES || seen != len) {
			bench_err(&b, "snapshot of %u frames: length %" PRIu64 ", read %" PRIu64
				  " (%s)", SNAP_FRAMES, len, seen, n < 0 ? strerror(-n) : "ok");
			goto out;
		}
		snap_ns[r] = t1 - t0;
		read_ns[r] = (t2 - t1) * 1000 / seen;	/* per frame, x1000 */
		b.cons[0].sink += sink;

cow:		/* copy-on-write: one batch of received frames */
		while (got == 0) {
			n = xsnap_recv(sb.sock, v, BENCH_BATCH, 1000);
			if (n < 0 && n != -EINTR) {
				bench_err(&b, "xsnap_recv: %s", strerror(-n));
				goto out;
			}
			if (n == 0) {
				bench_err(&b, "no frames for copy-on-write within 1 s");
				goto out;
			}
			got = n > 0 ? (unsigned int)n : 0;
		}
		t0 = bench_now_ns();
		for (unsigned int i = 0; i < got; i++) {
			if (!xsnap_frame_cow(sb.sock, &v[i])) {
				bench_err(&b, "xsnap_frame_cow: %s", strerror(errno));
				xsnap_release(sb.sock, v, got);
				goto out;
			}
		}
		t1 = bench_now_ns();
		xsnap_release(sb.sock, v, got);
		cow_ns[r] = (t1 - t0) * 1000 / got;	/* per frame, x1000 */
		sb.received += got;
		/* keep up with the traffic so that the log keeps its frames */
		if (drain(1u << 20, 0))
			goto out;
	}
	if (sb.connect) {
		printf("{\"system\":\"xsnapd\",\"mode\":\"cow\",\"n\":1");
	} else {
		printf("{\"system\":\"xsnap\",\"mode\":\"snapshot\",\"n\":1,\"snapshot_frames\":%u",
		       SNAP_FRAMES);
		summary("snapshot_us", snap_ns, sb.reps, 1000.0);
		summary("snapshot_read_ns_per_frame", read_ns, sb.reps, 1000.0);
	}
	summary("cow_ns_per_frame", cow_ns, sb.reps, 1000.0);
	printf(",\"frames_received\":%" PRIu64 "}\n", sb.received);
	fflush(stdout);
	err = 0;
out:
	free(snap_ns);
	free(read_ns);
	free(cow_ns);
	return err;
}

/* A 64-byte IPv4/UDP frame to a MAC address nobody has (10.99.0.1:9 ->
 * 10.99.0.2:9, UDP checksum 0: none). */
static void send_template(uint8_t *f)
{
	static const uint8_t eth[14] = { 0x02, 0x78, 0x73, 0x6e, 0x00, 0x02, 0x02, 0x78,
					 0x73, 0x6e, 0x00, 0x01, 0x08, 0x00 };
	uint32_t sum = 0;

	memset(f, 0, 64);
	memcpy(f, eth, sizeof(eth));
	f[14] = 0x45;
	f[17] = 50;		/* total length: 64 - 14 */
	f[22] = 64;		/* TTL */
	f[23] = 17;		/* UDP */
	memcpy(f + 26, (const uint8_t[]){ 10, 99, 0, 1, 10, 99, 0, 2 }, 8);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)f[i] << 8 | f[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	f[35] = 9;		/* source port */
	f[37] = 9;		/* destination port */
	f[39] = 30;		/* UDP length: 64 - 34 */
}

/*
 * The send rate: keep a batch of written fresh frames, send it, keep what
 * the rings did not take for the next call and top the batch up.  Each
 * window of 100 ms gives one rate; prints the JSON report.
 */
static int run_send(void)
{
	struct xsnap_frame *v[BENCH_BATCH];
	uint8_t tmpl[64];
	uint64_t *mpps, total = 0;
	unsigned int n = 0;
	int err = -1;

	mpps = calloc(sb.reps, sizeof(*mpps));
	if (!mpps) {
		bench_err(&b, "out of memory");
		return -1;
	}
	send_template(tmpl);
	for (int w = -1; w < (int)sb.reps; w++) {	/* window -1: warm-up */
		uint64_t t0 = bench_now_ns(), t, sent = 0;

		do {
			int r;

			while (n < BENCH_BATCH) {
				struct xsnap_frame *f = xsnap_frame_alloc(sb.sock, sizeof(tmpl));
				uint8_t *p = f ? xsnap_frame_cow(sb.sock, &f) : NULL;

				if (!p) {
					if (f)
						xsnap_release(sb.sock, &f, 1);
					break;	/* the pool is in flight */
				}
				memcpy(p, tmpl, sizeof(tmpl));
				v[n++] = f;
			}
			r = n ? xsnap_send(sb.sock, v, n) : 0;
			if (r < 0) {
				bench_err(&b, "xsnap_send: %s", strerror(-r));
				goto out;
			}
			memmove(v, v + r, (n - (unsigned int)r) * sizeof(*v));
			n -= (unsigned int)r;
			sent += (uint64_t)r;
			t = bench_now_ns();
		} while (t - t0 < 100000000ULL && !bench_stopping(&b));
		if (bench_stopping(&b))
			goto out;
		if (w >= 0)
			mpps[w] = sent * 1000000ULL / (t - t0);	/* Mpps x1000 */
		total += sent;
	}
	printf("{\"system\":\"%s\",\"mode\":\"send\",\"n\":1,\"frame_bytes\":%zu",
	       sb.connect ? "xsnapd" : "xsnap", sizeof(tmpl));
	summary("send_mpps", mpps, sb.reps, 1000.0);
	printf(",\"frames_sent\":%" PRIu64 "}\n", total);
	fflush(stdout);
	err = 0;
out:
	xsnap_release(sb.sock, v, n);
	free(mpps);
	return err;
}

static int setup(void)
{
	XSNAP_OPTS(xsnap_opts, o, .frames = 2 * QUOTA, .max_tenants = 1,
		   .pool_frames = 4 * BENCH_BATCH);
	XSNAP_OPTS(xsnap_tenant_opts, to, .quota = QUOTA);
	int r;

	xsnap_set_print(print_quiet);
	if (sb.connect) {
		sb.ctx = xsnap_connect(sb.connect);
		sb.sock = sb.ctx ? xsnap_socket(sb.ctx, "t0", NULL) : NULL;
		if (!sb.sock) {
			bench_err(&b, "xsnapd at %s, tenant t0: %s", sb.connect, strerror(errno));
			return -1;
		}
		return 0;
	}
	sb.ctx = xsnap_open(b.ifname, &o);
	if (!sb.ctx) {
		bench_err(&b, "xsnap_open: %s", strerror(errno));
		return -1;
	}
	r = xsnap_tenant_add(sb.ctx, "t0", &to);
	if (r >= 0)
		r = xsnap_rule_add(sb.ctx, "t0", "udp dst port 9000", 10);
	if (r < 0) {
		bench_err(&b, "tenant t0 / rule: %s", strerror(-r));
		return -1;
	}
	sb.sock = xsnap_socket(sb.ctx, "t0", NULL);
	if (!sb.sock) {
		bench_err(&b, "socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_snap -i IFACE [options]\n"
		   "Cost of a snapshot of the last 10000 frames and of copy-on-write per frame,\n"
		   "or (--send) the transmit rate.\n\n"
		   BENCH_COMMON_HELP
		   BENCH_RT_HELP_REFUSED("a cost measurement, not a receive rate")
		   "      --reps N             repetitions of each measurement (default 21)\n"
		   "      --send               the transmit rate of fresh 64-byte frames instead\n"
		   "      --connect SOCK       a client of xsnapd (tenant t0): copy-on-write or send\n"
		   "Prints one JSON object.  -n, -L and -S do not apply; -w is unused.\n");
}

static bool snap_opt(int c, const char *arg)
{
	switch (c) {
	case 'r':
		sb.reps = (unsigned int)bench_parse_ul(&b, "--reps", arg, 1, 100000);
		return true;
	case 1000:
		sb.connect = arg;
		return true;
	case 1001:
		sb.send = true;
		return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { BENCH_COMMON_OPTS,
					    { "reps", required_argument, NULL, 'r' },
					    { "connect", required_argument, NULL, 1000 },
					    { "send", no_argument, NULL, 1001 }, { 0 } };
	int ret = EXIT_FAILURE;

	bench_init(&b, "bench_snap");
	bench_options(&b, argc, argv, BENCH_COMMON_SHORT, lo, snap_opt, usage);
	if (b.n != 1 || b.latency)
		bench_usage_error(&b, "-n and -L do not apply");
	if (bench_prepare(&b) || setup() || bench_ready_file(&b))
		goto out;
	if (!(sb.send ? run_send() : run()))
		ret = EXIT_SUCCESS;
out:
	xsnap_sock_close(sb.sock);
	xsnap_close(sb.ctx);
	return ret;
}
