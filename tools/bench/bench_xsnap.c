// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_xsnap: N in-process xsnap consumers on one queue.  Opens the
 * interface with xsnap_open() (queue 0; the engine, which moves frames from
 * the kernel's rings into the tenants' logs, runs in its own thread, pinned
 * with the process; -P/--rt-prio N makes it SCHED_FIFO N through
 * xsnap_opts.engine_prio, the consumer threads stay normal), and per --mode:
 *
 *   fanout   one tenant with rule 'udp dst port PORT', N fan-out sockets:
 *            every consumer sees every frame;
 *   tenants  N tenants each with that same rule, one socket each: every
 *            frame is logged once per tenant (fan-out across tenants);
 *   share    one tenant, N sockets in one share group: they split the
 *            frames by flow hash (send several flows).
 *
 * One thread per socket, pinned with the process to --cpu: xsnap_recv() of
 * up to 64 frames with a 100 ms timeout (it sleeps in epoll when there is
 * nothing; with --spin timeout 0, in a loop), touch the first byte of each
 * frame, xsnap_release() the batch.
 *
 * With --connect PATH the consumers are N processes instead, forked and
 * pinned like the threads, each with its own xsnap_connect(PATH) context
 * and one socket of the daemon's tenant(s) (t0, or t0..tN-1 for --mode
 * tenants; the daemon must have them, with the rule, and -i IFACE attached:
 * scripts/bench.sh sets that up with xsnapctl).  The engine then runs in
 * xsnapd, not in the consumers (so -P is refused: xsnapd's scheduling is
 * xsnapd's own option); the receive loop is the same code.  The
 * counters come from xsnapd (a connection of the main process, made after
 * the consumers are forked), and with --daemon-allocs FILE the daemon's
 * heap allocations in the window are counted too (xsnapd running under
 * the shim with XSNAP_BENCH_ALLOC_FILE=FILE).
 *
 * With --latency also the XDP time (xsnap_frame_time_ns) to consumer
 * latency ("latency_xdp_ns"): the context then has the program stamp every
 * frame (XSNAP_STAMP_XDP; through xsnapd, bench.sh attaches with
 * --timestamps xdp), the throughput cases run the default engine stamps.  xsnap's counters over the window (quota and
 * kernel drops, frames logged) come with the report, as do the UMEM size
 * and, under the allocation-counting shim, heap allocations per frame.
 *
 *   bench_xsnap -i xs-rx --mode fanout -n 8 -c 1 -w 2 -R /tmp/ready
 *   bench_xsnap -i xs-rx --connect /tmp/d/xsnapd.sock -n 8 -c 1 -w 2
 */
#include <dirent.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "bench.h"

#define CHUNK_BYTES	4096u	/* UMEM chunk size (docs/design.md, implementation notes) */

enum { M_FANOUT, M_TENANTS, M_SHARE };
static const char *const mode_names[] = { "fanout", "tenants", "share" };

static struct {
	int mode;
	uint32_t frames, quota, ring, pool;
	uint16_t port;
	const char *connect;	/* xsnapd's socket: consumer processes */
	bool ctx_opts;		/* --frames/--quota/--ring given */
	struct xsnap_ctx *ctx;
	struct xsnap_sock *socks[BENCH_MAX_CONS];
	struct xsnap_stats st0, st1;
	bool quiet, stats_ok;
	bool inline_engine;	/* --inline: XSNAP_ENGINE_INLINE */
	bool per_queue;		/* --per-queue: XSNAP_ENGINE_PER_QUEUE */
	bool no_huge;		/* --no-huge: XSNAP_HUGE_OFF */
	int engine_policy, engine_prio;	/* the engine thread's, as found; -1: not found */
} xb = { .frames = 16384, .quota = 1024, .ring = 2048, .pool = 64, .port = 9000 };

static struct bench *b;

/* Consumer @i's socket on @ctx: its tenant and mode per --mode. */
static struct xsnap_sock *open_sock(struct xsnap_ctx *ctx, unsigned int i)
{
	uint32_t mode = xb.mode == M_SHARE ? XSNAP_SHARE : XSNAP_FANOUT;
	XSNAP_OPTS(xsnap_sock_opts, so, .mode = mode, .group = 1);
	struct xsnap_sock *s;
	char name[32];

	snprintf(name, sizeof(name), "t%u", xb.mode == M_TENANTS ? i : 0);
	s = xsnap_socket(ctx, name, &so);
	if (!s)
		bench_err(b, "socket %u on tenant %s: %s", i, name, strerror(errno));
	return s;
}

static void *consumer(void *arg)
{
	struct bench_cons *c = arg;
	struct xsnap_ctx *ctx = NULL;
	struct xsnap_sock *s = c->priv;
	struct xsnap_frame *v[BENCH_BATCH];
	uint64_t sink = 0;

	if (xb.connect) {
		/* a consumer process: its own connection and socket */
		ctx = xsnap_connect(xb.connect);
		if (!ctx) {
			bench_err(b, "consumer %d: xsnap_connect(%s): %s", c->idx, xb.connect,
				  strerror(errno));
			bench_fail(c);
			return NULL;
		}
		s = open_sock(ctx, (unsigned int)c->idx);
		if (!s) {
			xsnap_close(ctx);
			bench_fail(c);
			return NULL;
		}
		bench_ready(c);
	} else if (xb.inline_engine && bench_rt_self(b)) {
		bench_fail(c);
		return NULL;
	}
	while (!bench_stopping(b)) {
		int n = xsnap_recv(s, v, BENCH_BATCH, bench_spinning(b, c) ? 0 : 100);
		uint64_t now = 0;

		if (n <= 0) {
			if (n < 0 && n != -EINTR) {
				bench_err(b, "consumer %d: xsnap_recv: %s", c->idx, strerror(-n));
				if (xb.connect)
					bench_fail(c);
				break;
			}
			continue;
		}
		if (b->latency)
			now = bench_now_ns();
		for (int i = 0; i < n; i++) {
			const uint8_t *data = xsnap_frame_data(v[i]);

			sink += data[0];
			if (b->latency) {
				bench_lat_frame(b, c, data, xsnap_frame_len(v[i]), now);
				bench_lat2(b, c, xsnap_frame_time_ns(v[i]), now);
			}
		}
		xsnap_release(s, v, (unsigned int)n);
		bench_count(c, (uint64_t)n);
	}
	c->sink = sink;
	if (xb.connect) {
		xsnap_sock_close(s);
		xsnap_close(ctx);
	}
	return NULL;
}

static void stats(struct xsnap_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	if (xb.ctx && xsnap_stats(xb.ctx, NULL, st))
		xb.stats_ok = false;
}

/*
 * The in-process engine thread's scheduling policy and priority, as it runs
 * (it sets them itself when it starts, and only warns if that is refused):
 * found by its name in /proc/self/task.  -1 each if there is none.
 */
static void engine_sched(int *policy, int *prio)
{
	struct dirent *de;
	DIR *d;

	*policy = *prio = -1;
	d = opendir("/proc/self/task");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[300], comm[32] = "";
		struct sched_param sp;
		pid_t tid;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		/* the context's engine thread, or its first queue's */
		if (strcmp(comm, "xsnap-engine\n") && strncmp(comm, "xsnap-eng-q", 11))
			continue;
		tid = (pid_t)atoi(de->d_name);
		*policy = sched_getscheduler(tid);
		if (*policy >= 0 && !sched_getparam(tid, &sp))
			*prio = sp.sched_priority;
		break;
	}
	closedir(d);
}

static void at_start(struct bench *bb)
{
	(void)bb;
	/* outside the window: opendir() allocates */
	if (!xb.connect)
		engine_sched(&xb.engine_policy, &xb.engine_prio);
	/* the main process's own connection, for the daemon's counters: made
	 * now, after the fork, so that no consumer inherits it */
	if (xb.connect && !xb.ctx) {
		xb.ctx = xsnap_connect(xb.connect);
		if (!xb.ctx)
			bench_err(b, "xsnap_connect(%s) for the counters: %s", xb.connect,
				  strerror(errno));
	}
	xb.stats_ok = xb.ctx != NULL;
	stats(&xb.st0);
}

static void at_end(struct bench *bb)
{
	(void)bb;
	stats(&xb.st1);
}

static int print_quiet(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	if (level != XSNAP_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int setup(void)
{
	uint32_t ntenants = xb.mode == M_TENANTS ? b->n : 1;
	XSNAP_OPTS(xsnap_opts, o, .frames = xb.frames, .ring_size = xb.ring,
		   .max_tenants = ntenants > 8 ? ntenants : 8, .pool_frames = xb.pool,
		   .engine_prio = xb.inline_engine ? 0 : b->rt_prio,
		   .engine = xb.inline_engine ? XSNAP_ENGINE_INLINE :
			     xb.per_queue     ? XSNAP_ENGINE_PER_QUEUE :
						XSNAP_ENGINE_THREAD,
		   .hugepages = xb.no_huge ? XSNAP_HUGE_OFF : XSNAP_HUGE_AUTO,
		   /* the XDP-to-consumer column needs the program's stamps */
		   .timestamps = b->latency ? XSNAP_STAMP_XDP : XSNAP_STAMP_ENGINE);
	char match[64], name[32];

	if (xb.quiet)
		xsnap_set_print(print_quiet);
	if (xb.connect) {
		/* the daemon's sockets open on this interface */
		setenv("XSNAP_IFACE", b->ifname, 1);
		return 0;	/* each consumer process connects on its own */
	}
	xb.ctx = xsnap_open(b->ifname, &o);
	if (!xb.ctx) {
		bench_err(b, "xsnap_open: %s", strerror(errno));
		return -1;
	}
	snprintf(match, sizeof(match), "udp dst port %u", xb.port);
	for (uint32_t t = 0; t < ntenants; t++) {
		XSNAP_OPTS(xsnap_tenant_opts, to, .quota = xb.quota);
		int r;

		snprintf(name, sizeof(name), "t%u", t);
		r = xsnap_tenant_add(xb.ctx, name, &to);
		if (r < 0) {
			bench_err(b, "tenant %s (quota %u, %u frames): %s", name, xb.quota,
				  xb.frames, strerror(-r));
			return -1;
		}
		r = xsnap_rule_add(xb.ctx, name, match, 10);
		if (r < 0) {
			bench_err(b, "rule '%s' for %s: %s", match, name, strerror(-r));
			return -1;
		}
	}
	for (unsigned int i = 0; i < b->n; i++) {
		xb.socks[i] = open_sock(xb.ctx, i);
		if (!xb.socks[i])
			return -1;
		b->cons[i].priv = xb.socks[i];
	}
	return 0;
}

static void teardown(void)
{
	for (unsigned int i = 0; i < b->n; i++)
		xsnap_sock_close(xb.socks[i]);
	xsnap_close(xb.ctx);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_xsnap -i IFACE [options]\n"
		   "N in-process xsnap consumers on queue 0, or N consumer processes of\n"
		   "xsnapd (--connect); report each one's rate over a window.\n\n"
		   BENCH_COMMON_HELP
		   BENCH_RT_HELP("xsnap's engine thread (engine_prio)")
		   "                           The consumer threads stay normal.  Not with\n"
		   "                           --connect (the engine is then xsnapd's).\n"
		   "  -m, --mode MODE          fanout (one tenant, default), tenants (one\n"
		   "                           each) or share (one share group)\n"
		   "  -p, --port PORT          rule 'udp dst port PORT' (default 9000)\n"
		   "      --frames N           receive-region frames (default 16384)\n"
		   "      --quota N            log capacity per tenant (default 1024)\n"
		   "      --ring N             fill/rx ring entries (default 2048)\n"
		   "  -C, --connect PATH       N consumer processes, each xsnap_connect(PATH)\n"
		   "                           to an xsnapd that has IFACE attached and the\n"
		   "                           tenant(s) t0 (tenants: t0..tN-1) with their\n"
		   "                           rule; --frames/--quota/--ring are then the\n"
		   "                           daemon's (xsnapctl attach/tenant add)\n"
		   "      --daemon-allocs FILE with --connect: also count xsnapd's heap\n"
		   "                           allocations in the window (xsnapd runs under\n"
		   "                           the shim with XSNAP_BENCH_ALLOC_FILE=FILE)\n"
		   "      --inline             no engine thread: the consumers run the engine\n"
		   "                           inside xsnap_recv() (XSNAP_ENGINE_INLINE)\n"
		   "      --per-queue          one engine thread per queue (XSNAP_ENGINE_PER_QUEUE;\n"
		   "                           the bench opens one queue: what the split of\n"
		   "                           taking and logging a batch costs)\n"
		   "      --no-huge            receive region on normal pages (XSNAP_HUGE_OFF;\n"
		   "                           default: hugetlb pages when the system has them)\n"
		   "  -q, --quiet              no library INFO messages\n"
		   "Prints one JSON object.\n");
}

static uint32_t pow2_opt(const char *opt, const char *arg, unsigned long min, unsigned long max)
{
	xb.ctx_opts = true;
	return bench_parse_pow2(b, opt, arg, min, max);
}

static bool xsnap_opt(int c, const char *arg)
{
	switch (c) {
	case 'm':
		for (xb.mode = 0; xb.mode < 3; xb.mode++)
			if (!strcmp(arg, mode_names[xb.mode]))
				break;
		if (xb.mode == 3)
			bench_usage_error(b, "-m/--mode: '%s' is not fanout, tenants or share", arg);
		return true;
	case 'p':
		xb.port = (uint16_t)bench_parse_ul(b, "-p/--port", arg, 1, 65535);
		return true;
	case 'C':
		if (!*arg)
			bench_usage_error(b, "-C/--connect: empty socket path");
		xb.connect = arg;
		b->procs = true;
		return true;
	case 'D':
		if (!*arg)
			bench_usage_error(b, "--daemon-allocs: empty file name");
		b->alloc_file = arg;
		return true;
	case 'F':
		xb.frames = pow2_opt("--frames", arg, 64, 1u << 20);
		return true;
	case 'Q':
		xb.quota = pow2_opt("--quota", arg, 1, 1u << 20);
		return true;
	case 'r':
		xb.ring = pow2_opt("--ring", arg, 64, 1u << 16);
		return true;
	case 'q':
		xb.quiet = true;
		return true;
	case 'E':
		xb.inline_engine = true;
		return true;
	case 'U':
		xb.per_queue = true;
		return true;
	case 'H':
		xb.no_huge = true;
		xb.ctx_opts = true;	/* the region is xsnapd's with --connect */
		return true;
	}
	return false;
}

/*
 * The report's own fields: the region, the tenants and xsnap's counters in
 * the window (xsnapd's with --connect), the XDP program's verdicts by
 * reason.  Fails the run if the counters could not be read or the engine
 * thread did not run as -P asked.
 */
static int xsnap_fields(struct bench *bb, char *extra, size_t size)
{
	uint32_t ntenants = xb.mode == M_TENANTS ? bb->n : 1;
	const char *sep = "";
	size_t len;

	if (!xb.stats_ok) {
		bench_err(bb, "reading xsnap's counters failed");
		return -1;
	}
	if (!xb.connect && !xb.inline_engine && bb->rt_prio &&
	    (xb.engine_policy != SCHED_FIFO || xb.engine_prio != (int)bb->rt_prio)) {
		bench_err(bb, "-P %u: the engine thread %s (policy %d, priority %d), not "
			  "SCHED_FIFO %u", bb->rt_prio,
			  xb.engine_policy < 0 ? "was not found" : "ran", xb.engine_policy,
			  xb.engine_prio, bb->rt_prio);
		return -1;
	}
	if (xb.connect) {
		snprintf(extra, size,
			 "\"daemon\":\"xsnapd\",\"region_frames\":%u,\"tenants\":%u,"
			 "\"logged\":%" PRIu64 ",\"quota_drops\":%" PRIu64
			 ",\"kernel_rx_dropped\":%" PRIu64 ",\"fill_empty\":%" PRIu64
			 ",\"zerocopy\":%u,\"xdp_mode\":\"%s\"",
			 xb.st1.frames_total, ntenants, xb.st1.rx_frames - xb.st0.rx_frames,
			 xb.st1.quota_drops - xb.st0.quota_drops,
			 xb.st1.kernel_rx_dropped - xb.st0.kernel_rx_dropped,
			 xb.st1.kernel_fill_empty - xb.st0.kernel_fill_empty, xb.st1.zerocopy,
			 xb.st1.xdp_mode == XSNAP_MODE_SKB ? "generic" : "native");
	} else {
		uint32_t slots = ntenants > 8 ? ntenants : 8;
		uint64_t umem = ((uint64_t)xb.st1.frames_total + (uint64_t)slots * xb.pool) *
				CHUNK_BYTES;

		snprintf(extra, size,
			 "\"umem_bytes\":%" PRIu64 ",\"region_frames\":%u,\"quota\":%u,\"ring\":%u,"
			 "\"tenants\":%u,\"logged\":%" PRIu64 ",\"quota_drops\":%" PRIu64
			 ",\"kernel_rx_dropped\":%" PRIu64 ",\"fill_empty\":%" PRIu64
			 ",\"zerocopy\":%u,\"xdp_mode\":\"%s\",\"hugepages\":%s",
			 umem, xb.st1.frames_total, xb.quota, xb.ring, ntenants,
			 xb.st1.rx_frames - xb.st0.rx_frames,
			 xb.st1.quota_drops - xb.st0.quota_drops,
			 xb.st1.kernel_rx_dropped - xb.st0.kernel_rx_dropped,
			 xb.st1.kernel_fill_empty - xb.st0.kernel_fill_empty, xb.st1.zerocopy,
			 xb.st1.xdp_mode == XSNAP_MODE_SKB ? "generic" : "native",
			 xb.st1.hugepages ? "true" : "false");
	}
	/* the XDP program's verdicts in the window, by reason */
	len = strlen(extra);
	len += (size_t)snprintf(extra + len, size - len,
				",\"kernel_rx_ring_full\":%" PRIu64 ",\"xdp\":{",
				xb.st1.kernel_rx_ring_full - xb.st0.kernel_rx_ring_full);
	for (unsigned int r = 0; r < XSNAP_R_MAX && r < 16 && len < size; r++) {
		uint64_t d = xb.st1.xdp[r] - xb.st0.xdp[r];

		if (!d)
			continue;
		len += (size_t)snprintf(extra + len, size - len, "%s\"%s\":%" PRIu64, sep,
					xsnap_reason_str(r), d);
		sep = ",";
	}
	if (len < size)
		snprintf(extra + len, size - len, "}");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		BENCH_COMMON_OPTS,
		{ "mode", required_argument, NULL, 'm' },
		{ "port", required_argument, NULL, 'p' },
		{ "frames", required_argument, NULL, 'F' },
		{ "quota", required_argument, NULL, 'Q' },
		{ "ring", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "connect", required_argument, NULL, 'C' },
		{ "daemon-allocs", required_argument, NULL, 'D' },
		{ "inline", no_argument, NULL, 'E' },
		{ "per-queue", no_argument, NULL, 'U' },
		{ "no-huge", no_argument, NULL, 'H' },
		{ 0 }
	};
	struct bench_prog prog = {
		.setup = setup, .consumer = consumer, .at_start = at_start, .at_end = at_end,
		.fields = xsnap_fields, .teardown = teardown,
	};

	/* shared memory: with --connect the consumers are processes */
	b = bench_new_shared("bench_xsnap");
	b->procs = false;
	b->rt_what = "xsnap's engine thread";
	bench_options(b, argc, argv, BENCH_COMMON_SHORT "m:p:qC:", lo, xsnap_opt, usage);
	if (xb.mode == M_TENANTS && b->n > 32)
		bench_usage_error(b, "-n: at most 32 tenants");
	if (xb.connect && xb.ctx_opts)
		bench_usage_error(b, "--frames, --quota, --ring and --no-huge are xsnapd's with "
				  "--connect (xsnapctl attach --frames, --hugepages, tenant add "
				  "--quota)");
	if (b->alloc_file && !xb.connect)
		bench_usage_error(b, "--daemon-allocs needs --connect");
	if ((xb.inline_engine || xb.per_queue) && xb.connect)
		bench_usage_error(b, "--inline, --per-queue: not with --connect (xsnapd runs the "
				  "engine)");
	if (xb.inline_engine && xb.per_queue)
		bench_usage_error(b, "--inline and --per-queue: one engine mode");
	if (xb.inline_engine)
		b->rt_what = "the consumer threads (--inline: no engine thread)";
	if (xb.inline_engine && b->rt_prio && b->spin)
		bench_usage_error(b, "-P/--rt-prio with --inline needs blocking receives: a "
				  "SCHED_FIFO consumer that never sleeps starves the rest of its CPU");
	if (b->rt_prio && xb.connect)
		bench_usage_error(b, "-P/--rt-prio: with --connect the engine is xsnapd's thread, "
				  "not this program's (xsnapd has its own option)");
	b->lat2_name = "latency_xdp_ns";
	prog.system = xb.connect ? "xsnapd" : "xsnap";
	prog.mode = mode_names[xb.mode];
	return bench_main(b, &prog);
}
