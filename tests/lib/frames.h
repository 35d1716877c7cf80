/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Frame builders for the parser and XDP tests.
 *
 * A frame is built layer by layer, outermost first; each layer fills the
 * type/next-header field the previous one left open, so any stack can be
 * composed:
 *
 *	struct frame f;
 *	frame_eth(&f);
 *	frame_vlan(&f, 0x88a8, 100);
 *	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
 *	frame_ipv6_ext(&f, 0, 0);	// hop-by-hop, 8 bytes
 *	frame_udp(&f, 1234, 9000);
 *	frame_payload(&f, 32);
 *	frame_finish(&f);		// lengths and checksums
 *
 * frame_finish() makes the frame well formed; tests corrupt it afterwards
 * through the recorded offsets (l3_off, l4_off, ...) and frame_put8/16.
 * Builders abort on misuse (buffer overflow, bad address string): that is
 * a bug in the test, not a test failure.
 */
#ifndef XSNAP_TEST_FRAMES_H
#define XSNAP_TEST_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <xsnap/abi.h>

#define FRAME_MAX 1024

struct frame {
	uint8_t b[FRAME_MAX];
	size_t len;
	size_t type_off;	/* ethertype field the next L2/L3 layer fills */
	size_t next_off;	/* IPv4 protocol / IPv6 next-header byte to fill */
	size_t l3_off;		/* IPv4/IPv6 header, 0 if none */
	size_t l4_off;		/* L4 header, 0 if none */
	size_t frag_off;	/* IPv6 fragment header, 0 if none */
	int l3;			/* 4, 6 or 0 */
	uint8_t proto;		/* last L4 protocol written */
};

/* Ethernet header (fixed MACs); the ethertype is filled by the next layer. */
void frame_eth(struct frame *f);
/* A VLAN tag with TPID @tpid (0x8100 or 0x88a8) and id @vid. */
void frame_vlan(struct frame *f, uint16_t tpid, uint16_t vid);
/* Close L2 with a raw ethertype (or 802.3 length) and @n payload bytes. */
void frame_ethertype(struct frame *f, uint16_t type, size_t n);
/* IPv4 header with @opt_len (multiple of 4, <= 40) bytes of NOP options. */
void frame_ipv4(struct frame *f, const char *src, const char *dst, size_t opt_len);
/* Set the IPv4 flags/fragment-offset field (host order: IP_MF | offset/8). */
void frame_ipv4_frag(struct frame *f, uint16_t frag_field);
void frame_ipv6(struct frame *f, const char *src, const char *dst);
/*
 * IPv6 extension header of type @nh: hop-by-hop (0), routing (43) and
 * destination options (60) get (@len8 + 1) * 8 bytes; fragment (44) is
 * always 8 bytes, with offset @len8 (in 8-byte units) and the M flag set.
 */
void frame_ipv6_ext(struct frame *f, uint8_t nh, unsigned int len8);
void frame_udp(struct frame *f, uint16_t sport, uint16_t dport);
/* TCP header with @opt_len (multiple of 4, <= 40) bytes of NOP options. */
void frame_tcp(struct frame *f, uint16_t sport, uint16_t dport, size_t opt_len);
/* ICMP echo request (IPv4) or ICMPv6 echo request (IPv6). */
void frame_icmp(struct frame *f);
/* A terminal header of protocol @proto: @n opaque bytes. */
void frame_l4raw(struct frame *f, uint8_t proto, size_t n);
/* @n payload bytes (a counting pattern). */
void frame_payload(struct frame *f, size_t n);
/* Fill IP/UDP lengths and the IPv4 and UDP checksums from the current length. */
void frame_finish(struct frame *f);
/* Append @n zero bytes not covered by the IP length (Ethernet padding). */
void frame_pad(struct frame *f, size_t n);

/* Overwrite bytes at @off (network order for the 16-bit form). */
void frame_put8(struct frame *f, size_t off, uint8_t v);
void frame_put16(struct frame *f, size_t off, uint16_t v);
/* Parse an IPv4 or IPv6 address string into 16 bytes (IPv4: first 4, rest 0). */
void frame_addr(const char *s, uint8_t out[16]);

/*
 * frame_rule_key() - the key the rule compiler writes for a rule of group @g
 * (index @gi of bank @bank), built independently of the parser's
 * xsnap_make_key() so the two can be checked against each other: a zeroed
 * key, bank, group, l3_proto for L3/SRC/DST, @proto for PROTO, ports in
 * network order, @vlan in host order, @src/@dst (address strings, NULL for
 * none) masked bit by bit to the group's prefix lengths.
 */
void frame_rule_key(struct xsnap_rule_key *k, uint8_t bank, uint8_t gi, const struct xsnap_group *g,
		    uint8_t proto, uint16_t sport, uint16_t dport, uint16_t vlan, const char *src,
		    const char *dst);

#endif
