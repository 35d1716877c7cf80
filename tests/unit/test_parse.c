// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of bpf/xsnap_parse.h run in userspace: the very parser and key
 * builder the XDP program runs, fed hand-made well-formed and malformed
 * frames (classes A1-A10 of TESTING.md).  No root, no kernel.
 */
#include <arpa/inet.h>
#include <stdbool.h>

#include "testlib.h"
#include "frames.h"
#include "oracle.h"
#include "rule.h"
#include "xsnap_parse.h"

static int parse(const struct frame *f, struct xsnap_pkt *p)
{
	return xsnap_parse(f->b, f->b + f->len, p);
}

/* The frame parses, without ports: its UDP/TCP header cannot be read, so
 * only rules without port terms can match it. */
static int l4_bad(const struct frame *f, struct xsnap_pkt *p)
{
	return parse(f, p) == 0 && p->l4_bad && !p->ports && !p->l4_off && !p->tiny_frag &&
	       !p->l4_unknown;
}

static int addr_eq(const __u8 *got, const char *want)
{
	__u8 a[16];

	frame_addr(want, a);
	return !memcmp(got, a, 16);
}

/* IPv4 UDP 10.0.0.1:1234 -> 10.2.0.1:9000 with a 16-byte payload. */
static void udp4(struct frame *f, size_t opt_len)
{
	frame_eth(f);
	frame_ipv4(f, "10.0.0.1", "10.2.0.1", opt_len);
	frame_udp(f, 1234, 9000);
	frame_payload(f, 16);
	frame_finish(f);
}

static void tcp4(struct frame *f, size_t tcp_opt)
{
	frame_eth(f);
	frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0);
	frame_tcp(f, 40000, 80, tcp_opt);
	frame_payload(f, 10);
	frame_finish(f);
}

static void udp6(struct frame *f)
{
	frame_eth(f);
	frame_ipv6(f, "2001:db8::1", "2001:db8::2");
	frame_udp(f, 5353, 9000);
	frame_payload(f, 16);
	frame_finish(f);
}

/* --- well-formed shapes ------------------------------------------------ */

TEST(ipv4_udp)
{
	struct xsnap_pkt p;
	struct frame f;

	udp4(&f, 0);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.l3_proto, 4);
	CHECK_EQ(p.proto, IPPROTO_UDP);
	CHECK_EQ(p.l3_off, 14);
	CHECK_EQ(p.l4_off, 34);
	CHECK_EQ(ntohs(p.sport), 1234);
	CHECK_EQ(ntohs(p.dport), 9000);
	CHECK_EQ(p.ports, 1);
	CHECK_EQ(p.frag, 0);
	CHECK_EQ(p.vlan, 0);
	CHECK_EQ(p.nvlan, 0);
	/* frame_addr() zero-fills past the 4 IPv4 bytes, so this also checks
	 * that the parser leaves bytes 4..15 zero. */
	CHECK(addr_eq(p.src, "10.0.0.1"));
	CHECK(addr_eq(p.dst, "10.2.0.1"));
	CHECK(p.flow_hash != 0);
}

TEST(ipv4_tcp)
{
	struct xsnap_pkt p;
	struct frame f;

	for (size_t opt = 0; opt <= 40; opt += 4) {
		tcp4(&f, opt);
		CHECK_EQ(parse(&f, &p), 0);
		CHECK_EQ(p.proto, IPPROTO_TCP);
		CHECK_EQ(p.l4_off, 34);
		CHECK_EQ(ntohs(p.sport), 40000);
		CHECK_EQ(ntohs(p.dport), 80);
		CHECK_EQ(p.ports, 1);
	}
}

TEST(ipv4_icmp)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv4(&f, "192.0.2.1", "192.0.2.2", 0);
	frame_icmp(&f);
	frame_payload(&f, 8);
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.l3_proto, 4);
	CHECK_EQ(p.proto, IPPROTO_ICMP);
	CHECK_EQ(p.l4_off, 34);
	CHECK_EQ(p.ports, 0);
	CHECK_EQ(p.sport, 0);
	CHECK_EQ(p.dport, 0);
}

/* A5: options are skipped, L4 is found at ihl * 4. */
TEST(ipv4_options)
{
	struct xsnap_pkt p;
	struct frame f;

	for (unsigned int ihl = 6; ihl <= 15; ihl++) {
		udp4(&f, (ihl - 5) * 4);
		CHECK_EQ(f.b[14] & 0x0f, ihl);
		CHECK_EQ(parse(&f, &p), 0);
		CHECK_EQ(p.l4_off, 14 + ihl * 4);
		CHECK_EQ(ntohs(p.dport), 9000);
		CHECK_EQ(p.ports, 1);
	}
}

/* Ethernet padding after the IP packet is not L4 data and not an error. */
TEST(ipv4_ethernet_padding)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 1, 2);
	frame_finish(&f);
	frame_pad(&f, 18);
	CHECK_EQ(f.len, 60);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.ports, 1);

	/* The UDP length must fit the IP payload, not the padded frame. */
	frame_put16(&f, f.l4_off + 4, 8 + 18);
	CHECK(l4_bad(&f, &p));
}

TEST(ipv4_unknown_proto)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_l4raw(&f, 47, 4);		/* GRE: terminal, no ports */
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.proto, 47);
	CHECK_EQ(p.l4_off, 34);
	CHECK_EQ(p.ports, 0);
}

TEST(ipv6_udp)
{
	struct xsnap_pkt p;
	struct frame f;

	udp6(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.l3_proto, 6);
	CHECK_EQ(p.proto, IPPROTO_UDP);
	CHECK_EQ(p.l3_off, 14);
	CHECK_EQ(p.l4_off, 54);
	CHECK_EQ(ntohs(p.sport), 5353);
	CHECK_EQ(ntohs(p.dport), 9000);
	CHECK(addr_eq(p.src, "2001:db8::1"));
	CHECK(addr_eq(p.dst, "2001:db8::2"));
	CHECK_EQ(p.frag, 0);
}

TEST(ipv6_tcp)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_tcp(&f, 443, 50000, 12);
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.proto, IPPROTO_TCP);
	CHECK_EQ(p.l4_off, 54);
	CHECK_EQ(ntohs(p.sport), 443);
	CHECK_EQ(ntohs(p.dport), 50000);
}

TEST(ipv6_icmpv6)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv6(&f, "fe80::1", "ff02::1");
	frame_icmp(&f);
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.proto, 58);
	CHECK_EQ(p.l4_off, 54);
	CHECK_EQ(p.ports, 0);
	CHECK(addr_eq(p.dst, "ff02::1"));
}

/* Allow-listed extension headers are skipped, in any order. */
TEST(ipv6_ext_chain)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 0, 0);	/* hop-by-hop, 8 bytes */
	frame_ipv6_ext(&f, 43, 2);	/* routing, 24 bytes */
	frame_ipv6_ext(&f, 60, 1);	/* destination options, 16 bytes */
	frame_ipv6_ext(&f, 44, 0);	/* fragment, offset 0, M: first fragment */
	frame_udp(&f, 1000, 2000);
	frame_payload(&f, 4);
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.l4_off, 54 + 8 + 24 + 16 + 8);
	CHECK_EQ(p.proto, IPPROTO_UDP);
	CHECK_EQ(ntohs(p.dport), 2000);
	CHECK_EQ(p.frag, 0);
}

/* A10: 0..LIMIT headers are fine, LIMIT + 1 fails closed. */
TEST(ipv6_ext_limit)
{
	struct xsnap_pkt p;
	struct frame f;

	for (int n = 0; n <= XSNAP_MAX_IPV6_EXT + 1; n++) {
		frame_eth(&f);
		frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
		for (int i = 0; i < n; i++)
			frame_ipv6_ext(&f, 60, 0);
		frame_udp(&f, 1, 2);
		frame_finish(&f);
		if (n <= XSNAP_MAX_IPV6_EXT) {
			CHECK_EQ(parse(&f, &p), 0);
			CHECK_EQ(p.l4_off, 54 + 8 * n);
			CHECK_EQ(p.ports, 1);
			CHECK_EQ(p.l4_unknown, 0);
		} else {
			/* longer than we follow: addresses known, L4 unknown */
			CHECK_EQ(parse(&f, &p), 0);
			CHECK_EQ(p.l4_unknown, 1);
			CHECK_EQ(p.proto, 0);
			CHECK_EQ(p.ports, 0);
			CHECK_EQ(p.l4_off, 0);
			CHECK(addr_eq(p.dst, "2001:db8::2"));
		}
	}
}

/* A10: unknown next header ends the chain: protocol recorded, no ports. */
TEST(ipv6_unknown_next_header)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 0, 0);
	frame_l4raw(&f, 50, 16);	/* ESP */
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.proto, 50);
	CHECK_EQ(p.l4_off, 62);
	CHECK_EQ(p.ports, 0);

	/* "No next header" right after the fixed header. */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.proto, 59);
	CHECK_EQ(p.ports, 0);
}

/* A10: truncated extension headers fail closed. */
TEST(ipv6_ext_truncated)
{
	struct xsnap_pkt p;
	struct frame f;

	/* The header claims 40 bytes, the packet has 8 after it. */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 0, 0);
	frame_udp(&f, 1, 2);
	frame_finish(&f);
	frame_put8(&f, 54 + 1, 4);
	CHECK_EQ(parse(&f, &p), -XSNAP_R_IPV6_EXT);

	/* Less than the 8-byte minimum of an extension header. */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 43, 0);
	frame_finish(&f);
	f.len -= 4;
	frame_finish(&f);	/* payload_len = 4 */
	CHECK_EQ(parse(&f, &p), -XSNAP_R_IPV6_EXT);

	/* Within the frame, but beyond payload_len (Ethernet padding). */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 60, 1);
	frame_finish(&f);
	frame_put16(&f, 18, 8);	/* payload_len 8 of the 16-byte header */
	CHECK_EQ(parse(&f, &p), -XSNAP_R_IPV6_EXT);
}

TEST(ipv6_bad_l3)
{
	struct xsnap_pkt p;
	struct frame f;

	udp6(&f);
	frame_put16(&f, 18, (uint16_t)(f.len - 54 + 1));	/* payload_len > frame */
	CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);

	udp6(&f);
	frame_put8(&f, 14, 0x40);			/* version 4 in an IPv6 frame */
	CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);

	udp6(&f);
	f.len = 14 + 39;				/* fixed header truncated */
	CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);
}

TEST(vlan_one_tag)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_vlan(&f, 0x8100, 100);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 1, 9000);
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.vlan, 100);
	CHECK_EQ(p.nvlan, 1);
	CHECK_EQ(p.l3_off, 18);
	CHECK_EQ(p.l4_off, 38);
	CHECK_EQ(ntohs(p.dport), 9000);
}

/* A3: QinQ within the limit is parsed; the outermost id is reported. */
TEST(vlan_two_tags)
{
	static const uint16_t tpids[][2] = {
		{ 0x88a8, 0x8100 }, { 0x8100, 0x8100 }, { 0x88a8, 0x88a8 }, { 0x8100, 0x88a8 },
	};
	struct xsnap_pkt p;
	struct frame f;

	for (size_t i = 0; i < sizeof(tpids) / sizeof(tpids[0]); i++) {
		frame_eth(&f);
		frame_vlan(&f, tpids[i][0], 4094);
		frame_vlan(&f, tpids[i][1], 7);
		frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
		frame_tcp(&f, 1, 22, 0);
		frame_finish(&f);
		CHECK_EQ(parse(&f, &p), 0);
		CHECK_EQ(p.vlan, 4094);
		CHECK_EQ(p.nvlan, 2);
		CHECK_EQ(p.l3_off, 22);
		CHECK_EQ(p.l4_off, 62);
		CHECK_EQ(ntohs(p.dport), 22);
	}
}

/* PCP and DEI bits are not part of the id. */
TEST(vlan_tci_bits)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_vlan(&f, 0x8100, 300);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 1, 2);
	frame_finish(&f);
	frame_put16(&f, 14, 0xf000 | 300);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.vlan, 300);
}

/* A7: a first fragment has its L4 header, later ones have none. */
TEST(ipv4_fragments)
{
	struct xsnap_pkt p;
	struct frame f;

	udp4(&f, 0);
	frame_ipv4_frag(&f, 0x2000);		/* MF, offset 0 */
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.frag, 0);
	CHECK_EQ(p.ports, 1);
	CHECK_EQ(ntohs(p.dport), 9000);
	CHECK_EQ(p.l4_off, 34);

	udp4(&f, 0);
	frame_ipv4_frag(&f, 0x2000 | 185);	/* MF, middle fragment */
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.frag, 1);
	CHECK_EQ(p.ports, 0);
	CHECK_EQ(p.dport, 0);
	CHECK_EQ(p.l4_off, 0);
	CHECK_EQ(p.proto, IPPROTO_UDP);
	CHECK(addr_eq(p.dst, "10.2.0.1"));

	/* Last fragment; the bytes where a UDP header would be are garbage
	 * (length 0) and must not be looked at. */
	udp4(&f, 0);
	frame_ipv4_frag(&f, 370);
	frame_put16(&f, f.l4_off + 4, 0);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.frag, 1);
	CHECK(p.flow_hash != 0);

	/* A first fragment's UDP length covers the whole datagram: larger
	 * than this fragment is fine, but not without MF. */
	udp4(&f, 0);
	frame_ipv4_frag(&f, 0x2000);
	frame_put16(&f, f.l4_off + 4, 3000);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.ports, 1);
	CHECK_EQ(ntohs(p.dport), 9000);
	frame_put16(&f, f.l4_off + 4, 7);
	CHECK(l4_bad(&f, &p));
	frame_ipv4_frag(&f, 0);
	frame_put16(&f, f.l4_off + 4, 3000);
	CHECK(l4_bad(&f, &p));

	/* DF alone is not a fragment. */
	udp4(&f, 0);
	frame_ipv4_frag(&f, 0x4000);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.frag, 0);
	CHECK_EQ(p.ports, 1);
}

TEST(ipv6_fragments)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 0, 0);
	frame_ipv6_ext(&f, 44, 100);		/* offset 800 bytes: later fragment */
	frame_udp(&f, 1, 2);
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.frag, 1);
	CHECK_EQ(p.proto, IPPROTO_UDP);		/* from the fragment header */
	CHECK_EQ(p.ports, 0);
	CHECK_EQ(p.l4_off, 0);
	CHECK(addr_eq(p.src, "2001:db8::1"));

	/* First fragment (offset 0, M set): L4 is there, and its UDP length
	 * may cover more than this fragment. */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 44, 0);
	frame_udp(&f, 1, 2);
	frame_finish(&f);
	frame_put16(&f, f.l4_off + 4, 4000);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.frag, 0);
	CHECK_EQ(p.ports, 1);
	CHECK_EQ(p.l4_off, 62);

	/* Atomic fragment (offset 0, M clear): a whole datagram again. */
	frame_put16(&f, f.frag_off + 2, 0);
	CHECK(l4_bad(&f, &p));
	frame_put16(&f, f.l4_off + 4, 8);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.frag, 0);
	CHECK_EQ(p.ports, 1);
}

/*
 * First fragments too short for their UDP/TCP header (RFC 1858 "tiny
 * fragments"): Linux reassembles an IPv4 one of 8 bytes, so the ports,
 * its first 4 bytes, are what it is classified by.  Fewer than 4 bytes:
 * no ports (the kernel drops those: a non-last IPv4 fragment shorter than
 * 8 bytes, an IPv6 first fragment without the whole upper-layer header).
 */
TEST(first_fragment_tiny)
{
	struct xsnap_pkt p;
	struct frame f;

	/* IPv4, 8 bytes of TCP (ports, sequence number), MF */
	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_tcp(&f, 40000, 22, 0);
	f.len = f.l4_off + 8;
	frame_finish(&f);
	frame_ipv4_frag(&f, 0x2000);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.tiny_frag, 1);
	CHECK_EQ(p.ports, 1);
	CHECK_EQ(ntohs(p.dport), 22);
	CHECK_EQ(ntohs(p.sport), 40000);
	CHECK_EQ(p.l4_off, 34);
	CHECK_EQ(p.frag, 0);
	/* the same 8 bytes without MF: a cut TCP header, not a fragment */
	frame_ipv4_frag(&f, 0);
	CHECK(l4_bad(&f, &p));
	/* 20 bytes whose options go on in the next fragment */
	tcp4(&f, 0);
	frame_put8(&f, f.l4_off + 12, 15 << 4);
	frame_ipv4_frag(&f, 0x2000);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.tiny_frag, 1);
	CHECK_EQ(ntohs(p.dport), 80);
	/* a whole header with a bad data offset stays unreadable */
	frame_put8(&f, f.l4_off + 12, 4 << 4);
	CHECK(l4_bad(&f, &p));
	/* 3 bytes: no ports */
	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_tcp(&f, 40000, 22, 0);
	f.len = f.l4_off + 3;
	frame_finish(&f);
	frame_ipv4_frag(&f, 0x2000);
	CHECK(l4_bad(&f, &p));
	/* UDP, 4 bytes */
	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 53, 9000);
	f.len = f.l4_off + 4;
	frame_finish(&f);
	frame_ipv4_frag(&f, 0x2000);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.tiny_frag, 1);
	CHECK_EQ(ntohs(p.dport), 9000);
	/* IPv6: Fragment header (offset 0, M), 8 bytes of TCP */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 44, 0);
	frame_tcp(&f, 40000, 22, 0);
	f.len = f.l4_off + 8;
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.tiny_frag, 1);
	CHECK_EQ(ntohs(p.dport), 22);
	CHECK_EQ(p.l4_off, 62);
	/* a whole header is no tiny fragment */
	tcp4(&f, 0);
	frame_ipv4_frag(&f, 0x2000);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.tiny_frag, 0);
	CHECK_EQ(p.ports, 1);
}

/*
 * An IPv6 first fragment whose chain goes on in the next fragment: a
 * Destination Options header after the Fragment header, cut by the end of
 * the fragment.  The kernel reassembles it before it reads the rest, so it
 * is no malformed frame: protocol and ports are unknown (l4_unknown).  The
 * same cut without a Fragment header, or before it, is malformed.
 */
TEST(ipv6_chain_cut_by_first_fragment)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 44, 0);
	frame_ipv6_ext(&f, 60, 4);		/* 40 bytes of options */
	frame_finish(&f);
	f.len -= 16;				/* the fragment ends inside them */
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.l4_unknown, 1);
	CHECK_EQ(p.ports, 0);
	CHECK_EQ(p.proto, 0);
	CHECK_EQ(p.frag, 0);
	CHECK(addr_eq(p.src, "2001:db8::1"));
	/* ending right after the options, with another header to come */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 44, 0);
	frame_ipv6_ext(&f, 60, 0);
	frame_ipv6_ext(&f, 43, 0);
	frame_finish(&f);
	f.len -= 8;
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), 0);
	CHECK_EQ(p.l4_unknown, 1);
	/* an atomic fragment (M clear) is a whole datagram: cut is malformed */
	frame_put16(&f, f.frag_off + 2, 0);
	CHECK_EQ(parse(&f, &p), -XSNAP_R_IPV6_EXT);
	/* cut before the Fragment header (unfragmentable part): malformed */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 0, 2);
	frame_ipv6_ext(&f, 44, 0);
	frame_finish(&f);
	frame_put16(&f, 18, 16);		/* payload_len: inside hop-by-hop */
	CHECK_EQ(parse(&f, &p), -XSNAP_R_IPV6_EXT);
}

/* --- malformed classes --------------------------------------------------- */

/* A1: shorter than an Ethernet header; a truncated VLAN tag. */
TEST(a1_short_l2)
{
	struct xsnap_pkt p;
	struct frame f;

	udp4(&f, 0);
	for (size_t len = 0; len < 14; len++)
		CHECK_EQ(xsnap_parse(f.b, f.b + len, &p), -XSNAP_R_SHORT_L2);

	frame_eth(&f);
	frame_vlan(&f, 0x8100, 5);
	frame_ipv4(&f, "10.0.0.1", "10.0.0.2", 0);
	frame_finish(&f);
	for (size_t len = 14; len < 18; len++)
		CHECK_EQ(xsnap_parse(f.b, f.b + len, &p), -XSNAP_R_SHORT_L2);
}

/* A2: 802.3 lengths and non-IP ethertypes. */
TEST(a2_non_ip)
{
	static const uint16_t types[] = { 0x0000, 0x002e, 0x05dc, 0x05ff, 0x0600,
					  0x0806, 0x88cc, 0x8847, 0x86dc, 0x0801 };
	struct xsnap_pkt p;
	struct frame f;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		frame_eth(&f);
		frame_ethertype(&f, types[i], 46);
		CHECK_EQ(parse(&f, &p), -XSNAP_R_NON_IP);
		CHECK_EQ(p.flow_hash, 0);
	}
	/* The same behind a VLAN tag. */
	frame_eth(&f);
	frame_vlan(&f, 0x8100, 1);
	frame_ethertype(&f, 0x0806, 28);
	CHECK_EQ(parse(&f, &p), -XSNAP_R_NON_IP);
	/* An exact 14-byte frame carrying no type at all. */
	CHECK_EQ(xsnap_parse(f.b, f.b + 14, &p), -XSNAP_R_SHORT_L2);
}

/* A3: one tag more than we parse. */
TEST(a3_vlan_too_deep)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	for (int i = 0; i <= XSNAP_MAX_VLAN_DEPTH; i++)
		frame_vlan(&f, i ? 0x8100 : 0x88a8, (uint16_t)(10 + i));
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 1, 9000);
	frame_finish(&f);
	CHECK_EQ(parse(&f, &p), -XSNAP_R_VLAN_DEEP);
}

/* A4: IHL below 5; a wrong version. */
TEST(a4_bad_ihl)
{
	struct xsnap_pkt p;
	struct frame f;

	for (int ihl = 0; ihl < 5; ihl++) {
		udp4(&f, 0);
		frame_put8(&f, 14, (uint8_t)(0x40 | ihl));
		CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);
	}
	udp4(&f, 0);
	frame_put8(&f, 14, 0x65);
	CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);
}

/* A5: options that run past the frame; a header shorter than 20 bytes. */
TEST(a5_options_truncated)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_finish(&f);
	frame_put8(&f, 14, 0x4f);		/* claims 60 bytes, frame has 20 */
	frame_put16(&f, 16, 60);
	CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);

	udp4(&f, 0);
	f.len = 14 + 19;
	CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);
	f.len = 14;
	CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);
}

/* A6: tot_len 0, below the header length, beyond the frame. */
TEST(a6_bad_tot_len)
{
	struct xsnap_pkt p;
	struct frame f;
	uint16_t bad[4];

	udp4(&f, 8);				/* IHL 7: 28-byte header */
	bad[0] = 0;
	bad[1] = 20;
	bad[2] = 27;
	bad[3] = (uint16_t)(f.len - 14 + 1);
	for (int i = 0; i < 4; i++) {
		udp4(&f, 8);
		frame_put16(&f, 16, bad[i]);
		CHECK_EQ(parse(&f, &p), -XSNAP_R_BAD_L3);
	}
	/* tot_len == header length: a valid packet with an empty payload,
	 * so the UDP header is missing. */
	udp4(&f, 8);
	frame_put16(&f, 16, 28);
	CHECK(l4_bad(&f, &p));
}

/* A8: TCP doff 0..4, options beyond the frame, header truncated. */
TEST(a8_bad_tcp)
{
	struct xsnap_pkt p;
	struct frame f;

	for (int doff = 0; doff < 5; doff++) {
		tcp4(&f, 0);
		frame_put8(&f, f.l4_off + 12, (uint8_t)(doff << 4));
		CHECK(l4_bad(&f, &p));
	}
	tcp4(&f, 0);				/* 20 + 10 bytes of TCP */
	frame_put8(&f, f.l4_off + 12, 8 << 4);	/* 32 > 30 */
	CHECK(l4_bad(&f, &p));
	frame_put8(&f, f.l4_off + 12, 7 << 4);	/* 28 <= 30: fine */
	CHECK_EQ(parse(&f, &p), 0);

	tcp4(&f, 0);
	f.len = f.l4_off + 19;
	frame_finish(&f);
	CHECK(l4_bad(&f, &p));
}

/* A9: UDP length below 8 or beyond the IP payload; header truncated. */
TEST(a9_bad_udp)
{
	struct xsnap_pkt p;
	struct frame f;

	for (uint16_t len = 0; len < 8; len++) {
		udp4(&f, 0);
		frame_put16(&f, f.l4_off + 4, len);
		CHECK(l4_bad(&f, &p));
	}
	udp4(&f, 0);
	frame_put16(&f, f.l4_off + 4, 8 + 16 + 1);
	CHECK(l4_bad(&f, &p));
	/* Shorter than the IP payload is legal (trailing bytes ignored). */
	frame_put16(&f, f.l4_off + 4, 8);
	CHECK_EQ(parse(&f, &p), 0);

	udp6(&f);
	f.len = f.l4_off + 7;
	frame_finish(&f);
	CHECK(l4_bad(&f, &p));
}

/* --- flow hash ----------------------------------------------------------- */

static __u32 hash_of(const char *src, const char *dst, uint16_t sport, uint16_t dport, int tcp)
{
	struct xsnap_pkt p;
	struct frame f;

	frame_eth(&f);
	if (strchr(src, ':'))
		frame_ipv6(&f, src, dst);
	else
		frame_ipv4(&f, src, dst, 0);
	if (tcp)
		frame_tcp(&f, sport, dport, 0);
	else
		frame_udp(&f, sport, dport);
	frame_finish(&f);
	if (parse(&f, &p))
		return 0;
	return p.flow_hash;
}

TEST(flow_hash_symmetric)
{
	__u32 h = hash_of("10.0.0.1", "10.2.0.1", 1234, 9000, 0);

	CHECK(h != 0);
	CHECK_EQ(hash_of("10.2.0.1", "10.0.0.1", 9000, 1234, 0), h);
	/* Different flows hash differently (for these inputs). */
	CHECK(hash_of("10.0.0.1", "10.2.0.1", 9000, 1234, 0) != h);
	CHECK(hash_of("10.0.0.1", "10.2.0.1", 1234, 9000, 1) != h);
	CHECK(hash_of("10.0.0.1", "10.2.0.2", 1234, 9000, 0) != h);

	h = hash_of("2001:db8::1", "2001:db8:1::2", 443, 50000, 1);
	CHECK(h != 0);
	CHECK_EQ(hash_of("2001:db8:1::2", "2001:db8::1", 50000, 443, 1), h);
	CHECK(hash_of("2001:db8::1", "2001:db8:1::3", 443, 50000, 1) != h);
}

/* A fragment hashes on addresses and proto only, both directions alike. */
TEST(flow_hash_fragment_symmetric)
{
	struct xsnap_pkt a, b;
	struct frame f;

	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 1, 2);
	frame_finish(&f);
	frame_ipv4_frag(&f, 100);
	REQUIRE(parse(&f, &a) == 0);
	frame_eth(&f);
	frame_ipv4(&f, "10.2.0.1", "10.0.0.1", 0);
	frame_udp(&f, 7, 8);
	frame_finish(&f);
	frame_ipv4_frag(&f, 100);
	REQUIRE(parse(&f, &b) == 0);
	CHECK_EQ(a.flow_hash, b.flow_hash);
}

/* --- keys ---------------------------------------------------------------- */

static int make_key(const struct frame *f, const struct xsnap_group *g, __u8 bank, __u8 gi,
		    struct xsnap_rule_key *k)
{
	struct xsnap_pkt p;

	memset(k, 0xee, sizeof(*k));	/* make_key must zero what it does not set */
	if (parse(f, &p))
		return -1;
	return xsnap_make_key(&p, g, bank, gi, k);
}

/* Keys from the parser equal keys built the way the rule compiler builds
 * them (frame_rule_key(), an independent bytewise implementation). */
TEST(key_proto_dport)
{
	struct xsnap_group g = { .fields = XSNAP_F_PROTO | XSNAP_F_DPORT };
	struct xsnap_rule_key k, want;
	struct frame f;

	udp4(&f, 0);
	CHECK_EQ(make_key(&f, &g, 1, 3, &k), 1);
	frame_rule_key(&want, 1, 3, &g, IPPROTO_UDP, 0, 9000, 0, NULL, NULL);
	CHECK(!memcmp(&k, &want, sizeof(k)));
	/* Fields outside the group stay zero even though the frame has them. */
	CHECK_EQ(k.sport, 0);
	CHECK_EQ(k.l3_proto, 0);
	CHECK_EQ(k.dst[0], 0);

	/* The same group over IPv6: the key does not depend on the family. */
	udp6(&f);
	CHECK_EQ(make_key(&f, &g, 1, 3, &k), 1);
	CHECK(!memcmp(&k, &want, sizeof(k)));
}

TEST(key_prefixes)
{
	static const unsigned int v4[] = { 0, 1, 7, 8, 13, 16, 24, 31, 32 };
	static const unsigned int v6[] = { 0, 1, 31, 32, 33, 36, 64, 100, 127, 128 };
	struct xsnap_rule_key k, want;
	struct frame f;

	frame_eth(&f);
	frame_ipv4(&f, "10.255.171.205", "192.168.77.129", 0);
	frame_udp(&f, 1, 2);
	frame_finish(&f);
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		struct xsnap_group g = { .fields = XSNAP_F_SRC | XSNAP_F_DST, .l3_proto = 4,
					 .src_plen = v4[i], .dst_plen = 32 - v4[i] };

		CHECK_EQ(make_key(&f, &g, 0, 0, &k), 1);
		frame_rule_key(&want, 0, 0, &g, 0, 0, 0, 0, "10.255.171.205", "192.168.77.129");
		if (memcmp(&k, &want, sizeof(k)))
			fprintf(stderr, "IPv4 plen %u differs\n", v4[i]);
		CHECK(!memcmp(&k, &want, sizeof(k)));
	}

	frame_eth(&f);
	frame_ipv6(&f, "2001:db8:abcd:ef12:3456:789a:bcde:f0ff", "fe80::ffff:1234");
	frame_tcp(&f, 1, 2, 0);
	frame_finish(&f);
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		struct xsnap_group g = { .fields = XSNAP_F_SRC | XSNAP_F_DST | XSNAP_F_PROTO,
					 .l3_proto = 6,
					 .src_plen = v6[i],
					 .dst_plen = 128 - v6[i] };

		CHECK_EQ(make_key(&f, &g, 1, 15, &k), 1);
		frame_rule_key(&want, 1, 15, &g, IPPROTO_TCP, 0, 0, 0,
			 "2001:db8:abcd:ef12:3456:789a:bcde:f0ff", "fe80::ffff:1234");
		if (memcmp(&k, &want, sizeof(k)))
			fprintf(stderr, "IPv6 plen %u differs\n", v6[i]);
		CHECK(!memcmp(&k, &want, sizeof(k)));
	}
}

TEST(key_cannot_match)
{
	struct xsnap_group ports = { .fields = XSNAP_F_SPORT };
	struct xsnap_group dst6 = { .fields = XSNAP_F_DST, .l3_proto = 6, .dst_plen = 64 };
	struct xsnap_group fam4 = { .fields = XSNAP_F_L3, .l3_proto = 4 };
	struct xsnap_group vlan = { .fields = XSNAP_F_VLAN };
	struct xsnap_group proto = { .fields = XSNAP_F_PROTO };
	struct xsnap_rule_key k;
	struct frame f;

	/* Ports on a later fragment. */
	udp4(&f, 0);
	frame_ipv4_frag(&f, 100);
	CHECK_EQ(make_key(&f, &ports, 0, 0, &k), 0);
	/* ... but the protocol of a fragment still matches. */
	CHECK_EQ(make_key(&f, &proto, 0, 0, &k), 1);
	CHECK_EQ(k.proto, IPPROTO_UDP);
	/* Ports on ICMP. */
	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.0.0.2", 0);
	frame_icmp(&f);
	frame_finish(&f);
	CHECK_EQ(make_key(&f, &ports, 0, 0, &k), 0);
	/* IPv6 addresses on an IPv4 frame, IPv4 family on IPv6. */
	CHECK_EQ(make_key(&f, &dst6, 0, 0, &k), 0);
	CHECK_EQ(make_key(&f, &fam4, 0, 0, &k), 1);
	CHECK_EQ(k.l3_proto, 4);
	udp6(&f);
	CHECK_EQ(make_key(&f, &fam4, 0, 0, &k), 0);
	CHECK_EQ(make_key(&f, &dst6, 0, 0, &k), 1);
	/* A VLAN rule never matches an untagged frame, not even as "vlan 0". */
	CHECK_EQ(make_key(&f, &vlan, 0, 0, &k), 0);
}

TEST(key_vlan)
{
	struct xsnap_group g = { .fields = XSNAP_F_VLAN | XSNAP_F_DPORT };
	struct xsnap_rule_key k, want;
	struct frame f;

	frame_eth(&f);
	frame_vlan(&f, 0x88a8, 0xabc);
	frame_vlan(&f, 0x8100, 5);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 1, 4789);
	frame_finish(&f);
	CHECK_EQ(make_key(&f, &g, 0, 2, &k), 1);
	frame_rule_key(&want, 0, 2, &g, 0, 0, 4789, 0xabc, NULL, NULL);
	CHECK(!memcmp(&k, &want, sizeof(k)));
	CHECK_EQ(k.vlan, 0xabc);
}

/*
 * Parser keys against the rule compiler (userspace/lib/rule.c): each rule is
 * compiled on its own into one group and one key; for every frame, "the
 * parser's key for that group equals the compiled key" must hold exactly
 * when the compiler's rule-by-rule reference (rule_ref_classify()) says the
 * rule matches the frame.
 */
struct fspec {
	const char *src, *dst;
	uint8_t proto;		/* 17, 6, 1/58 (ICMP of the family), other: raw */
	uint16_t sport, dport;
	uint16_t vlan;		/* 0: untagged; 0xffff: tag with id 0 */
	uint16_t frag;		/* fragment offset in 8-byte units; 0xffff: first fragment */
	uint8_t exts;		/* IPv6: destination options headers before L4 (more
				 * than the parser follows: L4 unknown) */
};

static void build_spec(struct frame *f, const struct fspec *s)
{
	int v6 = strchr(s->src, ':') != NULL;

	frame_eth(f);
	if (s->vlan)
		frame_vlan(f, 0x8100, s->vlan == 0xffff ? 0 : s->vlan);
	if (v6) {
		frame_ipv6(f, s->src, s->dst);
		if (s->frag)
			frame_ipv6_ext(f, 44, s->frag == 0xffff ? 0 : s->frag);
		for (int i = 0; i < s->exts; i++)
			frame_ipv6_ext(f, 60, 0);
	} else {
		frame_ipv4(f, s->src, s->dst, 0);
	}
	if (s->proto == 17)
		frame_udp(f, s->sport, s->dport);
	else if (s->proto == 6)
		frame_tcp(f, s->sport, s->dport, 0);
	else if (s->proto == 1 || s->proto == 58)
		frame_icmp(f);
	else
		frame_l4raw(f, s->proto, 8);
	frame_payload(f, 8);
	frame_finish(f);
	if (!v6 && s->frag)
		frame_ipv4_frag(f, s->frag == 0xffff ? 0x2000 : s->frag);
}

/* @text parsed into @r (id 1, priority 1, tenant 3); false, having said
 * why, if it does not parse. */
static bool rule_of(const char *text, struct rule *r)
{
	char err[128] = "";

	*r = (struct rule){ .id = 1, .prio = 1, .tenant = 3 };
	if (rule_parse(text, r, err, sizeof(err)))
		fprintf(stderr, "rule '%s': %s\n", text, err);
	return err[0] == '\0';
}

/*
 * The frame of @s built and parsed into @p (with the port classes of
 * @ports, as the program puts them, unless NULL); the reference's verdict
 * for rule @r on it: 1 if the rule matches, 0 if not, -1 if the frame does
 * not parse.
 */
static int ref_verdict(const struct rule *r, const struct fspec *s,
		       const struct rule_ports *ports, struct xsnap_pkt *p)
{
	struct rule_frame rf;
	struct frame f;
	uint32_t mask, id;

	build_spec(&f, s);
	if (parse(&f, p))
		return -1;
	if (ports) {
		p->sclass = ports->sport[ntohs(p->sport)];
		p->dclass = ports->dport[ntohs(p->dport)];
	}
	rule_frame_of_pkt(p, &rf);
	return rule_ref_classify(r, 1, &rf, &mask, &id) >= 0;
}

/* The key's verdict @ours on frame #@fi must be the reference's, @ref. */
static void check_key_agrees(const char *rule, size_t fi, int ref, int ours)
{
	if (ref != ours)
		fprintf(stderr, "rule '%s', frame #%zu: reference %d, key %d\n", rule, fi, ref,
			ours);
	CHECK_EQ(ours, ref);
}

TEST(keys_agree_with_rule_compiler)
{
	static const char *const matches[] = {
		"udp",
		"tcp dst port 80",
		"udp src port 1234 and dst port 9000",
		"udp dst port 9000 action drop",
		"ip src 10.0.0.0/8",
		"ip dst 10.2.0.1",
		"ip dst 10.2.0.0/15",
		"ip dst 10.3.0.0/16",
		"ip src 0.0.0.0/0",
		"ip6 src 2001:db8::/33",
		"ip6 dst 2001:db8::2",
		"ip6 dst ::/0",
		"ip6 src 2001:db8:8000::/33",
		"vlan 100",
		"vlan 0",
		"icmp",
		"icmp6",
		"tcp and ip6 dst 2001:db8::/64",
		"udp and vlan 100 and ip dst 10.2.0.0/16",
		"ip src 10.0.0.1 and ip dst 10.2.0.1 and udp src port 1234 action pass",
		"tcp dst port 22 and ip6 src 2001:db8:8000::/33 action drop",
		"icmp6 action drop",
		"udp and ip6 dst 2001:db8::2",
	};
	static const struct fspec frames[] = {
		{ "10.0.0.1", "10.2.0.1", 17, 1234, 9000, 0, 0 },
		{ "10.0.0.1", "10.2.0.1", 17, 1234, 9000, 100, 0 },
		{ "10.0.0.1", "10.2.0.1", 17, 1234, 9000, 0xffff, 0 },
		{ "10.0.0.1", "10.3.0.1", 6, 50000, 80, 0, 0 },
		{ "192.168.0.1", "10.2.0.1", 1, 0, 0, 0, 0 },
		{ "10.0.0.1", "10.2.0.1", 17, 1234, 9000, 0, 100 },	/* later fragment */
		{ "10.0.0.1", "10.2.0.1", 17, 1234, 9000, 0, 0xffff },	/* first fragment */
		{ "10.0.0.1", "10.2.0.1", 47, 0, 0, 100, 0 },
		{ "2001:db8::1", "2001:db8::2", 17, 1234, 9000, 0, 0 },
		{ "2001:db8::1", "2001:db8::2", 6, 1234, 80, 0, 0 },
		{ "2001:db8:8000::1", "2001:db8::3", 58, 0, 0, 0, 0 },
		{ "2001:db8::1", "2001:db9::2", 17, 1234, 9000, 0, 50 },
		{ "fe80::1", "2001:db8::2", 17, 1234, 9000, 100, 0xffff },
		{ "2001:db8::1", "2001:db8::2", 132, 0, 0, 0xffff, 0 },
		{ "2001:db8::1", "2001:db8::2", 17, 1234, 9000, 0, 0, 7 },	/* L4 unknown */
		{ "2001:db8:8000::1", "2001:db8::2", 6, 1, 22, 0, 0, 7 },
		{ "2001:db8::1", "2001:db8::3", 6, 1, 22, 100, 0xffff, 7 },
	};
	unsigned int nmatch = 0, nkey = 0;

	for (size_t ri = 0; ri < sizeof(matches) / sizeof(matches[0]); ri++) {
		struct rule_entry ent[2];
		unsigned int nents = 2;
		struct xsnap_bank b;
		struct rule r;
		bool standin;

		REQUIRE(rule_of(matches[ri], &r));
		REQUIRE(rule_compile(&r, 1, 1, &b, ent, &nents, NULL, NULL, 0) == 0);
		/* a drop rule with L4 terms also has a stand-in for frames
		 * whose L4 is unknown, in an L4_ANY group after the shape */
		standin = r.action == XSNAP_ACT_DROP &&
			  (r.fields & (XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT));
		REQUIRE(b.ngroups == 1 && b.nl4any == (uint32_t)standin && nents == 1u + standin);
		if (standin)
			CHECK(b.groups[1].fields & XSNAP_F_L4_ANY);

		for (size_t fi = 0; fi < sizeof(frames) / sizeof(frames[0]); fi++) {
			struct xsnap_rule_key k;
			struct xsnap_pkt p;
			int ref, ours;

			REQUIRE((ref = ref_verdict(&r, &frames[fi], NULL, &p)) >= 0);
			/* the program's loop: the shapes, then for a frame
			 * whose L4 is unknown the L4_ANY groups */
			ours = 0;
			for (unsigned int gi = 0; gi < b.ngroups + (p.l4_unknown ? b.nl4any : 0);
			     gi++)
				if (xsnap_make_key(&p, &b.groups[gi], 1, (__u8)gi, &k))
					for (unsigned int e = 0; e < nents; e++)
						ours |= !memcmp(&k, &ent[e].key, sizeof(k));
			check_key_agrees(matches[ri], fi, ref, ours);
			nmatch += ref;
			nkey += ours;
		}
	}
	/* Not vacuous: many rule/frame pairs match, many do not. */
	CHECK(nmatch > 20);
	CHECK(nmatch < 200);
}

/*
 * Port ranges: the caller (the XDP program) puts the ports' classes into
 * the parsed frame; the key xsnap_make_key() then builds must be one of the
 * range rule's keys exactly when the reference says the rule matches.
 */
TEST(range_keys_agree_with_rule_compiler)
{
	static const char *const matches[] = {
		"udp dst port 9000-9010",
		"udp src port 1-1233 and dst port 9000",
		"udp src port 1234-1234",
		"tcp src port 40000-65535 and dst port 1-80",
		"udp dst port 8999-9000 and ip dst 10.2.0.0/16",
	};
	static const struct fspec frames[] = {
		{ "10.0.0.1", "10.2.0.1", 17, 1234, 9000, 0, 0 },
		{ "10.0.0.1", "10.2.0.1", 17, 1233, 9000, 0, 0 },
		{ "10.0.0.1", "10.2.0.1", 17, 1, 9010, 0, 0 },
		{ "10.0.0.1", "10.2.0.1", 17, 1, 9011, 0, 0 },
		{ "10.0.0.1", "10.3.0.1", 17, 1, 8999, 0, 0 },
		{ "10.0.0.1", "10.3.0.1", 6, 50000, 80, 0, 0 },
		{ "10.0.0.1", "10.3.0.1", 6, 39999, 80, 0, 0 },
		{ "10.0.0.1", "10.3.0.1", 6, 65535, 81, 0, 0 },
		{ "10.0.0.1", "10.2.0.1", 17, 1234, 9005, 0, 100 },	/* later fragment */
		{ "2001:db8::1", "2001:db8::2", 17, 1234, 9005, 0, 0 },
		{ "2001:db8::1", "2001:db8::2", 6, 40000, 1, 0, 0 },
	};
	static struct rule_ports ports;
	unsigned int nmatch = 0, nmiss = 0;

	for (size_t ri = 0; ri < sizeof(matches) / sizeof(matches[0]); ri++) {
		struct rule_entry ents[64];
		unsigned int nents = 64;
		struct xsnap_bank b;
		struct rule r;
		char err[128];

		REQUIRE(rule_of(matches[ri], &r));
		REQUIRE(rule_compile(&r, 1, 0, &b, ents, &nents, &ports, err, sizeof(err)) == 0);
		REQUIRE(b.ngroups == 1);
		for (size_t fi = 0; fi < sizeof(frames) / sizeof(frames[0]); fi++) {
			struct xsnap_rule_key k;
			struct xsnap_pkt p;
			int ref, ours = 0;

			REQUIRE((ref = ref_verdict(&r, &frames[fi], &ports, &p)) >= 0);
			if (xsnap_make_key(&p, &b.groups[0], 0, 0, &k))
				for (unsigned int i = 0; i < nents; i++)
					ours |= !memcmp(&k, &ents[i].key, sizeof(k));
			check_key_agrees(matches[ri], fi, ref, ours);
			nmatch += ref;
			nmiss += !ref;
		}
	}
	CHECK(nmatch >= 10);
	CHECK(nmiss >= 20);
}

/* --- the parser against an oracle written apart from it (tests/lib/oracle.h) */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure names a reproducible frame */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (uint32_t)((rnd_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* One in @n. */
static bool one_in(uint32_t n)
{
	return rnd() % n == 0;
}

static void put16(uint8_t *b, size_t at, unsigned int v)
{
	b[at] = (uint8_t)(v >> 8);
	b[at + 1] = (uint8_t)v;
}

/* A UDP or TCP header (or other bytes) of @len bytes at @at. */
static void gen_l4(uint8_t *b, size_t at, size_t len, unsigned int proto)
{
	for (size_t i = 0; i < len; i++)
		b[at + i] = (uint8_t)rnd();
	if (proto == 17 && len >= 8)
		put16(b, at + 4, one_in(4) ? rnd() % 80 : (unsigned int)len);
	if (proto == 6 && len >= 13)
		b[at + 12] = (uint8_t)((one_in(4) ? rnd() % 16 : 5 + rnd() % 3) << 4);
}

static unsigned int gen_proto(void)
{
	static const unsigned int p[] = { 17, 17, 6, 6, 1, 58, 47 };

	return one_in(8) ? rnd() % 256 : p[rnd() % (sizeof(p) / sizeof(p[0]))];
}

/* A frame of some shape into @b; its length. */
static size_t gen_frame(uint8_t *b, size_t cap)
{
	static const unsigned int ext[] = { 0, 43, 44, 60 };
	size_t at = 12, l4_len = rnd() % 40;
	unsigned int type, ntags = one_in(3) ? rnd() % 4 : 0;

	for (size_t i = 0; i < 12; i++)
		b[i] = (uint8_t)rnd();
	for (unsigned int t = 0; t < ntags; t++, at += 4) {
		put16(b, at, one_in(2) ? 0x8100 : 0x88a8);
		put16(b, at + 2, rnd());
	}
	type = one_in(10) ? rnd() % 0x10000 : one_in(2) ? 0x0800 : 0x86dd;
	put16(b, at, type);
	at += 2;
	if (type == 0x0800) {
		size_t ihl = one_in(8) ? rnd() % 16 : 5 + (one_in(4) ? rnd() % 4 : 0);
		unsigned int proto = gen_proto();
		size_t hdr = ihl >= 5 ? ihl * 4 : 20;

		for (size_t i = 0; i < hdr; i++)
			b[at + i] = (uint8_t)rnd();
		b[at] = (uint8_t)((one_in(16) ? rnd() % 16 : 4) << 4 | ihl);
		b[at + 9] = (uint8_t)proto;
		put16(b, at + 6, one_in(2) ? 0 : one_in(2) ? 0x2000 : rnd() & 0x3fff);
		gen_l4(b, at + hdr, l4_len, proto);
		put16(b, at + 2, one_in(6) ? rnd() % 128 : (unsigned int)(hdr + l4_len));
		at += hdr + l4_len;
	} else if (type == 0x86dd) {
		size_t start = at, n = one_in(2) ? 0 : rnd() % 9;

		for (size_t i = 0; i < 40; i++)
			b[at + i] = (uint8_t)rnd();
		b[at] = (uint8_t)((one_in(16) ? rnd() % 16 : 6) << 4);
		at += 40;
		/* the chain: each header's next-header byte names the next one */
		size_t prev = start + 6;

		for (size_t i = 0; i < n && at + 24 < cap - 64; i++) {
			unsigned int kind = ext[rnd() % 4];
			size_t size = kind == 44 ? 8 : ((size_t)(one_in(3) ? rnd() % 3 : 0) + 1) * 8;

			b[prev] = (uint8_t)kind;
			for (size_t k = 0; k < size; k++)
				b[at + k] = (uint8_t)rnd();
			if (kind == 44)
				put16(b, at + 2, one_in(2) ? (one_in(2) ? 1 : 0) : rnd());
			else
				b[at + 1] = (uint8_t)(size / 8 - 1);
			prev = at;
			at += size;
		}
		b[prev] = (uint8_t)gen_proto();
		gen_l4(b, at, l4_len, b[prev]);
		at += l4_len;
		put16(b, start + 4, one_in(6) ? rnd() % 256 : (unsigned int)(at - start - 40));
	} else {
		for (size_t i = 0; i < l4_len; i++)
			b[at + i] = (uint8_t)rnd();
		at += l4_len;
	}
	/* Ethernet padding, a cut, a flipped byte */
	if (one_in(4))
		for (size_t i = rnd() % 20; i; i--)
			b[at++] = 0;
	if (one_in(5))
		at = rnd() % (at + 1);
	if (one_in(8) && at)
		b[rnd() % at] ^= (uint8_t)(1u << (rnd() % 8));
	return at;
}

/* Does @p say what the oracle says of the frame?  Prints the first field
 * that differs. */
static bool agrees(const struct oracle_pkt *o, int got, const struct xsnap_pkt *p, size_t idx)
{
	const char *what = NULL;

	if (got != o->verdict)
		what = "verdict";
	else if (got)
		return true;	/* on an error the parser's fields mean nothing */
	else if (p->l3_proto != o->l3_proto || p->proto != o->proto)
		what = "l3_proto/proto";
	else if (p->vlan != o->vlan || p->nvlan != o->nvlan)
		what = "vlan/nvlan";
	else if (p->l3_off != o->l3_off || p->l4_off != o->l4_off)
		what = "l3_off/l4_off";
	else if (memcmp(p->src, o->src, 16) || memcmp(p->dst, o->dst, 16))
		what = "addresses";
	else if (p->frag != o->frag || p->l4_bad != o->l4_bad || p->tiny_frag != o->tiny_frag ||
		 p->l4_unknown != o->l4_unknown)
		what = "frag/l4_bad/tiny_frag/l4_unknown";
	else if (p->ports != o->ports ||
		 (o->ports && (ntohs(p->sport) != o->sport || ntohs(p->dport) != o->dport)))
		what = "ports";
	if (what)
		fprintf(stderr, "frame %zu: %s: parser %d (proto %u l4_off %u frag %u bad %u tiny %u "
				"unknown %u ports %u), oracle %d (proto %u l4_off %u frag %d bad %d "
				"tiny %d unknown %d ports %d)\n",
			idx, what, got, p->proto, p->l4_off, p->frag, p->l4_bad, p->tiny_frag,
			p->l4_unknown, p->ports, o->verdict, o->proto, o->l4_off, o->frag,
			o->l4_bad, o->tiny_frag, o->l4_unknown, o->ports);
	return !what;
}

/*
 * A13/A1 with an independent oracle: frames of every shape the rules
 * distinguish (VLAN stacks, IPv4 header and length errors, fragments,
 * IPv6 extension chains and fragments, UDP/TCP header errors, padding,
 * cuts, flipped bits), generated at random, and for each the parser's
 * verdict and every field it fills must equal what tests/lib/oracle.h, a
 * second parser written from the documented rules, says.  Every verdict
 * and flag must occur, so the frames reach every rule.
 */
TEST(parser_agrees_with_an_independent_oracle)
{
	unsigned int runs = getenv("XSNAP_UNDER_VALGRIND") ? 200000 : 2000000, bad = 0, i;
	unsigned int seen[XSNAP_R_MAX + 1] = { 0 }, frag = 0, l4_bad = 0, tiny = 0, unknown = 0;
	uint8_t buf[512];

	for (i = 0; i < runs && bad < 5; i++) {
		size_t n = gen_frame(buf, sizeof(buf));
		struct oracle_pkt o;
		struct xsnap_pkt p;
		int got;

		oracle_parse(buf, n, &o);
		got = xsnap_parse(buf, buf + n, &p);
		if (!agrees(&o, got, &p, i))
			bad++;
		seen[got < 0 ? -got : 0]++;
		frag += !got && p.frag;
		l4_bad += !got && p.l4_bad;
		tiny += !got && p.tiny_frag;
		unknown += !got && p.l4_unknown;
	}
	CHECK_EQ(bad, 0);
	printf("%u frames: ok %u short_l2 %u non_ip %u vlan_deep %u bad_l3 %u ipv6_ext %u; "
	       "fragments %u l4_bad %u tiny_frag %u l4_unknown %u\n",
	       i, seen[0], seen[XSNAP_R_SHORT_L2], seen[XSNAP_R_NON_IP], seen[XSNAP_R_VLAN_DEEP],
	       seen[XSNAP_R_BAD_L3], seen[XSNAP_R_IPV6_EXT], frag, l4_bad, tiny, unknown);
	CHECK(seen[0] > 0 && seen[XSNAP_R_SHORT_L2] > 0 && seen[XSNAP_R_NON_IP] > 0);
	CHECK(seen[XSNAP_R_VLAN_DEEP] > 0 && seen[XSNAP_R_BAD_L3] > 0 && seen[XSNAP_R_IPV6_EXT] > 0);
	CHECK(frag > 0 && l4_bad > 0 && tiny > 0 && unknown > 0);
}

TEST_MAIN()
