/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Frame parser and rule-key builder shared by the XDP program and userspace.
 *
 * The same code runs in bpf/xsnap_steer.bpf.c (clang --target=bpf) and in
 * userspace (the reference classifier and the unit tests, gcc -std=gnu11), so
 * a frame is classified identically on both sides.  It therefore uses only
 * UAPI headers and <xsnap/abi.h>, no libc (BPF has none), and every
 * function is static __always_inline: the includer decides where the
 * function boundaries go (the XDP program wraps xsnap_parse() in one global
 * function so the verifier checks it once).
 *
 * Parsing is cursor style: a pointer walks the frame and every header is
 * checked against data_end before it is read, in the shape the verifier can
 * follow (pointer + constant compared with data_end, then reads through that
 * same pointer).  Lengths that the headers claim (IPv4 tot_len, IPv6
 * payload_len, UDP len, TCP doff) are also checked against the end of the IP
 * payload, so Ethernet padding is never taken for L4 bytes.  Packet pointers
 * are only ever compared with data_end: comparing two packet pointers needs
 * CAP_PERFMON in the verifier, so lengths within the packet are scalars.
 *
 * Errors are returned as -XSNAP_R_* reasons; the caller turns them into a
 * verdict and a counter.  Such frames never match a rule: frames the
 * kernel stack drops too (cut or malformed L2/L3 headers, VLAN stacks
 * deeper than we parse) or that no rule can describe (not IP).  Frames the
 * kernel may accept are classified on what could be read, and flagged for
 * the caller's counters (docs/design.md, "Fail closed where a rule could
 * match"):
 *
 *   - a first fragment (IPv4 MF, IPv6 Fragment header with M, offset 0)
 *     whose UDP/TCP header goes on in the next fragment (RFC 1858 tiny
 *     fragment, tiny_frag): the ports are its first 4 bytes, so it is
 *     classified by them like a whole datagram;
 *   - a UDP/TCP header that cannot be read (cut, bad length or data
 *     offset; a first fragment of fewer than 4 L4 bytes), l4_bad: no
 *     ports, so rules with port terms do not match, the others do;
 *   - an IPv6 chain longer than XSNAP_MAX_IPV6_EXT headers, or one that a
 *     first fragment cuts after its Fragment header (the rest of the chain
 *     is in the next fragment, e.g. a Destination Options header after the
 *     Fragment header), l4_unknown: protocol and ports unknown, so rules
 *     with protocol or port terms do not match, except drop rules, which
 *     apply when their other terms match (xsnap_make_key(), XSNAP_F_L4_ANY).
 */
#ifndef XSNAP_PARSE_H
#define XSNAP_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <xsnap/abi.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#if defined(__bpf__)
#include <bpf/bpf_endian.h>
/*
 * Older verifiers (Linux 6.1 among them; the 6.18 one does not) forget
 * every bound of a register that a byte swap (BPF_END) wrote: on 6.1 `iph + ntohs(tot_len)` is "math between
 * pkt pointer and register with unbounded min value".  So a swap of a
 * run-time value ends in `& 0xffff`, which gives the bound back; the empty
 * asm keeps clang from dropping the mask it knows to be redundant.  One
 * instruction more per swap; constants still fold.
 */
static __always_inline __u32 xsnap_bpf_ntohs(__u16 x)
{
	__u32 v = bpf_ntohs(x);

	asm volatile("" : "+r"(v));
	return v & 0xffff;
}
#define xsnap_ntohs(x) (__builtin_constant_p(x) ? bpf_ntohs(x) : xsnap_bpf_ntohs(x))
#define xsnap_htonl(x) bpf_htonl(x)
#else
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define xsnap_ntohs(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define xsnap_htonl(x) ((__u32)__builtin_bswap32((__u32)(x)))
#else
#define xsnap_ntohs(x) ((__u16)(x))
#define xsnap_htonl(x) ((__u32)(x))
#endif
#endif

/* The BPF build wants small fixed loops unrolled; gcc warns about clang's
 * pragma (and unrolls on its own at -O2). */
#if defined(__clang__)
#define XSNAP_UNROLL _Pragma("unroll")
#else
#define XSNAP_UNROLL
#endif

/*
 * Header field reads.  In BPF a plain member load: the kernel lays packets
 * out so the loads are fine, and clang then emits one load per field.  In
 * userspace a frame sits in a UMEM chunk with the IP header at 2 mod 4, so a
 * member access through a struct iphdr pointer is misaligned (undefined
 * behaviour, and fatal under UBSan): copy the bytes instead.  XSNAP_RD8/16
 * read 8/16-bit fields (every multi-byte field the parser reads is 16-bit);
 * bit-fields (IP version/IHL, TCP doff) are read as whole bytes with
 * XSNAP_RD_U8 at their wire offset, independent of host bit-field order.
 */
#if defined(__bpf__)
#define XSNAP_RD8(ptr, field) ((ptr)->field)
#define XSNAP_RD16(ptr, field) ((ptr)->field)
#define XSNAP_RD_ADDR(dst, ptr, field) __builtin_memcpy(dst, &(ptr)->field, sizeof((ptr)->field))
#else
#define XSNAP_FIELD_AT(ptr, field) \
	((const __u8 *)(ptr) + __builtin_offsetof(__typeof__(*(ptr)), field))
#define XSNAP_RD8(ptr, field) (*XSNAP_FIELD_AT(ptr, field))
#define XSNAP_RD16(ptr, field) xsnap_rd16(XSNAP_FIELD_AT(ptr, field))
#define XSNAP_RD_ADDR(dst, ptr, field) \
	__builtin_memcpy(dst, XSNAP_FIELD_AT(ptr, field), sizeof((ptr)->field))

static inline __u16 xsnap_rd16(const __u8 *b)
{
	__u16 v;

	__builtin_memcpy(&v, b, sizeof(v));
	return v;
}
#endif
#define XSNAP_RD_U8(ptr, off) (*((const __u8 *)(ptr) + (off)))

/* Not every one of these is in the UAPI headers (struct vlan_hdr and
 * struct frag_hdr are kernel-internal), so the parser spells them out. */
#define XSNAP_ETH_P_8021Q	0x8100
#define XSNAP_ETH_P_8021AD	0x88a8
#define XSNAP_ETH_P_IP		0x0800
#define XSNAP_ETH_P_IPV6	0x86dd

#define XSNAP_NH_HOPOPTS	0
#define XSNAP_NH_ROUTING	43
#define XSNAP_NH_FRAGMENT	44
#define XSNAP_NH_ICMPV6		58
#define XSNAP_NH_DSTOPTS	60

#define XSNAP_IP_MF		0x2000
#define XSNAP_IP_OFFMASK	0x1fff
#define XSNAP_IP6_OFFMASK	0xfff8	/* fragment offset bits of frag_off */
#define XSNAP_IP6_MF		0x0001

struct xsnap_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct xsnap_ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset in 8-byte units << 3 | M flag */
	__be32 ident;
};

/*
 * What the parser found.  Not part of the ABI (it never crosses the
 * kernel/user boundary as bytes), but both sides fill it with the same code.
 */
struct xsnap_pkt {
	__u8 l3_proto;		/* 4 or 6 */
	__u8 proto;		/* IPPROTO_* of the terminal header (also for fragments) */
	__u16 vlan;		/* outermost VLAN id, host order; 0 if untagged */
	__be16 sport;		/* valid when ports is 1 */
	__be16 dport;
	__u16 l3_off;		/* offset of the IPv4/IPv6 header */
	__u16 l4_off;		/* offset of the terminal header, 0 for a fragment */
	__u8 src[16];		/* IPv4: first 4 bytes, rest zero */
	__u8 dst[16];
	__u8 frag;		/* 1: non-first fragment: no L4 */
	__u8 ports;		/* 1: sport/dport hold the first 4 bytes of a UDP or TCP
				 * header (all of it, or a first fragment's part) */
	__u8 nvlan;		/* VLAN tags parsed (0..XSNAP_MAX_VLAN_DEPTH) */
	__u8 l4_bad;		/* 1: a UDP/TCP header that cannot be read: no ports,
				 * l4_off 0 (XSNAP_R_BAD_L4) */
	__u8 tiny_frag;		/* 1: a first fragment whose UDP/TCP header goes on in
				 * the next fragment; ports set (XSNAP_R_TINY_FRAG) */
	__u8 l4_unknown;	/* 1: the IPv6 chain was not followed to its end:
				 * proto 0, no ports, l4_off 0 (XSNAP_R_L4_UNKNOWN) */
	__u8 pad[2];
	__u32 flow_hash;	/* xsnap_flow_hash(); 0 if not IP, and always 0 in BPF */
	/* Not filled by the parser: the caller looks the ports up in the
	 * bank's port class table (xsnap_ports) before building keys of
	 * groups with XSNAP_F_SPORT_CLASS / XSNAP_F_DPORT_CLASS. */
	__u16 sclass;		/* class of sport (host order) */
	__u16 dclass;		/* class of dport */
};

static __always_inline int xsnap_is_vlan(__be16 type)
{
	return type == xsnap_ntohs(XSNAP_ETH_P_8021Q) || type == xsnap_ntohs(XSNAP_ETH_P_8021AD);
}

/* Extension headers we skip; anything else ends the IPv6 chain. */
static __always_inline int xsnap_is_ip6_ext(__u8 nh)
{
	return nh == XSNAP_NH_HOPOPTS || nh == XSNAP_NH_ROUTING || nh == XSNAP_NH_DSTOPTS ||
	       nh == XSNAP_NH_FRAGMENT;
}

static __always_inline __u32 xsnap_load32(const __u8 *b)
{
	__u32 w;

	__builtin_memcpy(&w, b, sizeof(w));
	return w;
}

static __always_inline __u32 xsnap_rotl32(__u32 x, unsigned int r)
{
	return (x << r) | (x >> (32 - r));
}

/*
 * Hash of one endpoint: an address (as four raw words) and a port.  The
 * words are folded with xors and rotations (no bit is lost), then
 * one multiply and xor-shift make the result non-linear, so that the sum
 * in xsnap_flow_hash() cannot cancel an address bit against a port bit.
 * The full mix is left to the combined value: the hash runs per frame in
 * the engine for tenants that split by flow, a chain of two multiplies per
 * endpoint plus one mix rather than ten mixes.
 */
static __always_inline __u32 xsnap_endpoint_hash(const __u8 *addr, __be16 port)
{
	__u32 h = xsnap_load32(addr) ^ xsnap_rotl32(xsnap_load32(addr + 4), 7) ^
		  xsnap_rotl32(xsnap_load32(addr + 8), 13) ^
		  xsnap_rotl32(xsnap_load32(addr + 12), 21) ^ ((__u32)port * 0x9e3779b1U);

	h *= 0x85ebca6bU;
	return h ^ (h >> 15);
}

/*
 * xsnap_flow_hash() - symmetric hash of the 5-tuple.  Each endpoint
 * (address, port) is hashed on its own and the two are combined with a sum,
 * which does not depend on their order, so A:x -> B:y and B:y -> A:x hash
 * alike while A:x -> B:y and A:y -> B:x do not.  Raw (network order) words
 * are hashed: the value is the same for the kernel and userspace of one
 * host, which is all share mode needs.
 */
static __always_inline __u32 xsnap_flow_hash(const struct xsnap_pkt *p)
{
	__u32 a = xsnap_endpoint_hash(p->src, p->sport);
	__u32 b = xsnap_endpoint_hash(p->dst, p->dport);

	return xsnap_mix32((a + b) ^ ((__u32)p->proto << 8 | p->l3_proto));
}

/*
 * L4 of a non-fragment or first fragment.  @l4 is the terminal header, @rem
 * the number of IP payload bytes from @l4 on, as the IP header claims them
 * (already checked to lie within the frame).  Both limits are checked:
 * data_end because the verifier needs it, @rem because bytes past it are
 * Ethernet padding.  @more: a first fragment (more fragments follow), whose
 * UDP length covers the whole datagram and so may exceed @rem, and whose
 * UDP/TCP header may itself go on in the next fragment: then its first 4
 * bytes, the ports, are all it needs (tiny_frag).  A header that cannot be
 * read leaves the frame without ports (l4_bad); it is still classified by
 * the rules that need none.
 */
static __always_inline int xsnap_parse_l4(const __u8 *l4, __u32 rem, int more,
					  const void *data_end, struct xsnap_pkt *p)
{
	const struct udphdr *uh = (const void *)l4;	/* ports at the same place in TCP */

	if (p->proto != IPPROTO_UDP && p->proto != IPPROTO_TCP)
		return 0;	/* ICMP, ICMPv6 and anything else: the protocol is all we match on */
	if ((const void *)(l4 + 4) > data_end || rem < 4)
		goto bad;
	if (p->proto == IPPROTO_UDP) {
		if ((const void *)(uh + 1) > data_end || rem < sizeof(*uh)) {
			if (!more)
				goto bad;
			p->tiny_frag = 1;
		} else {
			__u32 ulen = xsnap_ntohs(XSNAP_RD16(uh, len));

			if (ulen < sizeof(*uh) || (ulen > rem && !more))
				goto bad;
		}
	} else {
		const struct tcphdr *th = (const void *)l4;

		if ((const void *)(th + 1) > data_end || rem < sizeof(*th)) {
			if (!more)
				goto bad;
			p->tiny_frag = 1;
		} else {
			__u32 doff = XSNAP_RD_U8(th, 12) >> 4;

			if (doff < 5)
				goto bad;
			if (doff * 4 > rem) {
				if (!more)
					goto bad;
				p->tiny_frag = 1;	/* options go on in the next fragment */
			}
		}
	}
	p->sport = XSNAP_RD16(uh, source);
	p->dport = XSNAP_RD16(uh, dest);
	p->ports = 1;
	return 0;
bad:
	p->l4_bad = 1;
	p->l4_off = 0;
	return 0;
}

static __always_inline int xsnap_parse_ipv4(const void *data, const void *data_end, __u32 off,
					    struct xsnap_pkt *p)
{
	const struct iphdr *iph = (const void *)((const __u8 *)data + off);
	__u32 hlen, tot, frag;
	__u8 vihl;

	if ((const void *)(iph + 1) > data_end)
		return -XSNAP_R_BAD_L3;
	vihl = XSNAP_RD_U8(iph, 0);
	if (vihl >> 4 != 4 || (vihl & 0x0f) < 5)
		return -XSNAP_R_BAD_L3;
	hlen = (vihl & 0x0f) * 4;
	if ((const __u8 *)iph + hlen > (const __u8 *)data_end)
		return -XSNAP_R_BAD_L3;
	tot = xsnap_ntohs(XSNAP_RD16(iph, tot_len));
	if (tot < hlen || (const __u8 *)iph + tot > (const __u8 *)data_end)
		return -XSNAP_R_BAD_L3;

	p->l3_proto = 4;
	p->proto = XSNAP_RD8(iph, protocol);
	XSNAP_RD_ADDR(p->src, iph, saddr);
	XSNAP_RD_ADDR(p->dst, iph, daddr);

	/* A non-first fragment carries no L4 header: L3-only match.  A first
	 * fragment (MF set, offset 0) has the L4 header and is parsed as usual. */
	frag = xsnap_ntohs(XSNAP_RD16(iph, frag_off));
	if (frag & XSNAP_IP_OFFMASK) {
		p->frag = 1;
		return 0;
	}
	p->l4_off = off + hlen;
	return xsnap_parse_l4((const __u8 *)iph + hlen, tot - hlen, frag & XSNAP_IP_MF, data_end,
			      p);
}

#define XSNAP_L4_UNKNOWN 1	/* xsnap_parse_ipv6(): parsed, but L4 unknown */

/*
 * An IPv6 extension header cut by the end of the payload is malformed (the
 * kernel drops it), unless it is past the Fragment header of a first
 * fragment (@more): the chain goes on in the next fragment, and the kernel
 * reassembles the datagram before it reads the rest: protocol and ports
 * unknown (XSNAP_L4_UNKNOWN).  Computed without a branch, and reported
 * through the return value rather than stored here: either way the
 * verifier would tell apart, and walk, the states of the unrolled header
 * loop by @more (27k verified instructions for the program instead of
 * 20k).
 */
static __always_inline int xsnap_ip6_cut(int more)
{
	return (int)(((__u32)(more - 1) & (__u32)(-XSNAP_R_IPV6_EXT - XSNAP_L4_UNKNOWN)) +
		     XSNAP_L4_UNKNOWN);
}

static __always_inline int xsnap_parse_ipv6(const void *data, const void *data_end, __u32 off,
					    struct xsnap_pkt *p)
{
	const struct ipv6hdr *ip6h = (const void *)((const __u8 *)data + off);
	const __u8 *pos;
	__u32 rem;	/* payload bytes left after the cursor */
	int more = 0;	/* first fragment of several */
	__u8 nh;
	int i;

	if ((const void *)(ip6h + 1) > data_end)
		return -XSNAP_R_BAD_L3;
	if (XSNAP_RD_U8(ip6h, 0) >> 4 != 6)
		return -XSNAP_R_BAD_L3;
	pos = (const __u8 *)(ip6h + 1);
	rem = xsnap_ntohs(XSNAP_RD16(ip6h, payload_len));
	if (pos + rem > (const __u8 *)data_end)
		return -XSNAP_R_BAD_L3;

	p->l3_proto = 6;
	XSNAP_RD_ADDR(p->src, ip6h, saddr);
	XSNAP_RD_ADDR(p->dst, ip6h, daddr);
	off += sizeof(*ip6h);
	nh = XSNAP_RD8(ip6h, nexthdr);

	/* Skip allow-listed extension headers, a bounded number of them.  A
	 * longer chain is not half-parsed: its protocol and ports are unknown
	 * (l4_unknown), which only drop rules may match (fail closed). */
XSNAP_UNROLL
	for (i = 0; i < XSNAP_MAX_IPV6_EXT; i++) {
		const struct ipv6_opt_hdr *eh = (const void *)pos;
		__u32 len;

		if (!xsnap_is_ip6_ext(nh))
			break;
		/* Every extension header is at least 8 bytes.  (pos + rem never
		 * passes data_end: the data_end test is for the verifier.) */
		if ((const void *)(pos + 8) > data_end || rem < 8)
			return xsnap_ip6_cut(more);
		if (nh == XSNAP_NH_FRAGMENT) {
			const struct xsnap_ip6_frag *fh = (const void *)pos;

			__u16 fo = xsnap_ntohs(XSNAP_RD16(fh, frag_off));

			if (fo & XSNAP_IP6_OFFMASK) {
				p->proto = XSNAP_RD8(fh, nexthdr);
				p->frag = 1;
				return 0;
			}
			more = fo & XSNAP_IP6_MF;
			len = 8;
		} else {
			len = ((__u32)XSNAP_RD8(eh, hdrlen) + 1) * 8;
		}
		if (len > rem)
			return xsnap_ip6_cut(more);
		nh = XSNAP_RD8(eh, nexthdr);
		pos += len;
		off += len;
		rem -= len;
	}
	if (xsnap_is_ip6_ext(nh))
		return XSNAP_L4_UNKNOWN;	/* longer than we follow */

	/* Unknown next header: terminal, protocol recorded, no ports. */
	p->proto = nh;
	p->l4_off = off;
	return xsnap_parse_l4(pos, rem, more, data_end, p);
}

/*
 * xsnap_parse() - parse the frame [@data, @data_end) into @p.
 *
 * Return: 0 (with @p filled; p->frag set for a non-first fragment, which has
 * addresses and proto but no ports; p->l4_bad, p->tiny_frag, p->l4_unknown
 * as described at the top of this file), or -XSNAP_R_SHORT_L2 (no room for
 * the Ethernet header or a VLAN tag), -XSNAP_R_VLAN_DEEP, -XSNAP_R_NON_IP,
 * -XSNAP_R_BAD_L3 or -XSNAP_R_IPV6_EXT (a truncated extension header of a
 * datagram that is not a first fragment).  On error @p holds whatever was
 * parsed so far and must not be used for matching.
 */
static __always_inline int xsnap_parse(const void *data, const void *data_end, struct xsnap_pkt *p)
{
	const struct ethhdr *eth = data;
	const __u8 *pos;
	__u32 off = sizeof(*eth);
	__be16 type;
	__u16 h_type;
	int i, err;

	__builtin_memset(p, 0, sizeof(*p));
	if ((const void *)(eth + 1) > data_end)
		return -XSNAP_R_SHORT_L2;
	type = XSNAP_RD16(eth, h_proto);
	pos = (const __u8 *)(eth + 1);

XSNAP_UNROLL
	for (i = 0; i < XSNAP_MAX_VLAN_DEPTH; i++) {
		const struct xsnap_vlan_hdr *vh = (const void *)pos;

		if (!xsnap_is_vlan(type))
			break;
		/* A truncated tag is a truncated L2 header. */
		if ((const void *)(vh + 1) > data_end)
			return -XSNAP_R_SHORT_L2;
		if (i == 0)
			p->vlan = xsnap_ntohs(XSNAP_RD16(vh, tci)) & 0x0fff;
		p->nvlan++;
		type = XSNAP_RD16(vh, proto);
		pos = (const __u8 *)(vh + 1);
		off += sizeof(*vh);
	}
	/* Never match on the outer header of a stack deeper than we parse. */
	if (xsnap_is_vlan(type))
		return -XSNAP_R_VLAN_DEEP;

	p->l3_off = off;
	h_type = xsnap_ntohs(type);
	if (h_type == XSNAP_ETH_P_IP)
		err = xsnap_parse_ipv4(data, data_end, off, p);
	else if (h_type == XSNAP_ETH_P_IPV6)
		err = xsnap_parse_ipv6(data, data_end, off, p);
	else
		return -XSNAP_R_NON_IP;	/* includes 802.3 lengths (< 0x600) */
	if (err == XSNAP_L4_UNKNOWN) {
		p->l4_unknown = 1;
		err = 0;
	}
	if (err)
		return err;
#if !defined(__bpf__)
	/* Userspace only: the XDP program leaves the flow hash to the engine,
	 * which computes it (with this parser) for the tenants that split
	 * their frames by flow: a mix chain per frame is a real share of a
	 * receive path that costs ~100 ns in all. */
	p->flow_hash = xsnap_flow_hash(p);
#endif
	return 0;
}

/*
 * Network-order mask of the bits of a @plen-bit prefix that fall into
 * 32-bit word @i of an address: the low half of 0xffffffff00000000 shifted
 * right by clamp(plen - 32 * i, 0, 32).  Branch-free on purpose: it runs for
 * 8 words per group, and every branch here multiplies the paths the
 * verifier walks in the group loop.
 */
static __always_inline __u32 xsnap_word_mask(__u32 plen, __u32 i)
{
	__s32 bits = (__s32)plen - 32 * (__s32)i;	/* -96..255 */
	__s32 over;

	bits &= ~(bits >> 31);				/* max(bits, 0) */
	over = bits - 32;
	bits = 32 + (over & (over >> 31));		/* min(bits, 32) */
	return xsnap_htonl((__u32)(0xffffffff00000000ull >> bits));
}

static __always_inline void xsnap_mask_word(__u8 *out, const __u8 *in, __u32 plen, __u32 i)
{
	__u32 w = xsnap_load32(in + 4 * i) & xsnap_word_mask(plen, i);

	__builtin_memcpy(out + 4 * i, &w, sizeof(w));
}

/*
 * Copy the first @plen bits of address @in to @out.  All four words are
 * always masked: an IPv4 address is zero past its first word (the parser
 * and the compiler both zero-fill), so it needs no separate path.  Spelled
 * out rather than looped: inside the rolled group loop clang 14 refuses to
 * unroll a nested loop.
 */
static __always_inline void xsnap_mask_addr(__u8 *out, const __u8 *in, __u32 plen)
{
	xsnap_mask_word(out, in, plen, 0);
	xsnap_mask_word(out, in, plen, 1);
	xsnap_mask_word(out, in, plen, 2);
	xsnap_mask_word(out, in, plen, 3);
}

/*
 * xsnap_make_key() - build the lookup key of group @g (index @gi of bank
 * @bank) for the parsed frame @p.
 *
 * The key holds exactly what the rule compiler (userspace/lib/rule.c) puts
 * in a key of that group: a zeroed key, bank, group index, l3_proto when the
 * group has XSNAP_F_L3/SRC/DST, proto when XSNAP_F_PROTO, ports in network
 * order (or, for XSNAP_F_SPORT_CLASS / XSNAP_F_DPORT_CLASS, the classes the
 * caller put in p->sclass / p->dclass), the VLAN id in host order,
 * addresses masked to the group's prefix lengths (4 bytes for IPv4, 16 for
 * IPv6).  Fields outside g->fields stay 0.
 *
 * Return: 1 when the key was built, 0 when the frame cannot match any rule
 * of the group: the group matches ports and the frame has none (a non-first
 * fragment, an unreadable header, or neither UDP nor TCP), it matches the
 * protocol or ports and the frame's are unknown (l4_unknown), it matches addresses of
 * the other family, or it matches a VLAN id and the frame is untagged.  A
 * group of XSNAP_F_L4_ANY (drop rules without their protocol and port
 * terms) matches frames whose L4 is unknown, and only those.
 */
static __always_inline int xsnap_make_key(const struct xsnap_pkt *p, const struct xsnap_group *g,
					  __u8 bank, __u8 gi, struct xsnap_rule_key *k)
{
	__u32 fields = g->fields;

	__builtin_memset(k, 0, sizeof(*k));
	k->bank = bank;
	k->group = gi;
	if (fields & XSNAP_F_L4_ANY) {
		if (!p->l4_unknown)
			return 0;
	} else if ((fields & (XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT)) && p->l4_unknown) {
		return 0;
	}
	if (fields & (XSNAP_F_L3 | XSNAP_F_SRC | XSNAP_F_DST)) {
		if (p->l3_proto != g->l3_proto)
			return 0;
		k->l3_proto = g->l3_proto;
	}
	if (fields & XSNAP_F_PROTO)
		k->proto = p->proto;
	if (fields & (XSNAP_F_SPORT | XSNAP_F_DPORT)) {
		if (!p->ports)
			return 0;
		if (fields & XSNAP_F_SPORT)
			k->sport = (fields & XSNAP_F_SPORT_CLASS) ? p->sclass : p->sport;
		if (fields & XSNAP_F_DPORT)
			k->dport = (fields & XSNAP_F_DPORT_CLASS) ? p->dclass : p->dport;
	}
	if (fields & XSNAP_F_VLAN) {
		/* "vlan 0" means a priority tag, not an untagged frame. */
		if (!p->nvlan)
			return 0;
		k->vlan = p->vlan;
	}
	if (fields & XSNAP_F_SRC)
		xsnap_mask_addr(k->src, p->src, g->src_plen);
	if (fields & XSNAP_F_DST)
		xsnap_mask_addr(k->dst, p->dst, g->dst_plen);
	return 1;
}

#endif /* XSNAP_PARSE_H */
