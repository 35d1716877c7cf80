// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap-reflector: send every frame of a tenant back where it came from.
 *
 *   swap mode (default): copy-on-write each frame (the tenant's other
 *   readers keep the original), swap Ethernet, IP and UDP/TCP source and
 *   destination, transmit the private version from the tenant's pool.
 *   forward mode: transmit the received frame unmodified, zero-copy from
 *   the receive region (a hairpin).
 *
 *   xsnap-reflector -i veth1 -r 'udp dst port 9000' [--forward] [-R READY]
 *   xsnap-reflector -t TENANT [-S SOCKET] [--forward] [-R READY]
 *
 * The first form opens the interface itself (root); the second is a tenant
 * of xsnapd, which the operator configured (xsnapctl tenant add, rule add),
 * and needs no privilege.  Through xsnapd, transmit copies each frame once
 * into memory the client cannot write (the daemon checks what goes out).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#define BATCH 32

static atomic_int stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, 1);
}

static void swap_bytes(uint8_t *a, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

/* Swap addresses and ports in place; checksums are unaffected (swaps). */
static void swap_frame(uint8_t *d, const struct xsnap_meta *m)
{
	swap_bytes(d, d + 6, 6);
	if (m->l3_proto == 4)
		swap_bytes(d + m->l3_off + 12, d + m->l3_off + 16, 4);
	else if (m->l3_proto == 6)
		swap_bytes(d + m->l3_off + 8, d + m->l3_off + 24, 16);
	if (m->l4_off && (m->l4_proto == 17 || m->l4_proto == 6))
		swap_bytes(d + m->l4_off, d + m->l4_off + 2, 2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "rule", required_argument, NULL, 'r' },
		{ "forward", no_argument, NULL, 'f' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "tenant", required_argument, NULL, 't' },
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *ifname = NULL, *rule = NULL, *ready = NULL, *tenant = NULL, *sock = NULL;
	uint64_t rx = 0, tx = 0, failed = 0;
	struct xsnap_frame *v[BATCH];
	struct xsnap_ctx *ctx = NULL;
	struct xsnap_sock *s = NULL;
	bool forward = false;
	int ch, ret = EXIT_FAILURE;

	while ((ch = getopt_long(argc, argv, "i:r:fR:t:S:h", lo, NULL)) != -1) {
		switch (ch) {
		case 't': tenant = optarg; break;
		case 'S': sock = optarg; break;
		case 'i': ifname = optarg; break;
		case 'r': rule = optarg; break;
		case 'f': forward = true; break;
		case 'R': ready = optarg; break;
		case 'h':
			printf("Usage: xsnap-reflector -i IFACE -r MATCH [--forward] [-R READY_FILE]\n"
			       "       xsnap-reflector -t TENANT [-S SOCKET] [--forward] "
			       "[-R READY_FILE]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (tenant ? ifname || rule : !ifname || !rule) {
		fprintf(stderr, "Error: -i IFACE and -r MATCH, or -t TENANT (a tenant of xsnapd)\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (tenant) {
		ctx = xsnap_connect(sock);
		if (!ctx || !(s = xsnap_socket(ctx, tenant, NULL))) {
			fprintf(stderr, "Error: tenant %s: %s\n", tenant, strerror(errno));
			goto out;
		}
	} else {
		ctx = xsnap_open(ifname, NULL);
		if (!ctx || xsnap_tenant_add(ctx, "reflect", NULL) < 0 ||
		    xsnap_rule_add(ctx, "reflect", rule, 1) < 0 ||
		    !(s = xsnap_socket(ctx, "reflect", NULL))) {
			fprintf(stderr, "Error: %s: %s\n", ifname, strerror(errno));
			goto out;
		}
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!atomic_load(&stop)) {
		int n = xsnap_recv(s, v, BATCH, 100), k = 0;

		if (n < 0) {
			if (n == -EINTR)
				continue;
			fprintf(stderr, "Error: recv: %s\n", strerror(-n));
			break;
		}
		rx += (uint64_t)n;
		for (int i = 0; !forward && i < n; i++) {
			const struct xsnap_meta *m = xsnap_frame_meta(v[i]);
			uint8_t *w = xsnap_frame_cow(s, &v[i]);

			if (!w) {
				failed++;	/* pool empty: drop this one */
				xsnap_release(s, &v[i], 1);
				continue;
			}
			swap_frame(w, m);
			v[k++] = v[i];
		}
		if (forward)
			k = n;
		/* send may take fewer (ring full, fair share): retry the rest
		 * after the kernel completes some; give up only on stop */
		for (int done = 0; done < k && !atomic_load(&stop);) {
			int r = xsnap_send(s, v + done, (unsigned int)(k - done));

			if (r < 0) {
				fprintf(stderr, "Error: send: %s\n", strerror(-r));
				xsnap_release(s, v + done, (unsigned int)(k - done));
				failed += (uint64_t)(k - done);
				break;
			}
			done += r;
			tx += (uint64_t)r;
			if (done < k)
				sched_yield();	/* let the kernel complete some */
		}
	}
	printf("reflector: received %" PRIu64 " sent %" PRIu64 " failed %" PRIu64 " (%s)\n", rx, tx,
	       failed,
	       forward ? (tenant ? "forward" : "forward, zero-copy") : "swap, copy-on-write");
	ret = EXIT_SUCCESS;
out:
	xsnap_sock_close(s);
	xsnap_close(ctx);
	return ret;
}
