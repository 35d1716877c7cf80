/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * oracle.h - an expectation for xsnap_parse(), written apart from it.
 *
 * The tests that feed the parser corrupted and random frames need to know
 * what it should make of each one.  Taking that from xsnap_parse() itself
 * would only prove that two builds of one parser agree, so this is a second
 * parser, written from the rules in docs/design.md and include/xsnap/abi.h
 * rather than from bpf/xsnap_parse.h: a frame is an array of bytes read by
 * index, every header field is taken by its wire offset, and every length
 * is an integer compared with integers.  It shares no code with the parser
 * and is not fast.
 *
 * The rules, in the order a frame meets them:
 *  - fewer than 14 bytes: short L2.  After the Ethernet header come up to
 *    XSNAP_MAX_VLAN_DEPTH tags (TPID 0x8100 or 0x88a8, 4 bytes each); a tag
 *    cut by the end of the frame is short L2 too; one more tag than that is
 *    "VLAN too deep".  vlan is the outermost tag's 12-bit id.  The type
 *    after the tags must be IPv4 or IPv6, else "not IP".
 *  - IPv4: 20 bytes, version 4, IHL >= 5, the header and tot_len
 *    (>= the header) within the frame; else bad L3.  Offset != 0: a later
 *    fragment, no L4.  Else L4 at IHL*4 with tot_len - IHL*4 bytes, a
 *    first fragment when MF is set.
 *  - IPv6: 40 bytes, version 6, payload_len within the frame; else bad L3.
 *    Up to XSNAP_MAX_IPV6_EXT extension headers of the kinds Hop-by-Hop
 *    (0), Routing (43), Fragment (44) and Destination Options (60) are
 *    skipped, each at least 8 bytes ((len + 1) * 8; a Fragment header is 8)
 *    within the payload.  A Fragment header with an offset makes a later
 *    fragment (protocol: its next header, no L4); with M and offset 0 the
 *    datagram is a first fragment.  An extension header cut by the end of
 *    the payload is a malformed chain, unless it comes after the Fragment
 *    header of a first fragment: then the rest of the chain is in the next
 *    fragment, and protocol and ports are unknown (l4_unknown), as they are
 *    for a chain longer than XSNAP_MAX_IPV6_EXT.  Any other next header ends
 *    the chain: it is the protocol, and L4 starts there.
 *  - L4, only for UDP (17) and TCP (6): fewer than 4 bytes, or a header
 *    that cannot be read, means no ports (l4_bad).  UDP needs 8 bytes and a
 *    length field of at least 8 that fits in what the IP header gives it;
 *    TCP needs 20 bytes, a data offset of at least 5 and its options in
 *    the bytes given.  A first fragment is allowed a header that goes on in
 *    the next fragment (tiny_frag, ports from its first 4 bytes) and a UDP
 *    length beyond what it carries.  Ports are the first two 16-bit words.
 *    l4_off is where L4 starts, 0 for a later fragment, an unknown L4 or a
 *    header without ports.
 */
#ifndef XSNAP_TEST_ORACLE_H
#define XSNAP_TEST_ORACLE_H

#include <stdint.h>
#include <string.h>

#include <xsnap/abi.h>

/* What a frame holds, by the rules above (the fields of struct xsnap_pkt,
 * ports in host order). */
struct oracle_pkt {
	int verdict;		/* 0, or -XSNAP_R_SHORT_L2, _VLAN_DEEP, _NON_IP, _BAD_L3, _IPV6_EXT */
	unsigned int l3_proto, proto, vlan, nvlan, l3_off, l4_off;
	uint8_t src[16], dst[16];
	int frag, ports, l4_bad, tiny_frag, l4_unknown;
	unsigned int sport, dport;
};

static inline unsigned int oracle_u16(const uint8_t *f, size_t at)
{
	return (unsigned int)f[at] << 8 | f[at + 1];
}

/* UDP or TCP at byte @at with @len bytes given by the IP header. */
static inline void oracle_l4(const uint8_t *f, size_t at, size_t len, int first_frag,
			     struct oracle_pkt *o)
{
	size_t need;

	o->l4_off = (unsigned int)at;
	if (o->proto != 6 && o->proto != 17)
		return;	/* the protocol is all there is to match */
	if (len < 4)
		goto no_ports;
	need = o->proto == 17 ? 8 : 20;
	if (len < need) {
		if (!first_frag)
			goto no_ports;
		o->tiny_frag = 1;
	} else if (o->proto == 17) {
		size_t ulen = oracle_u16(f, at + 4);

		if (ulen < 8 || (ulen > len && !first_frag))
			goto no_ports;
	} else {
		size_t hdr = (size_t)(f[at + 12] >> 4) * 4;

		if (hdr < 20)
			goto no_ports;
		if (hdr > len) {
			if (!first_frag)
				goto no_ports;
			o->tiny_frag = 1;
		}
	}
	o->ports = 1;
	o->sport = oracle_u16(f, at);
	o->dport = oracle_u16(f, at + 2);
	return;
no_ports:
	o->l4_bad = 1;
	o->l4_off = 0;
}

static inline void oracle_ipv4(const uint8_t *f, size_t n, size_t l3, struct oracle_pkt *o)
{
	size_t ihl, tot;
	unsigned int fo;

	if (n - l3 < 20 || f[l3] >> 4 != 4 || (f[l3] & 15) < 5) {
		o->verdict = -XSNAP_R_BAD_L3;
		return;
	}
	ihl = (size_t)(f[l3] & 15) * 4;
	tot = oracle_u16(f, l3 + 2);
	if (ihl > n - l3 || tot < ihl || tot > n - l3) {
		o->verdict = -XSNAP_R_BAD_L3;
		return;
	}
	o->l3_proto = 4;
	o->proto = f[l3 + 9];
	memcpy(o->src, f + l3 + 12, 4);
	memcpy(o->dst, f + l3 + 16, 4);
	fo = oracle_u16(f, l3 + 6);
	if (fo & 0x1fff) {
		o->frag = 1;
		return;
	}
	oracle_l4(f, l3 + ihl, tot - ihl, (fo & 0x2000) != 0, o);
}

static inline void oracle_ipv6(const uint8_t *f, size_t n, size_t l3, struct oracle_pkt *o)
{
	size_t at = l3 + 40, left;
	unsigned int next;
	int first_frag = 0;

	if (n - l3 < 40 || f[l3] >> 4 != 6 || oracle_u16(f, l3 + 4) > n - at) {
		o->verdict = -XSNAP_R_BAD_L3;
		return;
	}
	left = oracle_u16(f, l3 + 4);
	o->l3_proto = 6;
	memcpy(o->src, f + l3 + 8, 16);
	memcpy(o->dst, f + l3 + 24, 16);
	next = f[l3 + 6];
	for (int seen = 0; next == 0 || next == 43 || next == 44 || next == 60; seen++) {
		size_t size;

		if (seen == XSNAP_MAX_IPV6_EXT)
			goto unknown;
		if (left < 8)
			goto cut;
		if (next == 44) {
			unsigned int fo = oracle_u16(f, at + 2);

			if (fo >> 3) {	/* a fragment offset: a later fragment */
				o->proto = f[at];
				o->frag = 1;
				return;
			}
			first_frag = (fo & 1) != 0;
			size = 8;
		} else {
			size = ((size_t)f[at + 1] + 1) * 8;
		}
		if (size > left)
			goto cut;
		next = f[at];
		at += size;
		left -= size;
	}
	o->proto = next;
	oracle_l4(f, at, left, first_frag, o);
	return;
cut:
	if (!first_frag) {
		o->verdict = -XSNAP_R_IPV6_EXT;
		return;
	}
unknown:
	o->l4_unknown = 1;
	o->proto = 0;
}

/* oracle_parse() - what the parser should make of frame @f (@n bytes). */
static inline int oracle_parse(const uint8_t *f, size_t n, struct oracle_pkt *o)
{
	size_t l3 = 14;
	unsigned int type;

	memset(o, 0, sizeof(*o));
	if (n < 14)
		return o->verdict = -XSNAP_R_SHORT_L2;
	type = oracle_u16(f, 12);
	while (type == 0x8100 || type == 0x88a8) {
		if (o->nvlan == XSNAP_MAX_VLAN_DEPTH)
			return o->verdict = -XSNAP_R_VLAN_DEEP;
		if (n - l3 < 4)
			return o->verdict = -XSNAP_R_SHORT_L2;
		if (!o->nvlan)
			o->vlan = oracle_u16(f, l3) & 0x0fff;
		o->nvlan++;
		type = oracle_u16(f, l3 + 2);
		l3 += 4;
	}
	o->l3_off = (unsigned int)l3;
	if (type == 0x0800)
		oracle_ipv4(f, n, l3, o);
	else if (type == 0x86dd)
		oracle_ipv6(f, n, l3, o);
	else
		o->verdict = -XSNAP_R_NON_IP;
	return o->verdict;
}

#endif
