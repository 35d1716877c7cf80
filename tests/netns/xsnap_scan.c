// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_scan: a consumer of xsnapd that looks for other tenants' bytes in
 * everything the daemon let it map (tests/netns/test_hostile.sh).
 *
 *   xsnap_scan -S SOCK -t TENANT (-x HEX | -s STREAM)... [-i IFACE]... [-R READY]
 *
 * It opens a socket of TENANT on each IFACE (default: the daemon's first
 * interface) through the library, and, as an attacker would, makes its own
 * raw HELLO + SOCKET requests and keeps and maps every descriptor the
 * replies carry.  Then, until SIGTERM, it receives (and releases) its own
 * frames and, every 50 ms, reads every readable shared-memory mapping of
 * the process (the "memfd:" lines of /proc/self/maps: the regions, logs and
 * control pages the daemon handed over) looking for each marker.  On
 * SIGUSR1 it closes its library sockets, its context and its raw
 * connections, and goes on scanning the mappings it still holds (a
 * consumer whose socket was closed, or whose tenant was deleted, keeps what
 * it mapped).
 *
 * A marker is given in hex (-x) or as an xsnap-gen stream id (-s): the 32
 * filler bytes at payload offset 24..55 of that stream (tools/common/
 * payload.h; frames of 98 bytes or more carry them).  Either way the
 * marker's bytes are nowhere in the process but in a heap buffer, which is
 * not scanned.
 *
 * After each scan: "scan N found F1 F2 ..." (Fk: scans so far that found
 * marker k, in the order given); "marker K in MAPPING" for the first hit of
 * each (marker, mapping line); at the end "scans N bytes B"; exit 0.
 * READY is created once everything is open and mapped.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xsnap/xsnap.h>

#include "payload.h"
#include "proto.h"
#include "xpraw.h"

#define MAX_IFS 4
#define MAX_MARKERS 8
#define MARKER_MAX 256

struct marker {
	uint8_t *b;	/* heap */
	size_t len;
	unsigned long long found;
};

static volatile sig_atomic_t stop, closing;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		closing = 1;
	else
		stop = 1;
}

/* A raw connection with one socket of @tenant on @iface; every descriptor of
 * the reply mapped read-only as far as it is mappable.  The connection. */
static int raw_socket_map(const char *path, const char *tenant, const char *iface)
{
	static uint8_t qb[XP_MAX_MSG], rb[XP_MAX_MSG];
	int fds[XP_MAX_FDS], fd = xpraw_connect_or_exit(path);
	unsigned int nfds = 0;
	struct xp_msg q, r;
	char err[256];

	xp_begin(&q, qb, sizeof(qb), XP_HELLO, 0);
	xp_put_u32(&q, XP_VERSION);
	if (xp_call(fd, &q, rb, sizeof(rb), &r, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, "raw HELLO: %s\n", err);
		exit(1);
	}
	xp_begin(&q, qb, sizeof(qb), XP_SOCKET, 0);
	xp_put_str(&q, tenant);
	xp_put_str(&q, iface ? iface : "");
	xp_put_u32(&q, XSNAP_FANOUT);
	xp_put_u32(&q, 0);
	if (xp_call(fd, &q, rb, sizeof(rb), &r, fds, &nfds, err, sizeof(err))) {
		fprintf(stderr, "raw SOCKET: %s\n", err);
		exit(1);
	}
	for (unsigned int i = 0; i < nfds; i++) {
		struct stat st;

		if (!fstat(fds[i], &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
		    mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fds[i], 0) == MAP_FAILED)
			fprintf(stderr, "map descriptor %u: %s\n", i, strerror(errno));
		close(fds[i]);
	}
	return fd;
}

/* One pass over the readable memfd mappings, for every marker. */
static void scan(struct marker *mk, int nmk, unsigned long long *bytes)
{
	static char seen[64][160];
	static int nseen;
	bool hit[MAX_MARKERS] = { false };
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perm[8];

		if (!strstr(line, "memfd:") || sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3 ||
		    perm[0] != 'r')
			continue;
		*bytes += hi - lo;
		line[strcspn(line, "\n")] = '\0';
		for (int k = 0; k < nmk; k++) {
			char key[160];
			bool known = false;

			if (!memmem((const void *)lo, hi - lo, mk[k].b, mk[k].len))
				continue;
			hit[k] = true;
			snprintf(key, sizeof(key), "%d %.140s", k + 1, line);
			for (int i = 0; i < nseen; i++)
				known |= !strcmp(seen[i], key);
			if (!known && nseen < 64) {
				snprintf(seen[nseen++], sizeof(seen[0]), "%s", key);
				printf("marker %d in %s\n", k + 1, line);
			}
		}
	}
	if (f)
		fclose(f);
	for (int k = 0; k < nmk; k++)
		mk[k].found += hit[k];
}

static int unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h) / 2;

	if (strlen(h) % 2 || !n || n > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(h + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (uint8_t)b;
	}
	return (int)n;
}

/* Marker of xsnap-gen stream @stream: filler bytes 24..55 of its payloads. */
static int stream_marker(const char *arg, uint8_t *out)
{
	char *end;
	unsigned long stream = strtoul(arg, &end, 0);

	if (*end || end == arg || stream > UINT32_MAX)
		return -1;
	for (uint32_t i = 0; i < 32; i++)
		out[i] = payload_filler(PAYLOAD_HDR_LEN + i, (uint32_t)stream);
	return 32;
}

int main(int argc, char **argv)
{
	const char *path = NULL, *tenant = NULL, *ready = NULL, *ifs[MAX_IFS];
	struct xsnap_sock *socks[MAX_IFS] = { NULL };
	struct marker mk[MAX_MARKERS] = { { NULL, 0, 0 } };
	unsigned long long scans = 0, bytes = 0;
	int raw[MAX_IFS], nifs = 0, nmk = 0, c, rc = 0;
	struct xsnap_ctx *ctx;
	struct sigaction sa = { .sa_handler = on_signal };

	while ((c = getopt(argc, argv, "S:t:x:s:i:R:")) != -1) {
		switch (c) {
		case 'S':
			path = optarg;
			break;
		case 't':
			tenant = optarg;
			break;
		case 'x':
		case 's': {
			int n;

			if (nmk == MAX_MARKERS || !(mk[nmk].b = malloc(MARKER_MAX)))
				return 2;
			n = c == 'x' ? unhex(optarg, mk[nmk].b, MARKER_MAX)
				     : stream_marker(optarg, mk[nmk].b);
			if (n <= 0) {
				fprintf(stderr, "bad marker: -%c %s\n", c, optarg);
				return 2;
			}
			mk[nmk++].len = (size_t)n;
			break;
		}
		case 'i':
			if (nifs < MAX_IFS)
				ifs[nifs++] = optarg;
			break;
		case 'R':
			ready = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!path || !tenant || !nmk) {
		fprintf(stderr, "usage: xsnap_scan -S SOCK -t TENANT (-x HEX | -s STREAM)... "
				"[-i IFACE]... [-R READY]\n");
		return 2;
	}
	if (!nifs)
		ifs[nifs++] = NULL;
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	ctx = xsnap_connect(path);
	if (!ctx) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < nifs; i++) {
		if (ifs[i])
			setenv("XSNAP_IFACE", ifs[i], 1);
		socks[i] = xsnap_socket(ctx, tenant, NULL);
		if (!socks[i]) {
			fprintf(stderr, "socket on %s: %s\n", ifs[i] ? ifs[i] : "(default)",
				strerror(errno));
			return 1;
		}
		raw[i] = raw_socket_map(path, tenant, ifs[i]);
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!stop) {
		struct timespec until, now;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 50000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (closing && ctx) {
			/* the socket, the context and the raw connections go; the
			 * mappings stay, as in a process that keeps them */
			for (int i = 0; i < nifs; i++) {
				xsnap_sock_close(socks[i]);
				socks[i] = NULL;
				close(raw[i]);
			}
			xsnap_close(ctx);
			ctx = NULL;
			printf("closed its sockets and connections\n");
		}
		do {
			for (int i = 0; ctx && i < nifs && !stop; i++) {
				struct xsnap_frame *v[64];
				int n = xsnap_recv(socks[i], v, 64, 10);

				if (n > 0) {
					xsnap_release(socks[i], v, (unsigned int)n);
				} else if (n < 0 && n != -EINTR && n != -EAGAIN) {
					/* revoked (tenant deleted): keep scanning */
					printf("recv: %s\n", strerror(-n));
					for (int j = 0; j < nifs; j++)
						xsnap_sock_close(socks[j]), close(raw[j]);
					xsnap_close(ctx);
					ctx = NULL;
				}
			}
			if (!ctx)
				usleep(10000);
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while (!stop && !(closing && ctx) &&
			 (now.tv_sec < until.tv_sec ||
			  (now.tv_sec == until.tv_sec && now.tv_nsec < until.tv_nsec)));
		scan(mk, nmk, &bytes);
		printf("scan %llu found", ++scans);
		for (int k = 0; k < nmk; k++)
			printf(" %llu", mk[k].found);
		printf("\n");
	}
	printf("scans %llu bytes %llu\n", scans, bytes);
	for (int k = 0; k < nmk; k++)
		free(mk[k].b);
	return rc;
}
