// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_udp: kernel UDP fan-out.  N UDP sockets, one consumer thread each,
 * every socket bound to GROUP:PORT (SO_REUSEADDR) and joined to the
 * multicast group on the interface, so the kernel delivers every datagram
 * to every socket (a clone each).  Each consumer reads batches with a
 * blocking recvmmsg() (non-blocking, in a loop, with --spin) and touches the
 * first payload byte of each datagram.
 * What users do when N programs want the same multicast feed.
 *
 * Socket receive buffers are raised to --rcvbuf bytes (SO_RCVBUFFORCE, 4 MiB
 * by default) so that a consumer that is briefly descheduled does not lose
 * datagrams to the 208 KiB default.  Losses are still counted: the
 * namespace's UDP RcvbufErrors/InErrors over the window, and InCsumErrors
 * (which must stay 0: xsnap-gen's checksums are right).
 *
 *   bench_udp -i xs-rx -n 4 -c 1 -w 2 -R /tmp/ready [-g 239.1.1.1] [-p 9000]
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bench.h"

#define DGRAM_MAX	2048

struct udp_cons {
	int fd;
	struct mmsghdr msgs[BENCH_BATCH];
	struct iovec iov[BENCH_BATCH];
	uint8_t bufs[BENCH_BATCH][DGRAM_MAX];
};

static struct {
	struct in_addr group;
	uint16_t port;
	int rcvbuf;
	struct udp_cons *uc;
	uint64_t snmp0[3], snmp1[3];	/* InErrors, RcvbufErrors, InCsumErrors */
} ud = { .port = 9000, .rcvbuf = 4 << 20 };

static struct bench b;

static void *consumer(void *arg)
{
	struct bench_cons *c = arg;
	struct udp_cons *u = c->priv;
	uint64_t sink = 0;

	while (!bench_stopping(&b)) {
		/* SO_RCVTIMEO (100 ms) bounds the wait; MSG_WAITFORONE: block for
		 * the first datagram only, then take what is queued */
		int flags = bench_spinning(&b, c) ? MSG_DONTWAIT : MSG_WAITFORONE;
		int n = recvmmsg(u->fd, u->msgs, BENCH_BATCH, flags, NULL);
		uint64_t now = 0;

		if (n <= 0)
			continue;	/* timeout or EINTR: look at the phase */
		if (b.latency)
			now = bench_now_ns();
		for (int i = 0; i < n; i++) {
			sink += u->bufs[i][0];
			if (b.latency)
				bench_lat_payload(&b, c, u->bufs[i], u->msgs[i].msg_len, now);
		}
		bench_count(c, (uint64_t)n);
	}
	c->sink = sink;
	return NULL;
}

/* Udp: InErrors, RcvbufErrors, InCsumErrors of this namespace. */
static void read_snmp(uint64_t v[3])
{
	char names[1024], vals[1024];
	FILE *f = fopen("/proc/net/snmp", "re");

	v[0] = v[1] = v[2] = 0;
	if (!f)
		return;
	while (fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		char *sn, *sv, *pn, *pv;
		char *n = strtok_r(names, " \n", &sn), *val = strtok_r(vals, " \n", &sv);

		if (!n || strcmp(n, "Udp:"))
			continue;
		(void)val;
		while ((pn = strtok_r(NULL, " \n", &sn)) && (pv = strtok_r(NULL, " \n", &sv))) {
			if (!strcmp(pn, "InErrors"))
				v[0] = strtoull(pv, NULL, 10);
			else if (!strcmp(pn, "RcvbufErrors"))
				v[1] = strtoull(pv, NULL, 10);
			else if (!strcmp(pn, "InCsumErrors"))
				v[2] = strtoull(pv, NULL, 10);
		}
		break;
	}
	fclose(f);
}

static void at_start(struct bench *bb)
{
	(void)bb;
	read_snmp(ud.snmp0);
}

static void at_end(struct bench *bb)
{
	(void)bb;
	read_snmp(ud.snmp1);
}

static int open_socket(int ifindex)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(ud.port),
				  .sin_addr = ud.group };
	struct ip_mreqn mr = { .imr_multiaddr = ud.group, .imr_ifindex = ifindex };
	struct timeval tv = { 0, 100000 };
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		bench_err(&b, "UDP socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		bench_err(&b, "setsockopt: %s", strerror(errno));
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &ud.rcvbuf, sizeof(ud.rcvbuf)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &ud.rcvbuf, sizeof(ud.rcvbuf))) {
		bench_err(&b, "SO_RCVBUF %d: %s", ud.rcvbuf, strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		bench_err(&b, "bind %s:%u: %s", inet_ntoa(ud.group), ud.port, strerror(errno));
		goto fail;
	}
	if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
		bench_err(&b, "joining %s: %s", inet_ntoa(ud.group), strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static int setup(int ifindex)
{
	ud.uc = calloc(b.n, sizeof(*ud.uc));
	if (!ud.uc) {
		bench_err(&b, "out of memory");
		return -1;
	}
	for (unsigned int i = 0; i < b.n; i++)
		ud.uc[i].fd = -1;
	for (unsigned int i = 0; i < b.n; i++) {
		struct udp_cons *u = &ud.uc[i];

		u->fd = open_socket(ifindex);
		if (u->fd < 0)
			return -1;
		for (int j = 0; j < BENCH_BATCH; j++) {
			u->iov[j].iov_base = u->bufs[j];
			u->iov[j].iov_len = DGRAM_MAX;
			u->msgs[j].msg_hdr.msg_iov = &u->iov[j];
			u->msgs[j].msg_hdr.msg_iovlen = 1;
		}
		b.cons[i].priv = u;
	}
	return 0;
}

static void teardown(void)
{
	if (!ud.uc)
		return;
	for (unsigned int i = 0; i < b.n; i++)
		if (ud.uc[i].fd >= 0)
			close(ud.uc[i].fd);
	free(ud.uc);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_udp -i IFACE [options]\n"
		   "N kernel UDP sockets joined to one multicast group, one consumer each;\n"
		   "report each one's rate over a window.\n\n"
		   BENCH_COMMON_HELP
		   BENCH_RT_HELP_REFUSED("the kernel fills the sockets")
		   "  -g, --group ADDR         multicast group (default 239.1.1.1)\n"
		   "  -p, --port PORT          UDP port (default 9000)\n"
		   "      --rcvbuf BYTES       socket receive buffer (default 4194304)\n"
		   "Prints one JSON object.\n");
}

static bool udp_opt(int c, const char *arg)
{
	switch (c) {
	case 'g':
		if (inet_pton(AF_INET, arg, &ud.group) != 1 || !IN_MULTICAST(ntohl(ud.group.s_addr)))
			bench_usage_error(&b, "-g/--group: '%s' is not an IPv4 multicast address",
					  arg);
		return true;
	case 'p':
		ud.port = (uint16_t)bench_parse_ul(&b, "-p/--port", arg, 1, 65535);
		return true;
	case 'B':
		ud.rcvbuf = (int)bench_parse_ul(&b, "--rcvbuf", arg, 4096, 1u << 30);
		return true;
	}
	return false;
}

/* The report's own fields: the buffer size and the kernel's UDP errors. */
static int udp_fields(struct bench *bb, char *buf, size_t size)
{
	(void)bb;
	snprintf(buf, size,
		 "\"rcvbuf\":%d,\"udp_in_errors\":%" PRIu64 ",\"udp_rcvbuf_errors\":%" PRIu64
		 ",\"udp_csum_errors\":%" PRIu64,
		 ud.rcvbuf, ud.snmp1[0] - ud.snmp0[0], ud.snmp1[1] - ud.snmp0[1],
		 ud.snmp1[2] - ud.snmp0[2]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		BENCH_COMMON_OPTS,
		{ "group", required_argument, NULL, 'g' },
		{ "port", required_argument, NULL, 'p' },
		{ "rcvbuf", required_argument, NULL, 'B' },
		{ 0 }
	};
	static const struct bench_prog prog = {
		.system = "udp", .mode = "multicast", .setup_if = setup, .consumer = consumer,
		.at_start = at_start, .at_end = at_end, .fields = udp_fields,
		.teardown = teardown,
	};

	bench_init(&b, "bench_udp");
	inet_pton(AF_INET, "239.1.1.1", &ud.group);
	bench_options(&b, argc, argv, BENCH_COMMON_SHORT "g:p:", lo, udp_opt, usage);
	return bench_main(&b, &prog);
}
