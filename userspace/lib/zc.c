// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * AF_XDP zero-copy: what the driver can do, what was asked, what we got.
 *
 * Since Linux 6.3 every device reports its XDP features through the generic
 * netlink family "netdev" (NETDEV_CMD_DEV_GET, attribute
 * NETDEV_A_DEV_XDP_FEATURES), and the kernel refuses an AF_XDP bind with
 * XDP_ZEROCOPY (EOPNOTSUPP) unless NETDEV_XDP_ACT_XSK_ZEROCOPY is among
 * them.  xsnap_open() asks first, so that `zerocopy on` on a driver without
 * it fails before anything is attached, naming the reason, and `zerocopy
 * auto` binds in copy mode at once.  Older kernels (6.1: no "netdev"
 * family) leave the answer unknown; the bind then decides, as before.
 *
 * The netlink replies are parsed by functions of their own and the decisions
 * (zc_plan(), zc_reason()) are pure, so tests/unit/test_zc.c drives them with
 * every answer a kernel can give.  libbpf 1.1 (Debian 12) has no
 * bpf_xdp_query() feature_flags, nor do its headers have linux/netdev.h:
 * the few constants needed are the kernel's ABI and are spelled out here.
 */
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/if_xdp.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "xsnap_internal.h"

/* include/uapi/linux/netdev.h (Linux 6.3) */
#define NETDEV_FAMILY "netdev"
#define NETDEV_CMD_DEV_GET 1
#define NETDEV_A_DEV_IFINDEX 1
#define NETDEV_A_DEV_XDP_FEATURES 3

#define NLA_OK_(a, rem) ((rem) >= (int)sizeof(struct nlattr) && (a)->nla_len >= sizeof(struct nlattr) && \
			 (a)->nla_len <= (rem))
#define NLA_NEXT_(a, rem)                                                                 \
	((rem) -= NLA_ALIGN((a)->nla_len),                                                 \
	 (const struct nlattr *)((const char *)(a) + NLA_ALIGN((a)->nla_len)))

/* The attribute @type of the genetlink message @h (length checked), or NULL. */
static const struct nlattr *genl_attr(const struct nlmsghdr *h, uint16_t type)
{
	int rem = (int)h->nlmsg_len - (int)NLMSG_LENGTH(GENL_HDRLEN);
	const struct nlattr *a;

	if (rem < 0)
		return NULL;
	a = (const struct nlattr *)((const char *)NLMSG_DATA(h) + GENL_HDRLEN);
	for (; NLA_OK_(a, rem); a = NLA_NEXT_(a, rem))
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
	return NULL;
}

/*
 * The first message of @buf[0..@len) of type @want (0: any but errors and
 * DONE), or NULL with *@err set: the kernel's error, -ENOMSG for an answer
 * without one, -EBADMSG for a malformed one.
 */
static const struct nlmsghdr *nl_answer(const void *buf, size_t len, uint16_t want, int *err)
{
	*err = -ENOMSG;
	for (const struct nlmsghdr *h = buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
				*err = -EBADMSG;
				return NULL;
			}
			*err = e->error ? e->error : -ENOMSG;
			return NULL;
		}
		if (h->nlmsg_type == NLMSG_DONE)
			return NULL;
		if (h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) {
			*err = -EBADMSG;
			return NULL;
		}
		if (!want || h->nlmsg_type == want)
			return h;
	}
	return NULL;
}

/* The answer of type @want in @buf[0..@len): its attribute @attr, which
 * must hold at least @size bytes, copied to @out; 0 or -errno (as
 * zc_parse_family()). */
static int answer_attr(const void *buf, size_t len, uint16_t want, uint16_t attr, void *out,
		       size_t size)
{
	const struct nlmsghdr *h;
	const struct nlattr *a;
	int err;

	h = nl_answer(buf, len, want, &err);
	if (!h)
		return err;
	a = genl_attr(h, attr);
	if (!a || a->nla_len < NLA_HDRLEN + size)
		return -EBADMSG;
	memcpy(out, (const char *)a + NLA_HDRLEN, size);
	return 0;
}

int zc_parse_family(const void *buf, size_t len, uint16_t *id)
{
	return answer_attr(buf, len, GENL_ID_CTRL, CTRL_ATTR_FAMILY_ID, id, sizeof(*id));
}

int zc_parse_dev(const void *buf, size_t len, uint16_t family, uint64_t *features)
{
	return answer_attr(buf, len, family, NETDEV_A_DEV_XDP_FEATURES, features,
			   sizeof(*features));
}

/* Put attribute @type of @len bytes at @data into the message @h (room
 * checked by the caller: the requests here are tiny). */
static void put_attr(struct nlmsghdr *h, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Start the genetlink request @h (room for a few attributes): @cmd of
 * family @type, sequence @seq. */
static void genl_begin(struct nlmsghdr *h, uint16_t type, uint8_t cmd, uint32_t seq)
{
	struct genlmsghdr *g = NLMSG_DATA(h);

	memset(h, 0, NLMSG_LENGTH(GENL_HDRLEN));
	h->nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST;
	h->nlmsg_seq = seq;
	g->cmd = cmd;
	g->version = 1;
}

/* Send the request @h on @fd and read one answer into @buf; its length,
 * or -errno. */
static ssize_t nl_call(int fd, struct nlmsghdr *h, void *buf, size_t cap)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	ssize_t n;

	if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	do
		n = recv(fd, buf, cap, 0);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int zc_query_features(int ifindex, uint64_t *features)
{
	union {
		struct nlmsghdr h;
		char b[256];
	} req;
	union {
		struct nlmsghdr h;
		char b[4096];
	} ans;
	struct timeval tv = { .tv_sec = 2 };
	uint32_t idx = (uint32_t)ifindex;
	uint16_t family;
	ssize_t n;
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	/* 1. the "netdev" family's id (ENOENT before Linux 6.3); zeroed first:
	 * attribute padding goes to the kernel too */
	memset(&req, 0, sizeof(req));
	genl_begin(&req.h, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	put_attr(&req.h, CTRL_ATTR_FAMILY_NAME, NETDEV_FAMILY, sizeof(NETDEV_FAMILY));
	n = nl_call(fd, &req.h, &ans, sizeof(ans));
	err = n < 0 ? (int)n : zc_parse_family(&ans, (size_t)n, &family);
	if (err)
		goto out;

	/* 2. the device's XDP features */
	memset(&req, 0, sizeof(req));
	genl_begin(&req.h, family, NETDEV_CMD_DEV_GET, 2);
	put_attr(&req.h, NETDEV_A_DEV_IFINDEX, &idx, sizeof(idx));
	n = nl_call(fd, &req.h, &ans, sizeof(ans));
	err = n < 0 ? (int)n : zc_parse_dev(&ans, (size_t)n, family, features);
out:
	close(fd);
	return err;
}

int zc_support_of(int query_err, uint64_t features)
{
	if (query_err)
		return ZC_SUPPORT_UNKNOWN;
	return features & ZC_XDP_ACT_XSK_ZEROCOPY ? ZC_SUPPORT_YES : ZC_SUPPORT_NO;
}

int zc_plan(uint32_t req, int support, uint32_t *bind_flags)
{
	if (req == XSNAP_ZC_OFF || (req == XSNAP_ZC_AUTO && support == ZC_SUPPORT_NO)) {
		*bind_flags = XDP_COPY;
		return 0;
	}
	if (req == XSNAP_ZC_ON && support == ZC_SUPPORT_NO)
		return -EOPNOTSUPP;
	*bind_flags = XDP_ZEROCOPY;
	return 0;
}

enum zc_reason zc_reason(uint32_t req, int support, bool refused, uint32_t xdp_options)
{
	if (xdp_options & XDP_OPTIONS_ZEROCOPY)
		return ZC_ZEROCOPY;
	if (req == XSNAP_ZC_OFF)
		return ZC_NOT_REQUESTED;
	if (support == ZC_SUPPORT_NO || refused)
		return ZC_NO_DRIVER;
	return ZC_UNKNOWN;
}
