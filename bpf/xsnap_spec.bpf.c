// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_spec: the XDP classifier specialised for one rule set.
 *
 * The commonest rule sets ("udp dst port 9000", a few services of one
 * shape) have one mask group that matches on nothing but the protocol, the
 * ports (exact) and maybe the address family, and a handful of keys.  For
 * such a set libxsnap compiles the keys and their merged values into this
 * program as load-time constants (.rodata, frozen: the verifier knows every
 * value and removes the branches they rule out) together with the tenant
 * slots in use, loads it at the bank flip and puts it into slot
 * XSNAP_JMP_SPEC of the general program's jump table (steer_apply()).  The
 * general program's entry jumps here first.
 *
 * A frame of the fast path's kind (untagged IPv4 without options and not a
 * fragment, or untagged IPv6 with UDP or TCP as its next header; a UDP or
 * TCP header the parser reads in full: see fast_classify() in
 * xsnap_steer.bpf.c) of the set's family is classified by comparing one
 * 8-byte word with each key: no rule, cache or configuration lookup.  The
 * answer is the general path's: the same key bytes (xsnap_make_key()), the
 * same merge and precedence, the same counters and metadata.  Every other
 * frame goes on to the general program (slot XSNAP_JMP_GENERAL), which
 * classifies it against the live bank, holding the same rule set.
 *
 * A rule change replaces this program as a whole: the next set's program
 * (or none) goes into the slot before the change returns, and the wait for
 * readers after the flip covers frames in this one (steer_apply()).
 */
#include "xsnap_steer.h"

/* Keys a specialised program holds at most; larger sets stay general. */
#define XSNAP_SPEC_KEYS 16

/* The rule set, written by libxsnap before load (steer.c, spec_load()). */
const volatile __u32 xsnap_spec_fields = 0;	/* the group's XSNAP_F_* bits */
const volatile __u32 xsnap_spec_fam = 0;	/* 4 or 6 with XSNAP_F_L3 */
const volatile __u32 xsnap_spec_nkeys = 0;	/* keys used, <= XSNAP_SPEC_KEYS */
/* each key's first 8 bytes as xsnap_make_key() writes them, bank byte 0:
 * the rest of such a key is zero */
const volatile __u64 xsnap_spec_word[XSNAP_SPEC_KEYS] = {};
/* each key's value, its tenant mask cut to the slots in use */
const volatile struct xsnap_rule_val xsnap_spec_val[XSNAP_SPEC_KEYS] = {};

/*
 * The implicit outcome (0: none).  A frame this program delivers to
 * exactly the tenants xsnap_spec_impl_mask by rule xsnap_spec_impl_id is
 * redirected bare, without the metadata (whose bpf_xdp_adjust_head() and
 * stores are a third of this program's cost on the CPU that runs the
 * receive path); the engine writes the metadata in front of it.  The
 * engine tells such a frame from one with metadata by the magic word at
 * the descriptor's byte 28 (the metadata's last field when it is the
 * packet's head): a frame whose own bytes 28..31 are the magic is never
 * sent bare.  It knows which rule set's outcome a bare frame has by the
 * frame's position in the rx ring: libxsnap loads this program with an
 * outcome only when the metadata is the packet's head, no queue groups and
 * no XDP stamps, and installs it only after the previous set's frames are
 * all in the ring and the engine has the ring position from which bare
 * frames have this outcome (steer_apply(), engine_impl_switch()).
 */
const volatile __u32 xsnap_spec_impl = 0;
const volatile __u32 xsnap_spec_impl_mask = 0;
const volatile __u32 xsnap_spec_impl_id = 0;

/* Tests only: a frame this program does not serve ends in XDP_ABORTED,
 * uncounted, instead of going on to the general program. */
const volatile __u32 xsnap_spec_probe = 0;

/* The general program, for a frame this one does not serve. */
static __always_inline int general(struct xdp_md *ctx)
{
	if (xsnap_spec_probe)
		return XDP_ABORTED;
	bpf_tail_call(ctx, &xsnap_jmp, XSNAP_JMP_GENERAL);
	/* Cannot happen: libxsnap fills the general slot before it ever
	 * fills this program's, and the table lives as long as both. */
	return verdict(XSNAP_R_NOMATCH, XDP_PASS);
}

SEC("xdp")
int xsnap_spec(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct ethhdr *eth = data;
	struct xsnap_match m = {
		.deliver_prio = XSNAP_PRIO_NONE,
		.stop_prio = XSNAP_PRIO_NONE,
	};
	struct xsnap_pkt pkt;	/* deliver() reads the five fields set below */
	__u32 fam, rem = 0, l4_off, i;
	__u64 len, word;
	const __u8 *l4;
	__u8 proto = 0;
	int bare = 0;

	/* a frame that may have more buffers: the general program's case */
	len = (__u64)(data_end - data);
	if (len >= XSNAP_LINEAR_CHECK || (const void *)(eth + 1) > data_end)
		return general(ctx);
	fam = fast_l3(eth, data_end, &proto, &rem);
	if (!fam || ((xsnap_spec_fields & XSNAP_F_L3) && fam != xsnap_spec_fam))
		return general(ctx);
	l4_off = sizeof(*eth) + (fam == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));
	l4 = (const __u8 *)data + l4_off;
	if (!fast_l4(l4, data_end, proto, rem) || (const void *)(l4 + 4) > data_end)
		return general(ctx);

	word = fast_word(xsnap_spec_fields, fam, proto, l4);

	/* the slots in use are in the values already; queue groups still
	 * mask by the frame's queue */
	m.active = queue_tenants(~0u, ctx->rx_queue_index);
#pragma clang loop unroll(full)
	for (i = 0; i < XSNAP_SPEC_KEYS; i++) {
		if (i >= xsnap_spec_nkeys)
			break;
		if (xsnap_spec_word[i] == word) {
			merge(&m, (const struct xsnap_rule_val *)&xsnap_spec_val[i]);
			break;
		}
	}

	if (xsnap_spec_impl && m.mask == xsnap_spec_impl_mask &&
	    m.deliver_id == xsnap_spec_impl_id &&
	    (const __u8 *)data + sizeof(struct xsnap_meta) <= (const __u8 *)data_end &&
	    *(const __u32 *)((const __u8 *)data + __builtin_offsetof(struct xsnap_meta, magic)) !=
		    XSNAP_META_MAGIC)
		bare = 1;
	pkt.l3_proto = (__u8)fam;
	pkt.proto = proto;
	pkt.vlan = 0;
	pkt.l3_off = sizeof(*eth);
	pkt.l4_off = (__u16)l4_off;
	return decide(ctx, &pkt, &m, len, bare);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
