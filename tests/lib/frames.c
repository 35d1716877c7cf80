// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Frame builders (see frames.h).  Plain byte writes at fixed offsets rather
 * than kernel header structs: the tests must be able to write values the
 * structs would make awkward (IHL 0, doff 3, a bogus TPID) and must not
 * depend on the code under test.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"

static void die(const char *what)
{
	fprintf(stderr, "frames: %s\n", what);
	abort();
}

static uint8_t *grow(struct frame *f, size_t n)
{
	uint8_t *p;

	if (f->len + n > sizeof(f->b))
		die("frame buffer overflow");
	p = f->b + f->len;
	memset(p, 0, n);
	f->len += n;
	return p;
}

void frame_put8(struct frame *f, size_t off, uint8_t v)
{
	if (off >= f->len)
		die("put8 beyond frame");
	f->b[off] = v;
}

void frame_put16(struct frame *f, size_t off, uint16_t v)
{
	if (off + 2 > f->len)
		die("put16 beyond frame");
	f->b[off] = v >> 8;
	f->b[off + 1] = v & 0xff;
}

static void set_type(struct frame *f, uint16_t type)
{
	if (!f->type_off)
		die("no open ethertype field");
	frame_put16(f, f->type_off, type);
	f->type_off = 0;
}

static void set_next(struct frame *f, uint8_t nh)
{
	if (!f->next_off)
		die("no open protocol/next-header field");
	frame_put8(f, f->next_off, nh);
	f->next_off = 0;
}

void frame_addr(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, out) != 1)
			die("bad IPv6 address");
	} else if (inet_pton(AF_INET, s, out) != 1) {
		die("bad IPv4 address");
	}
}

void frame_eth(struct frame *f)
{
	static const uint8_t dmac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
	static const uint8_t smac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	uint8_t *p;

	memset(f, 0, sizeof(*f));
	p = grow(f, 14);
	memcpy(p, dmac, 6);
	memcpy(p + 6, smac, 6);
	f->type_off = 12;
}

void frame_vlan(struct frame *f, uint16_t tpid, uint16_t vid)
{
	size_t off;

	set_type(f, tpid);
	off = f->len;
	grow(f, 4);
	frame_put16(f, off, vid & 0x0fff);	/* PCP 0, DEI 0 */
	f->type_off = off + 2;
}

void frame_ethertype(struct frame *f, uint16_t type, size_t n)
{
	set_type(f, type);
	frame_payload(f, n);
}

void frame_ipv4(struct frame *f, const char *src, const char *dst, size_t opt_len)
{
	uint8_t a[16], *p;
	size_t off;

	if (opt_len % 4 || opt_len > 40)
		die("bad IPv4 option length");
	set_type(f, 0x0800);
	off = f->len;
	p = grow(f, 20 + opt_len);
	p[0] = 0x40 | (uint8_t)(5 + opt_len / 4);
	p[8] = 64;				/* TTL */
	frame_addr(src, a);
	memcpy(p + 12, a, 4);
	frame_addr(dst, a);
	memcpy(p + 16, a, 4);
	memset(p + 20, 1, opt_len);		/* NOP options */
	f->l3 = 4;
	f->l3_off = off;
	f->next_off = off + 9;
}

void frame_ipv4_frag(struct frame *f, uint16_t frag_field)
{
	if (f->l3 != 4)
		die("not IPv4");
	frame_put16(f, f->l3_off + 6, frag_field);
}

void frame_ipv6(struct frame *f, const char *src, const char *dst)
{
	uint8_t *p;
	size_t off;

	set_type(f, 0x86dd);
	off = f->len;
	p = grow(f, 40);
	p[0] = 0x60;
	p[7] = 64;				/* hop limit */
	frame_addr(src, p + 8);
	frame_addr(dst, p + 24);
	f->l3 = 6;
	f->l3_off = off;
	f->next_off = off + 6;
}

void frame_ipv6_ext(struct frame *f, uint8_t nh, unsigned int len8)
{
	size_t off = f->len;
	uint8_t *p;

	if (f->l3 != 6)
		die("extension header outside IPv6");
	set_next(f, nh);
	if (nh == 44) {
		p = grow(f, 8);
		/* offset in 8-byte units in the top 13 bits, M flag in bit 0 */
		frame_put16(f, off + 2, (uint16_t)(len8 << 3 | 1));
		p[4] = 0x12;			/* identification */
		f->frag_off = off;
	} else {
		p = grow(f, (len8 + 1) * 8);
		p[1] = (uint8_t)len8;
		/* PadN option filling the rest, so the header is valid TLV */
		p[2] = 1;
		p[3] = (uint8_t)((len8 + 1) * 8 - 4);
	}
	f->next_off = off;
}

void frame_udp(struct frame *f, uint16_t sport, uint16_t dport)
{
	size_t off = f->len;

	set_next(f, 17);
	grow(f, 8);
	frame_put16(f, off, sport);
	frame_put16(f, off + 2, dport);
	f->l4_off = off;
	f->proto = 17;
}

void frame_tcp(struct frame *f, uint16_t sport, uint16_t dport, size_t opt_len)
{
	size_t off = f->len;
	uint8_t *p;

	if (opt_len % 4 || opt_len > 40)
		die("bad TCP option length");
	set_next(f, 6);
	p = grow(f, 20 + opt_len);
	frame_put16(f, off, sport);
	frame_put16(f, off + 2, dport);
	p[12] = (uint8_t)((5 + opt_len / 4) << 4);
	p[13] = 0x02;				/* SYN */
	frame_put16(f, off + 14, 65535);	/* window */
	memset(p + 20, 1, opt_len);		/* NOP options */
	f->l4_off = off;
	f->proto = 6;
}

void frame_icmp(struct frame *f)
{
	size_t off = f->len;
	uint8_t *p;

	f->proto = f->l3 == 6 ? 58 : 1;
	set_next(f, f->proto);
	p = grow(f, 8);
	p[0] = f->l3 == 6 ? 128 : 8;		/* echo request */
	f->l4_off = off;
}

void frame_l4raw(struct frame *f, uint8_t proto, size_t n)
{
	f->l4_off = f->len;
	f->proto = proto;
	set_next(f, proto);
	frame_payload(f, n);
}

void frame_payload(struct frame *f, size_t n)
{
	uint8_t *p = grow(f, n);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)i;
}

void frame_pad(struct frame *f, size_t n)
{
	grow(f, n);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void frame_finish(struct frame *f)
{
	size_t l3 = f->l3_off;

	if (f->l3 == 4) {
		size_t hlen = (f->b[l3] & 0x0f) * 4;

		frame_put16(f, l3 + 2, (uint16_t)(f->len - l3));
		frame_put16(f, l3 + 10, 0);
		frame_put16(f, l3 + 10, csum_fold(csum_add(0, f->b + l3, hlen)));
	} else if (f->l3 == 6) {
		frame_put16(f, l3 + 4, (uint16_t)(f->len - l3 - 40));
	}
	/* UDP length and checksum, over the pseudo-header and the rest of the
	 * frame (the parser does not verify it; xsnap_recvfrom does).  A
	 * fragment's covers what the frame holds, not the whole datagram. */
	/* (a cut header, a test's malformed frame, may lack these fields) */
	if (f->proto == 17 && f->l4_off && f->len >= f->l4_off + 6)
		frame_put16(f, f->l4_off + 4, (uint16_t)(f->len - f->l4_off));
	if (f->proto == 17 && f->l4_off && f->len >= f->l4_off + 8) {
		size_t ulen = f->len - f->l4_off;
		uint32_t sum = 17 + (uint32_t)ulen;
		uint16_t c;

		frame_put16(f, f->l4_off + 6, 0);
		if (f->l3 == 4)
			sum = csum_add(sum, f->b + l3 + 12, 8);
		else if (f->l3 == 6)
			sum = csum_add(sum, f->b + l3 + 8, 32);
		c = csum_fold(csum_add(sum, f->b + f->l4_off, ulen));
		frame_put16(f, f->l4_off + 6, c ? c : 0xffff);	/* 0 means "none" */
	}
	/* A header chain left open ends in "no next header" (59). */
	if (f->next_off)
		set_next(f, 59);
}

static void mask_bits(uint8_t *out, const char *addr, unsigned int plen, unsigned int bytes)
{
	uint8_t a[16];

	if (!addr)
		return;
	frame_addr(addr, a);
	for (unsigned int i = 0; i < bytes; i++) {
		int bits = (int)plen - 8 * (int)i;

		if (bits >= 8)
			out[i] = a[i];
		else if (bits > 0)
			out[i] = a[i] & (uint8_t)(0xff << (8 - bits));
	}
}

void frame_rule_key(struct xsnap_rule_key *k, uint8_t bank, uint8_t gi, const struct xsnap_group *g,
		    uint8_t proto, uint16_t sport, uint16_t dport, uint16_t vlan, const char *src,
		    const char *dst)
{
	unsigned int bytes = g->l3_proto == 4 ? 4 : 16;

	memset(k, 0, sizeof(*k));
	k->bank = bank;
	k->group = gi;
	if (g->fields & (XSNAP_F_L3 | XSNAP_F_SRC | XSNAP_F_DST))
		k->l3_proto = g->l3_proto;
	if (g->fields & XSNAP_F_PROTO)
		k->proto = proto;
	if (g->fields & XSNAP_F_SPORT)
		k->sport = htons(sport);
	if (g->fields & XSNAP_F_DPORT)
		k->dport = htons(dport);
	if (g->fields & XSNAP_F_VLAN)
		k->vlan = vlan;
	if (g->fields & XSNAP_F_SRC)
		mask_bits(k->src, src, g->src_plen, bytes);
	if (g->fields & XSNAP_F_DST)
		mask_bits(k->dst, dst, g->dst_plen, bytes);
}
