// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_napi: print the pid of every NAPI kthread of an interface (threaded
 * NAPI), one per line, so that scripts/bench.sh can pin exactly ours with
 * taskset: the kthreads are named napi/IFNAME-ID, and every lab's veth is
 * called xs-rx, so the name alone would match other labs' threads too.
 *
 * Asks the kernel's "netdev" generic-netlink family (NETDEV_CMD_NAPI_GET,
 * dump filtered by ifindex; kernel 6.8+ reports NETDEV_A_NAPI_PID).  Debian
 * 12's UAPI headers predate that family, so its numbers are defined here;
 * they are stable UAPI.  Runs in the interface's network namespace.
 *
 *   bench_napi -i xs-rx         exit 0: pids printed (none if not threaded)
 *                               exit 1: the kernel cannot tell
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sys/socket.h>

/* include/uapi/linux/netdev.h (6.8+) */
#define NETDEV_FAMILY_NAME	"netdev"
#define NETDEV_CMD_NAPI_GET	11
#define NETDEV_A_NAPI_IFINDEX	1
#define NETDEV_A_NAPI_ID	2
#define NETDEV_A_NAPI_PID	4

struct req {
	struct nlmsghdr nh;
	struct genlmsghdr gh;
	char attrs[64];
};

static char buf[65536];

static void put_attr(struct req *r, unsigned short type, const void *data, unsigned short len)
{
	struct nlattr *a = (struct nlattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = (unsigned short)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static int send_req(int fd, struct req *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

/*
 * Read replies until NLMSG_DONE (dump) or the first message / ACK; for each
 * attribute of each reply call fn(type, data, len, arg).  Returns 0 or -errno.
 */
static int recv_replies(int fd, bool dump, void (*fn)(unsigned short, const void *, int, void *),
			void *arg)
{
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n < 0)
			return -errno;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned int)n);
		     nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				return e->error;	/* 0 is an ACK */
			}
			int len = (int)nh->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
			struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(nh) + GENL_HDRLEN);

			while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
				fn(a->nla_type & NLA_TYPE_MASK, (char *)a + NLA_HDRLEN,
				   a->nla_len - NLA_HDRLEN, arg);
				len -= NLA_ALIGN(a->nla_len);
				a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
			}
			if (!dump)
				return 0;
		}
	}
}

static void family_attr(unsigned short type, const void *data, int len, void *arg)
{
	if (type == CTRL_ATTR_FAMILY_ID && len >= 2)
		memcpy(arg, data, 2);
}

struct napi {
	unsigned int id, pid;
	bool has_pid;
	int count;
};

static void napi_attr(unsigned short type, const void *data, int len, void *arg)
{
	struct napi *n = arg;
	unsigned int v;

	if (len < 4)
		return;
	memcpy(&v, data, 4);
	if (type == NETDEV_A_NAPI_ID) {
		n->count++;
		n->id = v;
	} else if (type == NETDEV_A_NAPI_PID) {
		n->pid = v;
		n->has_pid = true;
		if (v)
			printf("%u\n", v);
	}
}

int main(int argc, char **argv)
{
	const char *ifname = NULL;
	struct napi napi = { 0 };
	unsigned short family = 0;
	struct req r;
	unsigned int ifindex;
	int fd, c, err;

	while ((c = getopt(argc, argv, "i:h")) != -1) {
		if (c == 'i') {
			ifname = optarg;
		} else {
			fprintf(c == 'h' ? stdout : stderr,
				"Usage: bench_napi -i IFACE\n"
				"Print the pids of IFACE's NAPI kthreads (threaded NAPI).\n");
			return c == 'h' ? EXIT_SUCCESS : 2;
		}
	}
	if (!ifname || optind < argc) {
		fprintf(stderr, "Usage: bench_napi -i IFACE\n");
		return 2;
	}
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "bench_napi: %s: %s\n", ifname, strerror(errno));
		return EXIT_FAILURE;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		fprintf(stderr, "bench_napi: netlink socket: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}

	/* 1. the family id of "netdev" */
	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r.nh.nlmsg_type = GENL_ID_CTRL;
	r.nh.nlmsg_flags = NLM_F_REQUEST;
	r.gh.cmd = CTRL_CMD_GETFAMILY;
	r.gh.version = 1;
	put_attr(&r, CTRL_ATTR_FAMILY_NAME, NETDEV_FAMILY_NAME, sizeof(NETDEV_FAMILY_NAME));
	err = send_req(fd, &r);
	if (!err)
		err = recv_replies(fd, false, family_attr, &family);
	if (err || !family) {
		fprintf(stderr, "bench_napi: the kernel has no 'netdev' netlink family (%s)\n",
			err ? strerror(-err) : "no id");
		close(fd);
		return EXIT_FAILURE;
	}

	/* 2. dump the NAPI instances of ifindex */
	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r.nh.nlmsg_type = family;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	r.gh.cmd = NETDEV_CMD_NAPI_GET;
	r.gh.version = 1;
	put_attr(&r, NETDEV_A_NAPI_IFINDEX, &ifindex, sizeof(ifindex));
	err = send_req(fd, &r);
	if (!err)
		err = recv_replies(fd, true, napi_attr, &napi);
	close(fd);
	if (err) {
		fprintf(stderr, "bench_napi: %s: listing NAPI instances: %s\n", ifname,
			strerror(-err));
		return EXIT_FAILURE;
	}
	if (napi.count && !napi.has_pid) {
		/* not threaded, or a kernel before 6.8 that does not say */
		fprintf(stderr, "bench_napi: %s: %d NAPI instance(s), no kthread pid reported\n",
			ifname, napi.count);
	}
	return EXIT_SUCCESS;
}
