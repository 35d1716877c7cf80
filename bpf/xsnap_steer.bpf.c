// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_steer: the XDP classifier in front of the snapshot store.
 *
 * Every frame is parsed (bpf/xsnap_parse.h, shared with userspace), then
 * looked up in the live bank of compiled rules: one hash lookup per mask
 * group (tuple-space search, see <xsnap/abi.h>), each answered first by a
 * per-CPU exact-match cache; the commonest rule set and frame take a
 * shorter path to the same answer (fast_classify()).  The matching rules
 * decide:
 *
 *   - nothing matched         -> XDP_PASS, the kernel stack sees the frame;
 *   - a drop/pass rule won    -> XDP_DROP / XDP_PASS;
 *   - deliver rules won       -> metadata (struct xsnap_meta) in front of
 *                                the frame (or as its head, xsnap_meta_head),
 *                                redirect to this queue's AF_XDP socket, whose
 *                                engine fans the frame out to every tenant in
 *                                the mask.
 *
 * Frames the parser refuses (cut or malformed L2/L3 headers, VLAN stacks
 * deeper than it parses, not IP) are never matched: they go to XDP_PASS
 * with a reason counter, and the kernel stack (which has its own checks)
 * drops them or handles them as no rule could describe.  Frames the kernel
 * may accept are classified on what could be read, so no rule that could
 * match is bypassed (bpf/xsnap_parse.h): tiny first fragments by their
 * ports, frames with an unreadable UDP/TCP header by the rules without
 * ports, IPv6 chains not followed to their end by the rules without
 * protocol or ports plus every drop rule whose other terms match (the
 * bank's XSNAP_F_L4_ANY groups).  Every frame bumps exactly one final
 * reason counter in xsnap_cnt; how a classified frame was read is counted
 * in addition (non-first fragment, unreadable L4, tiny first fragment,
 * unknown L4), so those frames are visible whatever their verdict.
 * Frames a UMEM frame cannot hold are never redirected (XSNAP_R_TOO_BIG):
 * the program is not frags-aware, see xsnap_steer().
 *
 * Verifier cost: the parser and the per-group lookup are global functions,
 * each verified once on its own; see xsnap_match_group().  The verified
 * instruction count is printed by tests/bpf/test_steer (verified_insns).
 */
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

/* Live bank and active tenant slots.  Written by libxsnap's rule updater. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xsnap_cfg);
} xsnap_cfg SEC(".maps");

/* Mask groups of bank 0 and bank 1.  Written by the rule compiler into the
 * idle bank before xsnap_cfg.bank is flipped to it.  "_v3": struct
 * xsnap_bank gained the XSNAP_F_L4_ANY groups after the shapes (ABI 3). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct xsnap_bank);
} xsnap_groups_v3 SEC(".maps");

/* Compiled rules of both banks (the key carries the bank).  Written by the
 * rule compiler; read only here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XSNAP_MAX_RULES * 2);
	__type(key, struct xsnap_rule_key);
	__type(value, struct xsnap_rule_val);
} xsnap_rules SEC(".maps");

/* Port classes of both banks, index bank * XSNAP_PORTS + port.  Written by
 * the rule compiler (through an mmap of the idle bank's half) when the bank
 * has range rules; read here once per frame for such banks. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XSNAP_PORTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xsnap_port_class);
} xsnap_ports SEC(".maps");

/*
 * Exact-match cache of the rule lookups, one entry per group and CPU (as
 * Open vSwitch's EMC in front of its tuple-space classifier): the last key
 * a group looked up on this CPU, and what the hash map had for it (a value,
 * or nothing).  The hash of a 40-byte key and the bucket walk were the
 * largest single costs of the program (about a tenth of the receive CPU in
 * a profile); a frame of the same flow, or of any flow for port-only rules,
 * finds its answer here with five 8-byte compares.  An entry counts only
 * for the generation (xsnap_cfg.gen) it was filled in: userspace changes a
 * bank's keys only while the bank is idle and bumps the generation with
 * every flip, so an entry never outlives the rule set it came from.
 * @busy: a run nested on the same CPU (a test run in process context
 * interrupted by a NAPI poll) bypasses the cache rather than tear an entry
 * that the interrupted run is writing.
 */
_Static_assert(sizeof(struct xsnap_rule_key) == 44, "the cache compares 44 key bytes");

struct xsnap_emc_ent {
	struct xsnap_rule_key key;
	struct xsnap_rule_val val;
	__u32 gen;
	__u32 state;		/* XSNAP_EMC_EMPTY, _FOUND or _ABSENT */
	__u32 pad;		/* 80 bytes: every entry's key 8-byte aligned */
};

enum { XSNAP_EMC_EMPTY = 0, XSNAP_EMC_FOUND, XSNAP_EMC_ABSENT };

struct xsnap_emc {
	__u32 busy;
	__u32 pad;
	struct xsnap_emc_ent ent[XSNAP_BANK_GROUPS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xsnap_emc);
} xsnap_emc SEC(".maps");

/* Never read here.  Userspace stores xsnap_cfg into it after each bank flip:
 * an update of a map-in-map waits for an RCU grace period, i.e. for every
 * program run that may still use the old bank (maybe_wait_bpf_programs()
 * in the kernel; the selftests' kern_sync_rcu() uses the same trick). */
struct xsnap_sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xsnap_cfg);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct xsnap_sync_inner);
} xsnap_sync SEC(".maps");

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

/* Benchmarks only (bench_classify): every exact-match cache lookup misses and
 * refills its entry, the cost of a new flow in every frame. */
const volatile __u32 xsnap_emc_miss = 0;

/* Benchmarks and tests only: every frame takes the general path, never
 * fast_classify(), so the two can be compared on the same rule set. */
const volatile __u32 xsnap_no_fast = 0;

/* Tests only: a frame that fast_classify() did not take ends in
 * XDP_ABORTED, uncounted, after the general path classified it (which
 * fills the exact-match cache): so a test sees which path a frame took. */
const volatile __u32 xsnap_fast_probe = 0;

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

/*
 * Look group @gi of bank m->bank up for the frame @pkt and merge the rule
 * value found, if any, into @m.  Tenant slots outside m->active (being
 * removed) are dropped from the value first; a value left with no active
 * tenant takes no part in the deliver precedence, as if its deliver rules
 * were gone.  (Within one merged value a removed tenant's prio cannot be
 * told apart from the others'; the daemon deletes such rules before it
 * frees a slot.)
 *
 * Inlined for group 0, and called through the global function
 * xsnap_match_group() for the others: the verifier checks that once, with
 * every input unknown, instead of once per group and per path into the
 * group loop.  Inlined in a 16-iteration loop, the program cost 40k-400k
 * verified instructions depending on the layout; see the verified_insns
 * test.  @gi is 64-bit because the verifier knows nothing of a global
 * function's argument registers: with a __u32, clang bounds-checks a
 * zero-extended copy and then indexes with the unchecked register.
 */
static __always_inline int match_group(const struct xsnap_pkt *pkt, struct xsnap_match *m, __u64 gi)
{
	struct xsnap_rule_key key __attribute__((aligned(8)));
	struct xsnap_emc_ent *e = NULL;
	const struct xsnap_rule_val *v;
	const struct xsnap_bank *b;
	struct xsnap_emc *c;
	__u32 bank, zero = 0;

	if (!pkt || !m || gi >= XSNAP_BANK_GROUPS)
		return 0;
	bank = m->bank & 1;
	b = bpf_map_lookup_elem(&xsnap_groups_v3, &bank);
	if (!b || !xsnap_make_key(pkt, &b->groups[gi], bank, (__u8)gi, &key))
		return 0;
	c = bpf_map_lookup_elem(&xsnap_emc, &zero);
	if (c && !c->busy) {
		const __u64 *a = (const __u64 *)&key, *k;

		e = &c->ent[gi];
		k = (const __u64 *)&e->key;
		/* the whole 44-byte key: five 8-byte words and the last 4 */
		if (!xsnap_emc_miss && e->state != XSNAP_EMC_EMPTY && e->gen == m->gen &&
		    k[0] == a[0] && k[1] == a[1] && k[2] == a[2] && k[3] == a[3] &&
		    k[4] == a[4] && ((const __u32 *)k)[10] == ((const __u32 *)a)[10]) {
			if (e->state == XSNAP_EMC_ABSENT)
				return 0;
			v = &e->val;
			goto found;
		}
	}
	v = bpf_map_lookup_elem(&xsnap_rules, &key);
	if (e) {
		c->busy = 1;
		e->state = XSNAP_EMC_EMPTY;
		e->key = key;
		if (v)
			e->val = *v;
		e->gen = m->gen;
		e->state = v ? XSNAP_EMC_FOUND : XSNAP_EMC_ABSENT;
		c->busy = 0;
	}
	if (!v)
		return 0;
found:
	merge(m, v);
	return 1;
}

/* match_group() as a global function, for the groups after the first: the
 * first one runs inline (most rule sets have one or two groups), the call
 * and return cost about as much as the parser's did. */
__attribute__((noinline)) int xsnap_match_group(const struct xsnap_pkt *pkt, struct xsnap_match *m,
						__u64 gi)
{
	return match_group(pkt, m, gi);
}

/* The classes of the frame's ports in bank @bank (see struct
 * xsnap_port_class).  A missing entry cannot happen (array map, index in
 * range); class 0 then is as good as any. */
static __always_inline void port_classes(struct xsnap_pkt *pkt, __u32 bank)
{
	const struct xsnap_port_class *c;
	__u32 key;

	key = bank * XSNAP_PORTS + xsnap_ntohs(pkt->sport);
	c = bpf_map_lookup_elem(&xsnap_ports, &key);
	pkt->sclass = c ? c->sport : 0;
	key = bank * XSNAP_PORTS + xsnap_ntohs(pkt->dport);
	c = bpf_map_lookup_elem(&xsnap_ports, &key);
	pkt->dclass = c ? c->dport : 0;
}

/*
 * Run every live group of the frame's bank: the rule shapes, and for a
 * frame whose L4 is unknown the XSNAP_F_L4_ANY groups after them (every
 * other frame stops before those, at no cost).  The bank number is read
 * once: the whole frame is classified against one complete rule set
 * (groups, keys and port classes) even while userspace flips banks.
 * 64-bit loop counter: see count_tenants().
 */
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

static __always_inline void classify(struct xsnap_pkt *pkt, struct xsnap_match *m, __u32 rxq)
{
	const struct xsnap_cfg *cfg;
	const struct xsnap_bank *b;
	__u32 zero = 0;
	__u64 i, n;

	cfg = bpf_map_lookup_elem(&xsnap_cfg, &zero);
	if (!cfg)
		return;
	m->bank = cfg->bank & 1;
	m->active = queue_tenants(cfg->tenants, rxq);
	m->gen = cfg->gen;
	b = bpf_map_lookup_elem(&xsnap_groups_v3, &m->bank);
	if (!b)
		return;
	if ((b->flags & XSNAP_BANK_PORT_CLASSES) && pkt->ports)
		port_classes(pkt, m->bank);
	n = b->ngroups;
	if (pkt->l4_unknown)
		n += b->nl4any;
	if (!n)
		return;
	match_group(pkt, m, 0);
#pragma clang loop unroll(disable)
	for (i = 1; i < XSNAP_BANK_GROUPS && i < n; i++)
		xsnap_match_group(pkt, m, i);
}

/*
 * The fast path: classify the commonest frame against the commonest rule
 * set without the general parser and key builder.  Rule sets of one shape
 * that matches on nothing but the protocol, the ports (exact, no classes)
 * and maybe the address family ("udp dst port 9000", "ip6 src ::/0 and tcp
 * src port 22 and dst port 80"), and a frame that is untagged IPv4 without
 * options and not a fragment, or untagged IPv6 whose next header is UDP or
 * TCP (no extension header), with a UDP or TCP header xsnap_parse() reads
 * in full (UDP length, TCP data offset within the datagram).  For such a
 * frame xsnap_parse() sets nothing but the addresses, protocol and ports,
 * and xsnap_make_key() builds a key whose first 8 bytes (bank, group 0,
 * family, protocol, ports) are all of it; so the exact-match cache entry of
 * group 0, when it is of the live generation, answers with one 8-byte
 * compare.  Everything else (another frame, another shape, a cache miss, a
 * nested run) returns 0 before it writes @m or @pkt, and the frame takes
 * the general path, which also fills the cache entry for the next frame.
 *
 * Return: 1 when @m holds the frame's matches (maybe none) and @pkt the
 * fields deliver() writes into the metadata, 0 for the general path.
 */
#define XSNAP_FAST_FIELDS (XSNAP_F_L3 | XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT)

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

static __always_inline int fast_classify(struct xdp_md *ctx, struct xsnap_pkt *pkt,
					 struct xsnap_match *m)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct ethhdr *eth = data;
	const struct xsnap_emc_ent *e;
	const struct xsnap_cfg *cfg;
	const struct xsnap_bank *b;
	struct xsnap_emc *c;
	__u32 zero = 0, fam, rem = 0, fields, ports, bank, l4_off;
	const __u8 *l4;
	__u64 word;
	__u8 proto = 0;

	if (xsnap_no_fast || xsnap_emc_miss || (const void *)(eth + 1) > data_end)
		return 0;
	fam = fast_l3(eth, data_end, &proto, &rem);
	if (!fam)
		return 0;
	l4_off = sizeof(*eth) + (fam == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));
	l4 = (const __u8 *)data + l4_off;
	if (proto == IPPROTO_UDP) {
		const struct udphdr *uh = (const void *)l4;
		__u32 ulen;

		if ((const void *)(uh + 1) > data_end || rem < sizeof(*uh))
			return 0;
		ulen = xsnap_ntohs(uh->len);
		if (ulen < sizeof(*uh) || ulen > rem)
			return 0;
	} else if (proto == IPPROTO_TCP) {
		const struct tcphdr *th = (const void *)l4;
		__u32 doff;

		if ((const void *)(th + 1) > data_end || rem < sizeof(*th))
			return 0;
		doff = XSNAP_RD_U8(th, 12) >> 4;
		if (doff < 5 || doff * 4 > rem)
			return 0;
	} else {
		return 0;
	}

	cfg = bpf_map_lookup_elem(&xsnap_cfg, &zero);
	if (!cfg)
		return 0;
	bank = cfg->bank & 1;
	b = bpf_map_lookup_elem(&xsnap_groups_v3, &bank);
	if (!b || b->ngroups != 1 || (b->flags & XSNAP_BANK_PORT_CLASSES))
		return 0;
	fields = b->groups[0].fields;
	/* a family term of the other family: no key (xsnap_make_key()) */
	if ((fields & ~XSNAP_FAST_FIELDS) || ((fields & XSNAP_F_L3) && b->groups[0].l3_proto != fam))
		return 0;
	c = bpf_map_lookup_elem(&xsnap_emc, &zero);
	if (!c || c->busy)
		return 0;
	e = &c->ent[0];
	if (e->state == XSNAP_EMC_EMPTY || e->gen != cfg->gen)
		return 0;

	/* The key's first 8 bytes as xsnap_make_key() writes them (struct
	 * xsnap_rule_key): bank, group 0, family, protocol, then both ports
	 * as they are on the wire, which is how one 4-byte load reads them. */
	if ((const void *)(l4 + 4) > data_end)
		return 0;	/* checked above; again for the verifier */
	ports = *(const __u32 *)l4;
	if (!(fields & XSNAP_F_SPORT))
		ports &= bpf_htonl(0x0000ffff);	/* keep the destination port */
	if (!(fields & XSNAP_F_DPORT))
		ports &= bpf_htonl(0xffff0000);	/* keep the source port */
	word = (__u64)bank | (fields & XSNAP_F_L3 ? fam << 16 : 0) |
	       (fields & XSNAP_F_PROTO ? (__u32)proto << 24 : 0) | (__u64)ports << 32;
	if (*(const __u64 *)&e->key != word)
		return 0;

	m->active = queue_tenants(cfg->tenants, ctx->rx_queue_index);
	if (e->state == XSNAP_EMC_FOUND)
		merge(m, &e->val);
	pkt->l3_proto = (__u8)fam;
	pkt->proto = proto;
	pkt->l3_off = sizeof(*eth);
	pkt->l4_off = (__u16)l4_off;
	return 1;
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
 * @len: the frame's length, all buffers. */
static __always_inline int deliver(struct xdp_md *ctx, const struct xsnap_pkt *pkt,
				   const struct xsnap_match *m, __u64 len)
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

/* The parser, inlined: as a global function (verified once on its own) it
 * cost a call and a return per frame, 15-20 ns with this machine's
 * return-thunk mitigation (bench_classify, exact-match cache hit), for about
 * 2 500 more verified instructions.  Every path out of it ends in the
 * same few states, so the verifier prunes what follows. */
static __always_inline int xsnap_parse_ctx(struct xdp_md *ctx, struct xsnap_pkt *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (!pkt)
		return -XSNAP_R_SHORT_L2;
	return xsnap_parse(data, data_end, pkt);
}

SEC("xdp")
int xsnap_steer(struct xdp_md *ctx)
{
	struct xsnap_match m = {
		.deliver_prio = XSNAP_PRIO_NONE,
		.stop_prio = XSNAP_PRIO_NONE,
	};
	struct xsnap_pkt pkt = {};
	__u64 len = (__u64)(ctx->data_end - ctx->data);
	int err;

	/* Only a frame whose linear part fills most of a page can have more
	 * buffers (see below); ask for the whole length only then: the helper
	 * call costs about 4 ns a frame (bench_classify). */
	if (len >= XSNAP_LINEAR_CHECK)
		len = bpf_xdp_get_buff_len(ctx);

	/*
	 * A frame in several buffers.  Without frags support (SEC("xdp"))
	 * no driver hands us one: native mode refuses MTUs that would need it
	 * (veth: ERANGE, see steer_attach()), generic mode linearises.  Only
	 * test runs of long frames make them.  Its headers might be split and
	 * an AF_XDP socket without XDP_USE_SG drops it, so it is not
	 * classified at all.  (Pointer plus bounded length against data_end:
	 * the verifier's own bounds-check shape.)
	 */
	if (len > 0xffff || (void *)(long)ctx->data + len > (void *)(long)ctx->data_end)
		return verdict(XSNAP_R_TOO_BIG, XDP_PASS);

	if (!fast_classify(ctx, &pkt, &m)) {
		err = xsnap_parse_ctx(ctx, &pkt);
		if (err)
			return verdict(-err, XDP_PASS);
		/* how the frame was read, counted whatever its verdict */
		if (pkt.frag)
			count(XSNAP_R_FRAGMENT);
		if (pkt.l4_bad)
			count(XSNAP_R_BAD_L4);
		if (pkt.tiny_frag)
			count(XSNAP_R_TINY_FRAG);
		if (pkt.l4_unknown)
			count(XSNAP_R_L4_UNKNOWN);
		classify(&pkt, &m, ctx->rx_queue_index);
		if (xsnap_fast_probe)
			return XDP_ABORTED;
	}

	/* Lower prio wins; on a tie the stop (drop/pass) rule wins.  With no
	 * deliver match, deliver_prio is XSNAP_PRIO_NONE and any stop wins. */
	if (m.stop_prio != XSNAP_PRIO_NONE && m.stop_prio <= m.deliver_prio)
		return stop(m.stop_action);
	if (m.deliver_prio != XSNAP_PRIO_NONE)
		return deliver(ctx, &pkt, &m, len);
	return verdict(XSNAP_R_NOMATCH, XDP_PASS);
}

/*
 * No libxdp run config (.xdp_run_config): its defaults, priority 50 and
 * "chain on XDP_PASS", are what we want behind the dispatcher, and libbpf
 * logs "skipping unrecognized data section" on every open of an object that
 * carries one.
 */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
