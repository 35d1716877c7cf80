// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap-flight-recorder: keep the recent traffic of a tenant, write it to a
 * pcap file only when something happens.
 *
 * The tenant's log retains released frames up to its quota, so recording
 * costs nothing but the log: each frame is received and released at once.
 * On SIGUSR1 a snapshot of the last T milliseconds (or N frames) is taken
 * (no copy) and written with nanosecond timestamps through libpcap; the
 * traffic that arrives meanwhile does not enter it.
 *
 *   xsnap-flight-recorder -i veth1 -r 'udp dst port 9000' -q 4096 \
 *       (--last-ms 2000 | --frames 1000) -w /tmp/incident.pcap [--once]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xsnap/xsnap.h>

#include "pcap_out.h"

static atomic_int stop, trigger;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		atomic_store(&trigger, 1);
	else
		atomic_store(&stop, 1);
}

/* Write @sn to @path (tools/common/pcap_out.c); return the frames written or -1. */
static int64_t write_pcap(struct xsnap_snap *sn, const char *path)
{
	struct xs_pcap w;
	int64_t n;

	if (xs_pcap_open(&w, path)) {
		fprintf(stderr, "Error: %s\n", w.msg);
		return -1;
	}
	n = xs_pcap_write_snaps(&w, &sn, 1, 0);
	if (xs_pcap_close(&w) && n >= 0)
		n = -1;
	if (n < 0)
		fprintf(stderr, "Error: %s\n", w.msg);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "rule", required_argument, NULL, 'r' },
		{ "quota", required_argument, NULL, 'q' },
		{ "last-ms", required_argument, NULL, 'm' },
		{ "frames", required_argument, NULL, 'n' },
		{ "write", required_argument, NULL, 'w' },
		{ "once", no_argument, NULL, 'o' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *ifname = NULL, *rule = NULL, *path = NULL, *ready = NULL;
	unsigned long quota = 4096, last_ms = 0, frames = 0;
	struct xsnap_ctx *ctx = NULL;
	struct xsnap_sock *s = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	bool once = false;
	int ch, ret = EXIT_FAILURE;
	char *end;

	while ((ch = getopt_long(argc, argv, "i:r:q:m:n:w:oR:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'i': ifname = optarg; break;
		case 'r': rule = optarg; break;
		case 'w': path = optarg; break;
		case 'o': once = true; break;
		case 'R': ready = optarg; break;
		case 'q':
		case 'm':
		case 'n': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || !v || v > (1ul << 20)) {
				fprintf(stderr, "Error: bad number '%s'\n", optarg);
				return 2;
			}
			*(ch == 'q' ? &quota : ch == 'm' ? &last_ms : &frames) = v;
			break;
		}
		default:
			fprintf(stderr, "Usage: xsnap-flight-recorder -i IFACE -r MATCH [-q QUOTA] "
					"(--last-ms MS | --frames N) -w FILE.pcap [--once]\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (!ifname || !rule || !path || !!last_ms == !!frames) {
		fprintf(stderr, "Error: need -i, -r, -w and one of --last-ms or --frames\n");
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	XSNAP_OPTS(xsnap_opts, o, .frames = 2 * (uint32_t)quota + 4096);
	XSNAP_OPTS(xsnap_tenant_opts, to, .quota = (uint32_t)quota);
	ctx = xsnap_open(ifname, &o);
	if (!ctx || xsnap_tenant_add(ctx, "recorder", &to) < 0 ||
	    xsnap_rule_add(ctx, "recorder", rule, 1) < 0 ||
	    !(s = xsnap_socket(ctx, "recorder", NULL))) {
		fprintf(stderr, "Error: %s: %s\n", ifname, strerror(errno));
		goto out;
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!atomic_load(&stop)) {
		struct xsnap_frame *v[64];
		int n = xsnap_recv(s, v, 64, 100);

		if (n > 0)
			xsnap_release(s, v, (unsigned int)n);	/* the log keeps them */
		if (!atomic_exchange(&trigger, 0))
			continue;
		XSNAP_OPTS(xsnap_snap_opts, so, .last_ms = (uint32_t)last_ms,
			   .frames = (uint32_t)frames);
		struct xsnap_snap *sn = xsnap_snapshot(s, &so);

		if (!sn) {
			fprintf(stderr, "Error: snapshot: %s\n", strerror(errno));
			break;
		}
		int64_t w = write_pcap(sn, path);

		printf("flight-recorder: wrote %" PRId64 " frames to %s\n", w, path);
		fflush(stdout);
		xsnap_snap_close(sn);
		if (w < 0 || once)
			break;
	}
	ret = EXIT_SUCCESS;
out:
	xsnap_sock_close(s);
	xsnap_close(ctx);
	return ret;
}
