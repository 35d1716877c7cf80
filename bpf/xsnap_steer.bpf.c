// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_steer: the XDP classifier in front of the snapshot store.
 *
 * Every frame is parsed (bpf/xsnap_parse.h, shared with userspace), then
 * looked up in the live bank of compiled rules: one hash lookup per mask
 * group (tuple-space search, see <xsnap/abi.h>), each answered first by a
 * per-CPU exact-match cache; the commonest rule set and frame take a
 * shorter path to the same answer (fast_classify()), and such a rule set
 * with few keys gets a program of its own (bpf/xsnap_spec.bpf.c), which
 * the entry point jumps to first (xsnap_steer() below).  The matching rules
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
#include "xsnap_steer.h"

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
	__u32 zero = 0, fam, rem = 0, fields, bank, l4_off;
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
	if (!fast_l4(l4, data_end, proto, rem))
		return 0;

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

	if ((const void *)(l4 + 4) > data_end)
		return 0;	/* checked above; again for the verifier */
	word = (__u64)bank | fast_word(fields, fam, proto, l4);
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

/* Everything but the jump to the specialised program: see xsnap_steer(). */
static __always_inline int steer_general(struct xdp_md *ctx)
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

	return decide(ctx, &pkt, &m, len, 0);
}

/*
 * The entry point.  When the live rule set has a specialised program
 * (bpf/xsnap_spec.bpf.c: the rule set's few keys compiled into it as
 * constants, loaded by libxsnap at the bank flip), jump to it: it
 * classifies the commonest frames with no map lookup, and hands every
 * other frame to xsnap_general() below.  With the slot empty (rule sets it
 * does not serve, benchmarks of this path, a kernel that refuses the jump)
 * the tail call falls through at the cost of a patched jump.
 */
SEC("xdp")
int xsnap_steer(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &xsnap_jmp, XSNAP_JMP_SPEC);
	return steer_general(ctx);
}

/* The frames the specialised program does not serve: xsnap_steer() without
 * the jump (which would loop).  Lives in slot XSNAP_JMP_GENERAL. */
SEC("xdp")
int xsnap_general(struct xdp_md *ctx)
{
	return steer_general(ctx);
}

/*
 * No libxdp run config (.xdp_run_config): its defaults, priority 50 and
 * "chain on XDP_PASS", are what we want behind the dispatcher, and libbpf
 * logs "skipping unrecognized data section" on every open of an object that
 * carries one.
 */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
