// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_xdpdrop: the receive-side ceiling.  Attaches an XDP program that
 * counts every frame in a per-CPU array and drops it (tools/bench/
 * bench_xdp.h), and reports the rate the program saw over the window: what
 * the receiving veth's NAPI can take in at all, before any socket.  The
 * count is the program's own, so frames the sender lost (veth's ring full)
 * never count.
 *
 *   bench_xdpdrop -i xs-rx -w 2 -R /tmp/ready
 *
 * A poller thread copies the counter into the common frame count every
 * millisecond (tools/bench/bench.h does the rest).
 */
#include <net/if.h>

#include "bench.h"
#include "bench_xdp.h"

static struct bench_xdp xdp = BENCH_XDP_INIT;
static struct bench b;

static void *poller(void *arg)
{
	struct bench_cons *c = arg;
	struct bench *b = c->priv;

	while (!bench_stopping(b)) {
		long long n = bench_xdp_count(&xdp);

		if (n >= 0)
			atomic_store_explicit(&c->frames, (uint64_t)n, memory_order_relaxed);
		bench_sleep(0.001);
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_xdpdrop -i IFACE [options]\n"
		   "Count and drop every frame in XDP; report the rate over a window.\n\n"
		   BENCH_COMMON_HELP
		   BENCH_RT_HELP_REFUSED("an XDP program counts, no thread receives")
		   "Prints one JSON object.  -n, -L and -S do not apply.\n");
}

static int setup(int ifindex)
{
	char why[9000];

	if (bench_xdp_open(&xdp, false, ifindex, why, sizeof(why))) {
		bench_err(&b, "%s", why);
		return -1;
	}
	b.cons[0].priv = &b;
	return 0;
}

static void teardown(void)
{
	bench_xdp_close(&xdp);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { BENCH_COMMON_OPTS, { 0 } };
	static const struct bench_prog prog = {
		.system = "xdp_drop", .mode = "drop", .setup_if = setup, .consumer = poller,
		.teardown = teardown,
	};

	bench_init(&b, "bench_xdpdrop");
	bench_options(&b, argc, argv, BENCH_COMMON_SHORT, lo, NULL, usage);
	if (b.n != 1 || b.latency)
		bench_usage_error(&b, "-n and -L do not apply to the drop ceiling");
	return bench_main(&b, &prog);
}
