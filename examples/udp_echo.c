// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap-udp-echo: a UDP echo server on xsnap_recvfrom().
 *
 * The port's datagrams are steered to xsnap and read with xsnap_recvfrom(),
 * which looks like recvfrom(2): the usual server loop changes in one line.
 * Replies go out through ordinary kernel UDP sockets bound to the same port.
 *
 *   xsnap-udp-echo -i veth1 -p 9000
 *   xsnap-udp-echo -t TENANT [-S SOCKET] -p 9000
 *
 * The first form opens the interface itself (root); the second is a tenant
 * of xsnapd whose rules the operator set (xsnapctl tenant add, rule add
 * 'udp dst port 9000'), and needs no privilege (ports below 1024 still need
 * CAP_NET_BIND_SERVICE for the reply sockets).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xsnap/xsnap.h>

static atomic_int stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, 1);
}

static int udp_socket(int family, uint16_t port)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	int one = 1, fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		len = sizeof(*a);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *ready = NULL, *tenant = NULL, *sock = NULL;
	struct xsnap_ctx *ctx = NULL;
	struct xsnap_sock *s = NULL;
	unsigned long port = 9000;
	uint64_t echoed = 0;
	int ch, fd4 = -1, fd6 = -1, ret = EXIT_FAILURE;
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: waits end */
	char rule[64], *end;

	while ((ch = getopt(argc, argv, "i:p:R:t:S:h")) != -1) {
		switch (ch) {
		case 't': tenant = optarg; break;
		case 'S': sock = optarg; break;
		case 'i': ifname = optarg; break;
		case 'R': ready = optarg; break;
		case 'p':
			port = strtoul(optarg, &end, 10);
			if (*end || !port || port > 65535) {
				fprintf(stderr, "Error: bad port '%s'\n", optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "Usage: xsnap-udp-echo -i IFACE [-p PORT] [-R READY_FILE]\n"
					"       xsnap-udp-echo -t TENANT [-S SOCKET] [-p PORT] "
					"[-R READY_FILE]\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (!ifname == !tenant) {
		fprintf(stderr, "Error: -i IFACE, or -t TENANT (a tenant of xsnapd)\n");
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fd4 = udp_socket(AF_INET, (uint16_t)port);
	fd6 = udp_socket(AF_INET6, (uint16_t)port);
	snprintf(rule, sizeof(rule), "udp dst port %lu", port);
	if (tenant) {
		ctx = xsnap_connect(sock);
		if (fd4 < 0 || fd6 < 0 || !ctx || !(s = xsnap_socket(ctx, tenant, NULL))) {
			fprintf(stderr, "Error: tenant %s port %lu: %s\n", tenant, port,
				strerror(errno));
			goto out;
		}
	} else {
		ctx = xsnap_open(ifname, NULL);
		if (fd4 < 0 || fd6 < 0 || !ctx || xsnap_tenant_add(ctx, "echo", NULL) < 0 ||
		    xsnap_rule_add(ctx, "echo", rule, 1) < 0 ||
		    !(s = xsnap_socket(ctx, "echo", NULL))) {
			fprintf(stderr, "Error: %s port %lu: %s\n", ifname, port, strerror(errno));
			goto out;
		}
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	while (!atomic_load(&stop)) {
		char buf[2048];
		struct sockaddr_storage src;
		socklen_t slen = sizeof(src);
		/* the one changed line: xsnap_recvfrom instead of recvfrom */
		ssize_t n = xsnap_recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&src, &slen);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			fprintf(stderr, "Error: recvfrom: %s\n", strerror((int)-n));
			break;
		}
		if (sendto(src.ss_family == AF_INET6 ? fd6 : fd4, buf, (size_t)n, 0,
			   (struct sockaddr *)&src, slen) == n)
			echoed++;
	}
	printf("udp-echo: echoed %" PRIu64 " datagrams\n", echoed);
	ret = EXIT_SUCCESS;
out:
	xsnap_sock_close(s);
	xsnap_close(ctx);
	if (fd4 >= 0)
		close(fd4);
	if (fd6 >= 0)
		close(fd6);
	return ret;
}
