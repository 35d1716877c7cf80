// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The xsnapd wire protocol codec (userspace/lib/proto.c): round trips, and
 * every class of malformed input refused without reading past the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xsnap/xsnap.h>

#include "proto.h"
#include "testlib.h"

static uint8_t buf[XP_MAX_MSG + 64];

/* A SOCKET-like request with every field type. */
static int build(uint8_t *b, size_t cap)
{
	struct xp_msg m;

	xp_begin(&m, b, cap, XP_SOCKET, 0);
	xp_put_str(&m, "alpha");
	xp_put_str(&m, "");
	xp_put_u8(&m, 7);
	xp_put_u32(&m, 0xdeadbeef);
	xp_put_u64(&m, 0x0123456789abcdefull);
	xp_put_i64(&m, -1);
	return xp_end(&m, 0);
}

TEST(round_trip)
{
	struct xp_msg m;
	char s[32], e[8];
	int len = build(buf, sizeof(buf));

	CHECK(len > 0);
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), 0);
	CHECK_EQ(m.hdr.op, XP_SOCKET);
	CHECK_EQ(m.hdr.version, XP_VERSION);
	xp_get_str(&m, s, sizeof(s), false);
	xp_get_str(&m, e, sizeof(e), true);
	CHECK(!strcmp(s, "alpha"));
	CHECK(!strcmp(e, ""));
	CHECK_EQ(xp_get_u8(&m), 7);
	CHECK_EQ(xp_get_u32(&m), 0xdeadbeef);
	CHECK_EQ(xp_get_u64(&m), 0x0123456789abcdefull);
	CHECK_EQ(xp_get_i64(&m), -1);
	CHECK_EQ(xp_done(&m), 0);
}

TEST(stats_round_trip)
{
	struct xsnap_stats a = { .sz = sizeof(a) }, b = { .sz = sizeof(b) };
	struct xp_msg m;
	int len;

	a.rx_frames = 1;
	a.pool_free = 5;
	a.held = 9;
	a.xdp[3] = 42;
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	xp_put_stats(&m, &a);
	len = xp_end(&m, 0);
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), 0);
	xp_get_stats(&m, &b);
	CHECK_EQ(xp_done(&m), 0);
	CHECK(!memcmp(&a, &b, sizeof(a)));
}

/* Every truncation of a valid message is refused: framing or a short field. */
TEST(every_truncation_refused)
{
	int len = build(buf, sizeof(buf));

	for (int n = 0; n < len; n++) {
		struct xp_msg m;
		char s[32];

		if (xp_parse(&m, buf, (size_t)n, 0) != 0)
			continue;	/* header refused (len field != n) */
		xp_get_str(&m, s, sizeof(s), false);
		CHECK(xp_done(&m) != 0);
	}
}

TEST(header_classes)
{
	struct xp_msg m;
	struct xp_hdr h;
	int len = build(buf, sizeof(buf));

	/* shorter than a header */
	CHECK_EQ(xp_parse(&m, buf, 3, 0), -EPROTO);
	/* len field not the packet's size */
	memcpy(&h, buf, sizeof(h));
	h.len = (uint32_t)len + 1;
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), -EPROTO);
	/* oversized */
	h.len = XP_MAX_MSG + 1;
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(xp_parse(&m, buf, XP_MAX_MSG + 1, 0), -EPROTO);
	/* wrong version */
	h.len = (uint32_t)len;
	h.version = XP_VERSION + 1;
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), -EPROTONOSUPPORT);
	/* unknown ops */
	h.version = XP_VERSION;
	h.op = 0;
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), -EOPNOTSUPP);
	h.op = XP_OP_MAX;
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), -EOPNOTSUPP);
	/* descriptor count mismatch, both ways */
	h.op = XP_HELLO;
	h.nfds = 1;
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), -EBADMSG);
	h.nfds = 0;
	memcpy(buf, &h, sizeof(h));
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 2), -EBADMSG);
}

TEST(bad_strings)
{
	struct xp_msg m;
	char s[8];
	uint16_t l;
	int len;

	/* longer than the destination */
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	xp_put_str(&m, "abcdefghij");
	len = xp_end(&m, 0);
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), 0);
	xp_get_str(&m, s, sizeof(s), false);
	CHECK(m.err);
	CHECK_EQ(s[0], '\0');
	/* empty where a name is required */
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	xp_put_str(&m, "");
	len = xp_end(&m, 0);
	xp_parse(&m, buf, (size_t)len, 0);
	xp_get_str(&m, s, sizeof(s), false);
	CHECK(m.err);
	/* control characters and NUL inside */
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	xp_put_str(&m, "ab\ncd");
	len = xp_end(&m, 0);
	xp_parse(&m, buf, (size_t)len, 0);
	xp_get_str(&m, s, sizeof(s), false);
	CHECK(m.err);
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	l = 3;
	memcpy(buf + m.len, &l, 2);
	memcpy(buf + m.len + 2, "a\0b", 3);
	m.len += 5;
	len = xp_end(&m, 0);
	xp_parse(&m, buf, (size_t)len, 0);
	xp_get_str(&m, s, sizeof(s), false);
	CHECK(m.err);
	/* a length beyond the message */
	xp_begin(&m, buf, sizeof(buf), XP_STATS, 0);
	l = 0xffff;
	memcpy(buf + m.len, &l, 2);
	m.len += 2;
	len = xp_end(&m, 0);
	xp_parse(&m, buf, (size_t)len, 0);
	xp_get_str(&m, s, sizeof(s), true);
	CHECK(m.err);
	CHECK(xp_done(&m) != 0);
	/* a string longer than XP_STR_MAX cannot be built */
	{
		static char big[XP_STR_MAX + 2];

		memset(big, 'a', sizeof(big) - 1);
		xp_begin(&m, buf, sizeof(buf), XP_RULE_ADD, 0);
		xp_put_str(&m, big);
		CHECK_EQ(xp_end(&m, 0), -EMSGSIZE);
	}
}

TEST(trailing_bytes_refused)
{
	struct xp_msg m;
	int len;

	xp_begin(&m, buf, sizeof(buf), XP_RULE_DEL, 0);
	xp_put_u32(&m, 1);
	xp_put_u8(&m, 0);
	len = xp_end(&m, 0);
	CHECK_EQ(xp_parse(&m, buf, (size_t)len, 0), 0);
	CHECK_EQ(xp_get_u32(&m), 1);
	CHECK_EQ(xp_done(&m), -EBADMSG);
}

TEST(build_overflow)
{
	struct xp_msg m;
	uint8_t small[20];

	xp_begin(&m, small, sizeof(small), XP_RULE_DEL, 0);
	xp_put_u32(&m, 1);
	CHECK(!m.err);
	xp_put_u64(&m, 1);
	CHECK(m.err);
	CHECK_EQ(xp_end(&m, 0), -EMSGSIZE);
	xp_begin(&m, buf, sizeof(buf), XP_RULE_DEL, 0);
	CHECK_EQ(xp_end(&m, XP_MAX_FDS + 1), -EMSGSIZE);
}

/* Over a socketpair: descriptors travel, oversized packets are refused and
 * their descriptors closed. */
TEST(transport)
{
	int sv[2], fds[XP_MAX_FDS], one[2];
	unsigned int nfds;
	struct xp_msg m;
	int len, r;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(pipe(one), 0);
	xp_begin(&m, buf, sizeof(buf), XP_HELLO, 0);
	xp_put_u32(&m, XP_VERSION);
	len = xp_end(&m, 1);
	CHECK_EQ(xp_send(sv[0], buf, (size_t)len, &one[0], 1), 0);
	r = xp_recv(sv[1], buf, XP_MAX_MSG, fds, &nfds);
	CHECK_EQ(r, len);
	CHECK_EQ(nfds, 1);
	CHECK_EQ(xp_parse(&m, buf, (size_t)r, nfds), 0);
	CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	close(fds[0]);
	/* oversized: the receiver's buffer is smaller than the packet */
	memset(buf, 0, 4096);
	CHECK_EQ(xp_send(sv[0], buf, 4096, &one[1], 1), 0);
	r = xp_recv(sv[1], buf, 1024, fds, &nfds);
	CHECK_EQ(r, -EPROTO);
	CHECK_EQ(nfds, 0);
	/* end of file */
	close(sv[0]);
	CHECK_EQ(xp_recv(sv[1], buf, XP_MAX_MSG, fds, &nfds), 0);
	close(sv[1]);
	close(one[0]);
	close(one[1]);
}

TEST_MAIN()
