// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Template frame construction and per-frame patching.
 *
 * frame_build() lays out Ethernet [+ 802.1Q] + IPv4/IPv6 + UDP/TCP + an
 * xsnap payload (tools/common/payload.h), computes the IPv4 header checksum
 * and the partial L4 checksum csum_base, then stamps frame 0.  frame_stamp()
 * turns the template into frame k by rewriting the ports, the payload's seq
 * and check, the send time (--timestamp) and the L4 checksum;
 * bpf/xsnap_gen.bpf.c does the same arithmetic in the kernel for live mode.
 */
#include <string.h>
#include <arpa/inet.h>

#include "gen.h"
#include "payload.h"

#define ETH_HLEN_	14
#define VLAN_HLEN_	4
#define IPV4_HLEN	20
#define IPV6_HLEN	40
#define UDP_HLEN	8
#define TCP_HLEN	20

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

/* Ones' complement sum of big-endian 16-bit words; an odd tail byte is the
 * high byte of a last word padded with zero (RFC 1071).
 */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint32_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint32_t)sum;
}

/* Final checksum field value; UDP sends a computed 0 as 0xffff (RFC 768). */
uint16_t csum_finish(uint64_t sum, bool udp)
{
	uint16_t c = (uint16_t)~csum_fold(sum);

	return (udp && !c) ? 0xffff : c;
}

uint32_t frame_hdr_len(const struct gen_cfg *cfg)
{
	return ETH_HLEN_ + (cfg->vlan >= 0 ? VLAN_HLEN_ : 0) + (cfg->svlan >= 0 ? VLAN_HLEN_ : 0) +
	       (cfg->family == AF_INET6 ? IPV6_HLEN : IPV4_HLEN) +
	       (cfg->proto == IPPROTO_TCP ? TCP_HLEN : UDP_HLEN);
}

/* Smallest frame that holds every header, the payload header and, with
 * --timestamp, the send time.
 */
uint32_t frame_min_size(const struct gen_cfg *cfg)
{
	return frame_hdr_len(cfg) + PAYLOAD_HDR_LEN + (cfg->tstamp ? PAYLOAD_TSTAMP_LEN : 0);
}

void frame_vars(const struct gen_cfg *cfg, uint64_t k, uint16_t *sport, uint16_t *dport,
		uint64_t *seq)
{
	uint32_t ndports = (uint32_t)cfg->dport_hi - cfg->dport_lo + 1;

	*sport = (uint16_t)(cfg->sport + k % cfg->flows);
	*dport = (uint16_t)(cfg->dport_lo + (k / cfg->flows) % ndports);
	*seq = cfg->seq_start + k;
}

/* @ts: send time, written only when the frame has room for it (fr->ts_off). */
void frame_stamp(const struct gen_frame *fr, uint8_t *buf, uint16_t sport, uint16_t dport,
		 uint64_t seq, uint64_t ts)
{
	uint8_t *pl = buf + fr->pl_off;
	uint32_t check = payload_mix(payload_get32(pl + PAYLOAD_OFF_STREAM), seq, fr->pl_len);
	uint64_t sum = fr->csum_base;

	put16(buf + fr->l4_off, sport);
	put16(buf + fr->l4_off + 2, dport);
	payload_put64(pl + PAYLOAD_OFF_SEQ, seq);
	payload_put32(pl + PAYLOAD_OFF_CHECK, check);
	sum += sport + dport;
	sum += (seq >> 48) + (seq >> 32 & 0xffff) + (seq >> 16 & 0xffff) + (seq & 0xffff);
	sum += (check >> 16) + (check & 0xffff);
	if (fr->ts_off) {
		payload_put64(buf + fr->ts_off, ts);
		sum += (ts >> 48) + (ts >> 32 & 0xffff) + (ts >> 16 & 0xffff) + (ts & 0xffff);
	}
	put16(buf + fr->csum_off, csum_finish(sum, fr->udp));
}

static uint32_t build_l3(const struct gen_cfg *cfg, uint8_t *p, uint32_t l4_len, uint64_t *pseudo)
{
	uint8_t proto = (uint8_t)cfg->proto;
	uint8_t tmp[4];

	if (cfg->family == AF_INET) {
		p[0] = 0x45;
		p[1] = 0;
		put16(p + 2, (uint16_t)(IPV4_HLEN + l4_len));
		put16(p + 4, 0);	/* id: constant, DF set, never fragmented */
		put16(p + 6, 0x4000);
		p[8] = 64;
		p[9] = proto;
		put16(p + 10, 0);
		memcpy(p + 12, &cfg->src4, 4);
		memcpy(p + 16, &cfg->dst4, 4);
		put16(p + 10, (uint16_t)~csum_fold(csum_add(0, p, IPV4_HLEN)));
		*pseudo = csum_add(0, p + 12, 8);
		put16(tmp, proto);
		put16(tmp + 2, (uint16_t)l4_len);
		*pseudo = csum_add(*pseudo, tmp, 4);
		return IPV4_HLEN;
	}
	p[0] = 0x60;		/* version 6, traffic class 0, flow label 0 */
	p[1] = p[2] = p[3] = 0;
	put16(p + 4, (uint16_t)l4_len);
	p[6] = proto;
	p[7] = 64;
	memcpy(p + 8, &cfg->src6, 16);
	memcpy(p + 24, &cfg->dst6, 16);
	*pseudo = csum_add(0, p + 8, 32);
	/* 32-bit upper-layer length, then 3 zero bytes and the next header */
	*pseudo += (l4_len >> 16) + (l4_len & 0xffff) + proto;
	return IPV6_HLEN;
}

void frame_build(const struct gen_cfg *cfg, struct gen_frame *fr)
{
	uint32_t off = 0, l4_len;
	uint64_t pseudo;
	uint8_t *b = fr->buf;
	uint16_t sport, dport;
	uint64_t seq;

	memset(fr, 0, sizeof(*fr));
	fr->len = cfg->size;
	fr->udp = cfg->proto == IPPROTO_UDP;

	memcpy(b, cfg->dmac, 6);
	memcpy(b + 6, cfg->smac, 6);
	off = 12;
	if (cfg->svlan >= 0) {	/* the outer (service) tag of QinQ */
		put16(b + off, 0x88a8);
		put16(b + off + 2, (uint16_t)cfg->svlan);
		off += VLAN_HLEN_;
	}
	if (cfg->vlan >= 0) {
		put16(b + off, 0x8100);
		put16(b + off + 2, (uint16_t)cfg->vlan);	/* PCP 0, DEI 0 */
		off += VLAN_HLEN_;
	}
	put16(b + off, cfg->family == AF_INET ? 0x0800 : 0x86dd);
	off += 2;

	fr->l3_off = (uint16_t)off;
	l4_len = fr->len - off - (cfg->family == AF_INET ? IPV4_HLEN : IPV6_HLEN);
	off += build_l3(cfg, b + off, l4_len, &pseudo);

	/* L4 header with ports and checksum left zero (they are stamped). */
	fr->l4_off = (uint16_t)off;
	if (fr->udp) {
		put16(b + off + 4, (uint16_t)l4_len);
		fr->csum_off = (uint16_t)(off + 6);
		off += UDP_HLEN;
	} else {
		payload_put32(b + off + 4, 1);	/* seq: a bare data segment, no SYN */
		payload_put32(b + off + 8, 0);	/* ack */
		b[off + 12] = (TCP_HLEN / 4) << 4;
		b[off + 13] = 0x18;		/* PSH | ACK */
		put16(b + off + 14, 65535);	/* window */
		fr->csum_off = (uint16_t)(off + 16);
		off += TCP_HLEN;
	}

	fr->pl_off = (uint16_t)off;
	fr->pl_len = fr->len - off;
	payload_fill(b + off, fr->pl_len, cfg->stream, 0);
	/* Zero the stamped payload fields, then sum the constant part. */
	payload_put64(b + off + PAYLOAD_OFF_SEQ, 0);
	payload_put32(b + off + PAYLOAD_OFF_CHECK, 0);
	if (cfg->tstamp) {
		/* even offset from the L4 header (8 or 20 + 24): whole checksum words */
		fr->ts_off = (uint16_t)(off + PAYLOAD_OFF_TSTAMP);
		payload_put64(b + fr->ts_off, 0);
	}
	fr->csum_base = csum_fold(csum_add(pseudo, b + fr->l4_off, l4_len));

	frame_vars(cfg, 0, &sport, &dport, &seq);
	frame_stamp(fr, b, sport, dport, seq, 0);
}
