// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Zero-copy reporting (userspace/lib/zc.c) driven with every answer a kernel
 * gives: the "netdev" genetlink family present (Linux 6.3 on) or missing
 * (ENOENT: 6.1), a device's XDP features with or without
 * NETDEV_XDP_ACT_XSK_ZEROCOPY (virtio_net advertises it from 6.13, veth
 * never), malformed or truncated replies; then the bind's answers (refused
 * with EOPNOTSUPP, or bound with XDP_OPTIONS_ZEROCOPY set or clear) and
 * what xsnap_open() binds and reports for each request.  No zero-copy
 * driver is reachable in this project's VMs (README, Kernels), so this is
 * where the zero-copy outcome is checked; live_query asks this kernel.
 */
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/if_xdp.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <string.h>

#include "testlib.h"
#include "xsnap_internal.h"

#define FAMILY 0x1a	/* the id a kernel might give "netdev" */

/* the XDP features of real drivers (include/uapi/linux/netdev.h bits) */
#define ACT_BASIC 1
#define ACT_REDIRECT 2
#define ACT_NDO_XMIT 4
#define ACT_RX_SG 32
#define ACT_NDO_XMIT_SG 64
#define VETH (ACT_BASIC | ACT_REDIRECT | ACT_NDO_XMIT | ACT_RX_SG | ACT_NDO_XMIT_SG)
#define VIRTIO_6_12 (ACT_BASIC | ACT_REDIRECT | ACT_NDO_XMIT | ACT_RX_SG)
#define VIRTIO_6_13 (VIRTIO_6_12 | ZC_XDP_ACT_XSK_ZEROCOPY)

static union {
	struct nlmsghdr h;
	char b[512];
} msg;

/* Start a genetlink message of @type in msg. */
static void begin(uint16_t type, uint8_t cmd)
{
	struct genlmsghdr *g;

	memset(&msg, 0, sizeof(msg));
	msg.h.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	msg.h.nlmsg_type = type;
	g = NLMSG_DATA(&msg.h);
	g->cmd = cmd;
	g->version = 1;
}

static void attr(uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(msg.b + NLMSG_ALIGN(msg.h.nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, data, len);
	msg.h.nlmsg_len = NLMSG_ALIGN(msg.h.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* msg becomes the kernel's error answer @err (-errno) to a request. */
static void error_answer(int err)
{
	struct nlmsgerr *e;

	memset(&msg, 0, sizeof(msg));
	msg.h.nlmsg_type = NLMSG_ERROR;
	msg.h.nlmsg_len = NLMSG_LENGTH(sizeof(*e));
	e = NLMSG_DATA(&msg.h);
	e->error = err;
}

/* A NETDEV_CMD_DEV_GET reply for ifindex 3 with XDP features @f. */
static void dev_answer(uint64_t f)
{
	uint32_t idx = 3;

	begin(FAMILY, 1);
	attr(1, &idx, sizeof(idx));	/* NETDEV_A_DEV_IFINDEX */
	attr(3, &f, sizeof(f));		/* NETDEV_A_DEV_XDP_FEATURES */
}

TEST(family_found)
{
	uint16_t id = 0, want = FAMILY;

	begin(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	attr(CTRL_ATTR_FAMILY_NAME, "netdev", sizeof("netdev"));
	attr(CTRL_ATTR_FAMILY_ID, &want, sizeof(want));
	CHECK_EQ(zc_parse_family(&msg, msg.h.nlmsg_len, &id), 0);
	CHECK_EQ(id, FAMILY);
	/* cut anywhere before the id's end: refused, never read past */
	for (uint32_t len = 0; len < msg.h.nlmsg_len; len++)
		CHECK(zc_parse_family(&msg, len, &id) < 0);
}

/* Linux before 6.3 (Debian 12's 6.1) has no "netdev" family. */
TEST(family_missing)
{
	uint16_t id = 0;

	error_answer(-ENOENT);
	CHECK_EQ(zc_parse_family(&msg, msg.h.nlmsg_len, &id), -ENOENT);
	/* an answer without the id */
	begin(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	attr(CTRL_ATTR_FAMILY_NAME, "netdev", sizeof("netdev"));
	CHECK_EQ(zc_parse_family(&msg, msg.h.nlmsg_len, &id), -EBADMSG);
	/* a short id attribute */
	begin(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	attr(CTRL_ATTR_FAMILY_ID, "x", 1);
	CHECK_EQ(zc_parse_family(&msg, msg.h.nlmsg_len, &id), -EBADMSG);
	/* nothing at all */
	CHECK_EQ(zc_parse_family(&msg, 0, &id), -ENOMSG);
}

TEST(dev_features)
{
	static const struct {
		uint64_t f;
		int support;
	} drivers[] = {
		{ VETH, ZC_SUPPORT_NO },
		{ VIRTIO_6_12, ZC_SUPPORT_NO },
		{ VIRTIO_6_13, ZC_SUPPORT_YES },
		{ 0, ZC_SUPPORT_NO },	/* no XDP at all (lo) */
		{ ZC_XDP_ACT_XSK_ZEROCOPY, ZC_SUPPORT_YES },
	};
	uint64_t f;

	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		dev_answer(drivers[i].f);
		f = ~0ull;
		CHECK_EQ(zc_parse_dev(&msg, msg.h.nlmsg_len, FAMILY, &f), 0);
		CHECK_EQ(f, drivers[i].f);
		CHECK_EQ(zc_support_of(0, f), drivers[i].support);
	}
	/* truncated: refused, never read past */
	dev_answer(VIRTIO_6_13);
	for (uint32_t len = 0; len < msg.h.nlmsg_len; len++)
		CHECK(zc_parse_dev(&msg, len, FAMILY, &f) < 0);
	/* another family's message is no answer */
	CHECK_EQ(zc_parse_dev(&msg, msg.h.nlmsg_len, FAMILY + 1, &f), -ENOMSG);
}

TEST(dev_errors)
{
	uint32_t idx = 3;
	uint64_t f = 0;

	error_answer(-ENODEV);	/* the device went away */
	CHECK_EQ(zc_parse_dev(&msg, msg.h.nlmsg_len, FAMILY, &f), -ENODEV);
	CHECK_EQ(zc_support_of(-ENODEV, 0), ZC_SUPPORT_UNKNOWN);
	CHECK_EQ(zc_support_of(-ENOENT, 0), ZC_SUPPORT_UNKNOWN);
	/* a reply without the features attribute */
	begin(FAMILY, 1);
	attr(1, &idx, sizeof(idx));
	CHECK_EQ(zc_parse_dev(&msg, msg.h.nlmsg_len, FAMILY, &f), -EBADMSG);
	/* a features attribute shorter than a u64 */
	begin(FAMILY, 1);
	attr(3, &idx, sizeof(idx));
	CHECK_EQ(zc_parse_dev(&msg, msg.h.nlmsg_len, FAMILY, &f), -EBADMSG);
	/* an attribute whose length runs past the message */
	dev_answer(VETH);
	((struct nlattr *)(msg.b + NLMSG_LENGTH(GENL_HDRLEN)))->nla_len = 400;
	CHECK_EQ(zc_parse_dev(&msg, msg.h.nlmsg_len, FAMILY, &f), -EBADMSG);
}

/* What xsnap_open() binds for each request on each kind of driver. */
TEST(plan)
{
	static const int sup[] = { ZC_SUPPORT_UNKNOWN, ZC_SUPPORT_NO, ZC_SUPPORT_YES };
	uint32_t fl;

	for (size_t i = 0; i < 3; i++) {
		fl = 0;
		CHECK_EQ(zc_plan(XSNAP_ZC_OFF, sup[i], &fl), 0);
		CHECK_EQ(fl, XDP_COPY);
	}
	/* auto: try zero-copy unless the driver is known not to have it */
	CHECK_EQ(zc_plan(XSNAP_ZC_AUTO, ZC_SUPPORT_UNKNOWN, &fl), 0);
	CHECK_EQ(fl, XDP_ZEROCOPY);
	CHECK_EQ(zc_plan(XSNAP_ZC_AUTO, ZC_SUPPORT_NO, &fl), 0);
	CHECK_EQ(fl, XDP_COPY);
	CHECK_EQ(zc_plan(XSNAP_ZC_AUTO, ZC_SUPPORT_YES, &fl), 0);
	CHECK_EQ(fl, XDP_ZEROCOPY);
	/* on: refused before binding where the kernel says the driver lacks it */
	CHECK_EQ(zc_plan(XSNAP_ZC_ON, ZC_SUPPORT_NO, &fl), -EOPNOTSUPP);
	CHECK_EQ(zc_plan(XSNAP_ZC_ON, ZC_SUPPORT_UNKNOWN, &fl), 0);
	CHECK_EQ(fl, XDP_ZEROCOPY);
	CHECK_EQ(zc_plan(XSNAP_ZC_ON, ZC_SUPPORT_YES, &fl), 0);
	CHECK_EQ(fl, XDP_ZEROCOPY);
}

/* What status reports for each answer of the bind and XDP_OPTIONS. */
TEST(reason)
{
	/* bound zero-copy: the kernel's XDP_OPTIONS_ZEROCOPY decides */
	CHECK_EQ(zc_reason(XSNAP_ZC_ON, ZC_SUPPORT_YES, false, XDP_OPTIONS_ZEROCOPY), ZC_ZEROCOPY);
	CHECK_EQ(zc_reason(XSNAP_ZC_AUTO, ZC_SUPPORT_UNKNOWN, false, XDP_OPTIONS_ZEROCOPY),
		 ZC_ZEROCOPY);
	/* off */
	CHECK_EQ(zc_reason(XSNAP_ZC_OFF, ZC_SUPPORT_YES, false, 0), ZC_NOT_REQUESTED);
	CHECK_EQ(zc_reason(XSNAP_ZC_OFF, ZC_SUPPORT_NO, false, 0), ZC_NOT_REQUESTED);
	CHECK_EQ(zc_reason(XSNAP_ZC_OFF, ZC_SUPPORT_UNKNOWN, false, 0), ZC_NOT_REQUESTED);
	/* auto on a driver without it: known from its features (6.3 on) ... */
	CHECK_EQ(zc_reason(XSNAP_ZC_AUTO, ZC_SUPPORT_NO, false, 0), ZC_NO_DRIVER);
	/* ... or from the bind's EOPNOTSUPP (6.1) */
	CHECK_EQ(zc_reason(XSNAP_ZC_AUTO, ZC_SUPPORT_UNKNOWN, true, 0), ZC_NO_DRIVER);
	/* copy mode though zero-copy was bound and nobody refused */
	CHECK_EQ(zc_reason(XSNAP_ZC_AUTO, ZC_SUPPORT_UNKNOWN, false, 0), ZC_UNKNOWN);
	CHECK_EQ(zc_reason(XSNAP_ZC_AUTO, ZC_SUPPORT_YES, false, 0), ZC_UNKNOWN);
}

/* This kernel's answer for the loopback device (no XDP features), or no
 * "netdev" family before Linux 6.3.  Either way never zero-copy. */
TEST(live_query)
{
	uint64_t f = ~0ull;
	int idx = (int)if_nametoindex("lo"), err;

	if (!idx)
		SKIP("no loopback device in this network namespace");
	err = zc_query_features(idx, &f);
	printf("netdev family: %s, lo XDP features 0x%llx\n",
	       err ? strerror(-err) : "present", err ? 0ull : (unsigned long long)f);
	CHECK(err == 0 || err == -ENOENT);
	if (!err)
		CHECK_EQ(zc_support_of(err, f), ZC_SUPPORT_NO);
}

TEST_MAIN()
