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

static struct bench_xdp xdp;

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

int main(int argc, char **argv)
{
	static const struct option lo[] = { BENCH_COMMON_OPTS, { 0 } };
	static struct bench b;
	char why[9000];
	int c, ifindex, ret = EXIT_FAILURE;

	bench_init(&b, "bench_xdpdrop");
	while ((c = getopt_long(argc, argv, BENCH_COMMON_SHORT, lo, NULL)) != -1) {
		if (bench_common_opt(&b, c, optarg))
			continue;
		if (c == 'h') {
			usage(stdout);
			return EXIT_SUCCESS;
		}
		bench_usage_error(&b, "unknown option or missing argument");
	}
	bench_check_opts(&b, argc, argv);
	if (b.n != 1 || b.latency)
		bench_usage_error(&b, "-n and -L do not apply to the drop ceiling");
	ifindex = bench_ifindex(&b);
	if (!ifindex)
		return EXIT_FAILURE;
	if (bench_xdp_open(&xdp, false, ifindex, why, sizeof(why))) {
		bench_err(&b, "%s", why);
		return EXIT_FAILURE;
	}
	if (bench_prepare(&b))
		goto out;
	b.cons[0].priv = &b;
	if (bench_run(&b, poller, NULL, NULL))
		goto out;
	if (!bench_report(&b, "xdp_drop", "drop", ""))
		ret = EXIT_SUCCESS;
out:
	bench_xdp_close(&xdp);
	return ret;
}
