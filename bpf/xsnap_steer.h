/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What both XDP programs of xsnap need: the general classifier
 * (xsnap_steer.bpf.c) and the program specialised for one rule set
 * (xsnap_spec.bpf.c), which the general one tail-calls when the live rule
 * set has one.  The maps declared here are the general program's; libxsnap
 * hands their descriptors to each specialised program it loads
 * (bpf_map__reuse_fd()), so both count into the same counters and redirect
 * to the same sockets.  The load-time knobs below are set alike in both.
 */
#ifndef XSNAP_STEER_H
#define XSNAP_STEER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xsnap/abi.h>
#include "xsnap_parse.h"

/* AF_XDP socket per rx queue.  Written by xsnapd when it binds a socket. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XSNAP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsnap_xsks SEC(".maps");

/* Per rx queue: tenant slots pinned to another queue group, which frames of
 * this queue are never tagged for.  Read only when xsnap_qgroups is set
 * (the queues are split into groups); written by libxsnap before a pinned
 * tenant's slot goes live. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XSNAP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsnap_qexcl SEC(".maps");

/* Per-CPU frame count per final reason (XSNAP_R_*).  Written here, read and
 * summed by `xsnapctl stats`. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XSNAP_R_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xsnap_cnt SEC(".maps");

/* Per-CPU frames/bytes redirected per tenant slot.  Written here, read by
 * the daemon's stats and by tests. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XSNAP_MAX_TENANTS);
	__type(key, __u32);
	__type(value, struct xsnap_tenant_cnt);
} xsnap_tcnt SEC(".maps");

/*
 * The general program's jump table (XSNAP_JMP_* in <xsnap/abi.h>): the
 * live rule set's specialised program, if it has one, and the general
 * program without that first jump, which the specialised one hands every
 * frame it does not serve.  Written by libxsnap: the general slot once at
 * load, the specialised one at every bank flip (steer_apply()).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, XSNAP_JMP_MAX);
	__type(key, __u32);
	__type(value, __u32);
} xsnap_jmp SEC(".maps");

/*
 * Longest frame (bytes, all fragments) a UMEM frame can hold; longer ones
 * are never redirected (XSNAP_R_TOO_BIG) since the AF_XDP receive path
 * would drop them, uncounted by us.  Set by libxsnap before load; 0 means
 * no limit.
 */
const volatile __u32 xsnap_max_frame = 0;

/*
 * Non-zero: stamp every delivered frame with bpf_ktime_get_ns() in its
 * metadata (xsnap_opts.timestamps = XSNAP_STAMP_XDP).  Zero (the default):
 * rx_ns stays 0 and the engine stamps each batch it takes from the rx ring.
 * A clock read per frame costs 20-30 ns on a VM's kvm-clock, a fifth of the
 * whole program, on the CPU that runs the NIC's receive processing.
 */
const volatile __u32 xsnap_xdp_stamp = 0;

/*
 * Non-zero: the kernel refuses bpf_xdp_adjust_meta() to XDP programs (some
 * builds do; libxsnap probes it before load, steer_meta_in_head()).  The
 * program then grows the packet at its head with bpf_xdp_adjust_head() and
 * writes the metadata there, so the AF_XDP descriptor starts at the
 * metadata and the frame follows it: the same bytes at the same place in
 * the chunk, which the engine turns back into the usual descriptor (address
 * after the metadata, length without it).  A frame that leaves any other
 * way gets its head back first.
 */
const volatile __u32 xsnap_meta_head = 0;

/* Set at load when the context splits its queues into groups: mask the
 * active tenants by the frame's rx queue (xsnap_qexcl).  Unset, the lookup
 * costs nothing. */
const volatile __u32 xsnap_qgroups = 0;

/* Linear bytes from which a frame may be one of several buffers: a test run
 * fills PAGE_SIZE - headroom - tailroom (3520 bytes on x86-64) before it
 * adds a fragment, and no driver hands a program without frags support
 * more than one buffer. */
#define XSNAP_LINEAR_CHECK 2048

/* Rule lookups of one frame: what they need and what they found. */
struct xsnap_match {
	__u32 bank;		/* live bank, read once per frame */
	__u32 active;		/* cfg->tenants, read with it */
	__u32 gen;		/* cfg->gen, read with it */
	__u32 pad;
	__u32 mask;		/* union of the deliver tenants */
	__u32 deliver_prio;	/* best deliver prio, XSNAP_PRIO_NONE if none */
	__u32 deliver_id;
	__u32 stop_prio;	/* best drop/pass prio, XSNAP_PRIO_NONE if none */
	__u32 stop_id;
	__u32 stop_action;
};

/* (prio, id) before (bprio, bid)?  The compiler merges rules within a key by
 * the same order, so the result does not depend on how rules fall into
 * groups. */
static __always_inline int better(__u32 prio, __u32 id, __u32 bprio, __u32 bid)
{
	return prio < bprio || (prio == bprio && id < bid);
}

static __always_inline void count(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&xsnap_cnt, &reason);

	/* Per-CPU slot: no other CPU writes it, a plain increment is enough. */
	if (c)
		*c += 1;
}

static __always_inline int verdict(__u32 reason, int action)
{
	count(reason);
	return action;
}

/* Merge the rule value @v found for the frame into @m.  Tenant slots
 * outside m->active (being removed) are dropped from the value first; a
 * value left with no active tenant takes no part in the deliver
 * precedence, as if its deliver rules were gone. */
static __always_inline void merge(struct xsnap_match *m, const struct xsnap_rule_val *v)
{
	__u32 mask = v->tenant_mask & m->active;

	if (v->deliver_prio != XSNAP_PRIO_NONE && mask) {
		m->mask |= mask;
		if (better(v->deliver_prio, v->deliver_id, m->deliver_prio, m->deliver_id)) {
			m->deliver_prio = v->deliver_prio;
			m->deliver_id = v->deliver_id;
		}
	}
	if (v->stop_prio != XSNAP_PRIO_NONE &&
	    better(v->stop_prio, v->stop_id, m->stop_prio, m->stop_id)) {
		m->stop_prio = v->stop_prio;
		m->stop_id = v->stop_id;
		m->stop_action = v->stop_action;
	}
}

/* @tenants as they count for a frame of rx queue @rxq: with queue groups, a
 * tenant pinned to another group's queues takes no part, as if its deliver
 * rules were gone. */
static __always_inline __u32 queue_tenants(__u32 tenants, __u32 rxq)
{
	if (xsnap_qgroups) {
		const __u32 *excl = bpf_map_lookup_elem(&xsnap_qexcl, &rxq);

		if (excl)
			tenants &= ~*excl;
	}
	return tenants;
}

/* The fast path's L3: the family (4 or 6), protocol and the L4 payload
 * bytes @rem the IP header claims, all within the frame, or 0. */
static __always_inline __u32 fast_l3(const struct ethhdr *eth, const void *data_end,
				     __u8 *proto, __u32 *rem)
{
	if (eth->h_proto == bpf_htons(XSNAP_ETH_P_IP)) {
		const struct iphdr *iph = (const void *)(eth + 1);
		__u32 tot;

		if ((const void *)(iph + 1) > data_end || XSNAP_RD_U8(iph, 0) != 0x45 ||
		    (iph->frag_off & bpf_htons(XSNAP_IP_MF | XSNAP_IP_OFFMASK)))
			return 0;
		tot = xsnap_ntohs(iph->tot_len);
		if (tot < sizeof(*iph) || (const __u8 *)iph + tot > (const __u8 *)data_end)
			return 0;
		*proto = iph->protocol;
		*rem = tot - sizeof(*iph);
		return 4;
	}
	if (eth->h_proto == bpf_htons(XSNAP_ETH_P_IPV6)) {
		const struct ipv6hdr *ip6h = (const void *)(eth + 1);
		__u32 len;

		if ((const void *)(ip6h + 1) > data_end || XSNAP_RD_U8(ip6h, 0) >> 4 != 6)
			return 0;
		len = xsnap_ntohs(ip6h->payload_len);
		if ((const __u8 *)(ip6h + 1) + len > (const __u8 *)data_end)
			return 0;
		*proto = ip6h->nexthdr;
		*rem = len;
		return 6;
	}
	return 0;
}

/* The fast paths' L4: a UDP or TCP header at @l4 that xsnap_parse() reads
 * in full (UDP length, TCP data offset within the @rem bytes the IP header
 * claims).  1 if so, else 0. */
static __always_inline int fast_l4(const __u8 *l4, const void *data_end, __u8 proto, __u32 rem)
{
	if (proto == IPPROTO_UDP) {
		const struct udphdr *uh = (const void *)l4;
		__u32 ulen;

		if ((const void *)(uh + 1) > data_end || rem < sizeof(*uh))
			return 0;
		ulen = xsnap_ntohs(uh->len);
		return ulen >= sizeof(*uh) && ulen <= rem;
	}
	if (proto == IPPROTO_TCP) {
		const struct tcphdr *th = (const void *)l4;
		__u32 doff;

		if ((const void *)(th + 1) > data_end || rem < sizeof(*th))
			return 0;
		doff = XSNAP_RD_U8(th, 12) >> 4;
		return doff >= 5 && doff * 4 <= rem;
	}
	return 0;
}

/* The first 8 bytes of group 0's key for a frame of the fast paths' kind,
 * as xsnap_make_key() writes them (struct xsnap_rule_key), the bank byte
 * 0: family, protocol, then both ports as they are on the wire (which is
 * how one 4-byte load reads them), each only where @fields matches on it.
 * The rest of such a key is zero.  @l4: the UDP/TCP header, its first 4
 * bytes checked readable. */
static __always_inline __u64 fast_word(__u32 fields, __u32 fam, __u8 proto, const __u8 *l4)
{
	__u32 ports = *(const __u32 *)l4;

	if (!(fields & XSNAP_F_SPORT))
		ports &= bpf_htonl(0x0000ffff);	/* keep the destination port */
	if (!(fields & XSNAP_F_DPORT))
		ports &= bpf_htonl(0xffff0000);	/* keep the source port */
	return (fields & XSNAP_F_L3 ? fam << 16 : 0) |
	       (fields & XSNAP_F_PROTO ? (__u32)proto << 24 : 0) | (__u64)ports << 32;
}

/* A drop/pass rule won.  Any action other than drop passes: a corrupt value
 * must not make frames vanish. */
static __always_inline int stop(__u32 action)
{
	if (action == XSNAP_ACT_DROP)
		return verdict(XSNAP_R_RULE_DROP, XDP_DROP);
	return verdict(XSNAP_R_RULE_PASS, XDP_PASS);
}

/*
 * Bump frames/bytes of every tenant in @mask.  The loop walks the mask's
 * bits from slot 0 and stops after the highest set one, so the common case
 * (a few low slots) costs a few iterations rather than XSNAP_MAX_TENANTS.
 * The loop counter is 64-bit on purpose: with a __u32 one, clang 14
 * re-derives it through shifts the verifier cannot bound, and the load
 * fails with "infinite loop detected".
 */
static __always_inline void count_tenants(__u32 mask, __u64 bytes)
{
	__u64 t;

#pragma clang loop unroll(disable)
	for (t = 0; t < XSNAP_MAX_TENANTS && mask; t++, mask >>= 1) {
		struct xsnap_tenant_cnt *c;
		__u32 key = (__u32)t;

		if (!(mask & 1))
			continue;
		c = bpf_map_lookup_elem(&xsnap_tcnt, &key);
		if (c) {
			c->frames += 1;
			c->bytes += bytes;
		}
	}
}

/* Write the metadata in front of the frame and redirect it to the socket.
 * @len: the frame's length, all buffers.  @bare: redirect the frame as it
 * is, without metadata: the specialised program's implicit outcome, which
 * the engine knows by the frame's position in the rx ring and writes the
 * metadata for (xsnap_spec_impl in xsnap_spec.bpf.c); the general program
 * passes a constant 0. */
static __always_inline int deliver(struct xdp_md *ctx, const struct xsnap_pkt *pkt,
				   const struct xsnap_match *m, __u64 len, int bare)
{
	__u32 q = ctx->rx_queue_index;
	struct xsnap_meta *meta;
	void *data;
	long ret;

	/* No socket on this queue: leave the frame to the kernel rather than
	 * have the redirect fail (and the frame vanish) later. */
	if (!bpf_map_lookup_elem(&xsnap_xsks, &q))
		return verdict(XSNAP_R_NO_SOCKET, XDP_PASS);
	if (xsnap_max_frame && len > xsnap_max_frame)
		return verdict(XSNAP_R_TOO_BIG, XDP_PASS);
	if (bare) {
		count_tenants(m->mask, len);
		count(XSNAP_R_DELIVER);
		return bpf_redirect_map(&xsnap_xsks, q, XDP_PASS);
	}

	if (xsnap_meta_head) {
		/* the metadata becomes the first bytes of the packet (see
		 * xsnap_meta_head); xsnap_max_frame counts them already */
		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct xsnap_meta)))
			return verdict(XSNAP_R_META, XDP_PASS);
		/* volatile: else clang merges these loads with the other
		 * branch's into one from ctx plus a chosen offset, which the
		 * verifier refuses ("dereference of modified ctx ptr") */
		meta = (void *)(long)*(volatile __u32 *)&ctx->data;
		data = (void *)(long)*(volatile __u32 *)&ctx->data_end;
	} else {
		/* Our struct must end exactly at the packet data, where
		 * userspace looks for it, even if an earlier program left
		 * metadata of its own: move data_meta to data - sizeof(meta),
		 * whatever it was. */
		int metalen = (int)(ctx->data - ctx->data_meta);

		if (bpf_xdp_adjust_meta(ctx, metalen - (int)sizeof(struct xsnap_meta)))
			return verdict(XSNAP_R_META, XDP_PASS);
		data = (void *)(long)ctx->data;
		meta = (void *)(long)ctx->data_meta;
	}
	/* both helpers invalidate every packet pointer: reload and re-check */
	if ((void *)(meta + 1) > data)
		return verdict(XSNAP_R_META, XDP_PASS);

	meta->rx_ns = xsnap_xdp_stamp ? bpf_ktime_get_ns() : 0;
	meta->tenant_mask = m->mask;
	meta->rule_id = m->deliver_id;
	meta->flow_hash = 0;	/* the engine's, see xsnap_parse() */
	meta->l3_off = pkt->l3_off;
	meta->l4_off = pkt->l4_off;
	meta->vlan = pkt->vlan;
	meta->l4_proto = pkt->l4_off ? pkt->proto : 0;	/* 0: no header to read */
	meta->l3_proto = pkt->l3_proto;
	meta->magic = XSNAP_META_MAGIC;

	count_tenants(m->mask, len);
	count(XSNAP_R_DELIVER);
	/* XDP_PASS as the fallback: if the socket went away since the lookup
	 * above, the kernel stack still gets the frame (without our head). */
	ret = bpf_redirect_map(&xsnap_xsks, q, XDP_PASS);
	if (xsnap_meta_head && ret != XDP_REDIRECT &&
	    bpf_xdp_adjust_head(ctx, (int)sizeof(struct xsnap_meta)))
		return XDP_DROP;	/* cannot happen: it was ours to give back */
	return ret;
}

/* The verdict of a classified frame: lower prio wins; on a tie the stop
 * (drop/pass) rule wins.  With no deliver match, deliver_prio is
 * XSNAP_PRIO_NONE and any stop wins.  @bare: see deliver(). */
static __always_inline int decide(struct xdp_md *ctx, const struct xsnap_pkt *pkt,
				  const struct xsnap_match *m, __u64 len, int bare)
{
	if (m->stop_prio != XSNAP_PRIO_NONE && m->stop_prio <= m->deliver_prio)
		return stop(m->stop_action);
	if (m->deliver_prio != XSNAP_PRIO_NONE)
		return deliver(ctx, pkt, m, len, bare);
	return verdict(XSNAP_R_NOMATCH, XDP_PASS);
}

#endif /* XSNAP_STEER_H */
