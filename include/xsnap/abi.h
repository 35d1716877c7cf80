/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * xsnap kernel/user contract.
 *
 * The one place where the layout of everything shared between the XDP
 * program (bpf/xsnap_steer.bpf.c), libxsnap and the tools is defined: map
 * keys and values, the metadata written in front of every steered frame,
 * limits and reason codes.  Both sides include this file; nothing here is
 * re-declared elsewhere.  Layout rules: fixed-width types only, explicit
 * padding, natural alignment, no pointers, bool, bitfields or enum-typed
 * members.  Any layout change bumps XSNAP_ABI_VERSION, and a changed map
 * layout also gets a new map name so an old pinned map is never misread.
 * userspace/lib/abi_check.c pins every size and offset with _Static_assert.
 */
#ifndef XSNAP_ABI_H
#define XSNAP_ABI_H

#include <linux/types.h>

#define XSNAP_ABI_VERSION	3	/* 3: xsnap_bank has L4_ANY groups (map _v3) */

/* Limits. */
#define XSNAP_MAX_TENANTS	32	/* one bit each in a __u32 tenant mask */
#define XSNAP_MAX_QUEUES	64	/* entries of the XSKMAP */
#define XSNAP_MAX_GROUPS	16	/* distinct rule shapes (mask groups) per bank */
#define XSNAP_MAX_L4ANY_GROUPS	16	/* their drop rules' L4-less shapes (XSNAP_F_L4_ANY) */
#define XSNAP_BANK_GROUPS	(XSNAP_MAX_GROUPS + XSNAP_MAX_L4ANY_GROUPS)
#define XSNAP_MAX_RULES		16384	/* compiled keys per bank */
#define XSNAP_PORTS		65536	/* entries per bank of the port class table */
#define XSNAP_MAX_VLAN_DEPTH	2	/* 802.1Q / 802.1ad tags parsed */
#define XSNAP_MAX_IPV6_EXT	6	/* IPv6 extension headers skipped */
#define XSNAP_META_MAGIC	0x78736e31u	/* "xsn1" */

/*
 * Frame metadata, written by the XDP program with bpf_xdp_adjust_meta()
 * right in front of the packet data.  The kernel caps metadata at 32 bytes;
 * this struct is exactly that.  In AF_XDP copy mode the kernel copies the
 * metadata area along with the frame, so it reaches the UMEM in every mode.
 * On a kernel that refuses that helper to XDP programs, the program writes
 * it as the packet's first 32 bytes instead and libxsnap's engine skips
 * them: in the UMEM it sits right in front of the frame either way.
 */
struct xsnap_meta {
	__u64 rx_ns;		/* bpf_ktime_get_ns() at classification (CLOCK_MONOTONIC)
				 * when the program stamps frames; 0: the engine
				 * stamps them when it takes them from the rx ring */
	__u32 tenant_mask;	/* bit t set: tenant slot t receives the frame */
	__u32 rule_id;		/* id of the best-priority deliver rule that matched */
	__u32 flow_hash;	/* xsnap_flow_hash() of the 5-tuple, or 0: the engine
				 * computes it when a tenant splits by flow */
	__u16 l3_off;		/* offset of the IPv4/IPv6 header from packet start */
	__u16 l4_off;		/* offset of the L4 header, 0 if none or fragment */
	__u16 vlan;		/* outermost VLAN id, 0 if untagged */
	__u8 l4_proto;		/* IPPROTO_* of the L4 header found, 0 if none */
	__u8 l3_proto;		/* 4, 6, or 0 */
	__u32 magic;		/* XSNAP_META_MAGIC: lets userspace tell our metadata apart */
};

/*
 * Rules.  Rules are compiled by libxsnap into "mask groups" (tuple-space
 * search): every rule with the same shape (which fields it matches, which
 * prefix lengths) belongs to one group.  For each active group the program
 * masks the frame's fields with the group's masks, builds a struct
 * xsnap_rule_key and does one hash lookup.  Per-frame cost therefore grows
 * with the number of distinct shapes (at most XSNAP_MAX_GROUPS), not with the
 * number of rules.
 *
 * Port ranges.  A group matches a port either exactly (the key holds the
 * port) or by class (XSNAP_F_SPORT_CLASS / XSNAP_F_DPORT_CLASS: the key
 * holds the port's class id).  The compiler cuts 0..65535 into classes at
 * every endpoint of every range rule of the bank, so each range is a union
 * of whole classes and expands into one key per class it covers; exact
 * ports stay raw and add no class.  The program maps the frame's ports to
 * their classes with one lookup in xsnap_ports (once per frame, only when
 * the bank has class groups: XSNAP_BANK_PORT_CLASSES), so the per-frame
 * cost stays one lookup per group plus two.
 *
 * Two banks (0, 1) of groups, keys and port classes exist; xsnap_cfg.bank
 * names the live one.  Userspace writes the idle bank completely, then
 * flips the bank number: a frame reads the bank number once, so it never
 * sees a half applied rule set.  After the flip userspace waits for an RCU
 * grace period (an update of xsnap_sync, a map-in-map, waits for every
 * running program), so once a rule change returns no frame is still being
 * classified with the old set and the old bank may be rewritten.
 */
enum xsnap_field {
	XSNAP_F_PROTO = 1 << 0,	/* L4 protocol */
	XSNAP_F_SPORT = 1 << 1,	/* L4 source port (UDP/TCP) */
	XSNAP_F_DPORT = 1 << 2,	/* L4 destination port (UDP/TCP) */
	XSNAP_F_SRC = 1 << 3,	/* source address prefix (src_plen bits) */
	XSNAP_F_DST = 1 << 4,	/* destination address prefix (dst_plen bits) */
	XSNAP_F_VLAN = 1 << 5,	/* outermost VLAN id */
	XSNAP_F_L3 = 1 << 6,	/* address family (4 or 6); implied by SRC/DST */
	XSNAP_F_SPORT_CLASS = 1 << 7,	/* with SPORT: key.sport is the port's class id */
	XSNAP_F_DPORT_CLASS = 1 << 8,	/* with DPORT: key.dport is the port's class id */
	XSNAP_F_L4_ANY = 1 << 9,	/* frames whose protocol and ports are unknown only
					 * (an IPv6 chain not followed to its end): the
					 * group holds drop rules with protocol or port
					 * terms, those terms left out (fail closed) */
};

/* xsnap_bank.flags */
enum xsnap_bank_flag {
	XSNAP_BANK_PORT_CLASSES = 1 << 0,	/* a group matches ports by class */
};

enum xsnap_action {
	XSNAP_ACT_DELIVER = 0,	/* deliver to the rule's tenant */
	XSNAP_ACT_DROP = 1,	/* XDP_DROP, counted */
	XSNAP_ACT_PASS = 2,	/* XDP_PASS to the kernel stack */
};

struct xsnap_group {
	__u32 fields;		/* XSNAP_F_* bits this group matches on */
	__u8 l3_proto;		/* 4 or 6 when SRC/DST/L3 is set, else 0 */
	__u8 src_plen;		/* prefix length for SRC (0..32 or 0..128) */
	__u8 dst_plen;		/* prefix length for DST */
	__u8 pad;
};

/*
 * Value of the xsnap_groups_v3 array map: one entry per bank.  The rule
 * shapes come first; after them, for frames whose L4 is unknown
 * (l4_unknown in bpf/xsnap_parse.h), the shapes of the bank's drop rules
 * that have protocol or port terms, without those terms (XSNAP_F_L4_ANY):
 * such a frame might be what the rule drops, so the rule drops it when its
 * other terms match.  A frame whose L4 is known looks up the first ngroups
 * only.
 */
struct xsnap_bank {
	__u32 ngroups;		/* groups[0..ngroups): the rule shapes */
	__u32 flags;		/* XSNAP_BANK_* */
	__u32 nl4any;		/* groups[ngroups..ngroups+nl4any): XSNAP_F_L4_ANY shapes */
	__u32 pad;
	struct xsnap_group groups[XSNAP_BANK_GROUPS];
};

/* Key of the xsnap_rules hash map: the frame's fields after masking. */
struct xsnap_rule_key {
	__u8 bank;		/* 0 or 1 */
	__u8 group;		/* index in the bank's groups[] */
	__u8 l3_proto;		/* 4, 6 or 0, when the group matches addresses */
	__u8 proto;		/* IPPROTO_* or 0 */
	__u16 sport;		/* network order port, or class id (host order) */
	__u16 dport;		/* likewise */
	__u16 vlan;		/* host order, 12-bit id */
	__u16 pad;
	__u8 src[16];		/* masked address: IPv4 uses the first 4 bytes */
	__u8 dst[16];
};

/*
 * Value of the xsnap_rules hash map: every rule of one group with the same
 * masked key, merged.  A frame's verdict comes from the best (lowest) prio
 * over all matching rules: drop/pass applies when its prio is better than or
 * equal to the best matching deliver prio; otherwise the frame goes to the
 * union of the tenants of every matching deliver rule.
 */
struct xsnap_rule_val {
	__u32 tenant_mask;	/* union of the tenants of the deliver rules */
	__u32 deliver_prio;	/* best prio among the deliver rules, ~0 if none */
	__u32 deliver_id;	/* id of that rule */
	__u32 stop_prio;	/* best prio among drop/pass rules, ~0 if none */
	__u32 stop_id;		/* id of that rule */
	__u32 stop_action;	/* XSNAP_ACT_DROP or XSNAP_ACT_PASS */
};

#define XSNAP_PRIO_NONE	0xffffffffu

/*
 * Value of the xsnap_ports array map, index bank * XSNAP_PORTS + port (host
 * order): the port's class as a source and as a destination port, in the
 * bank's partition.  Meaningful only while the bank has
 * XSNAP_BANK_PORT_CLASSES.  The map is mmapable: userspace writes the idle
 * bank's half in place.
 */
struct xsnap_port_class {
	__u16 sport;
	__u16 dport;
	__u32 pad;		/* 8 bytes: the array's element size, so an mmap of
				 * the map is an array of this struct */
};

/* Value of the single-entry xsnap_cfg array map. */
struct xsnap_cfg {
	__u32 bank;		/* live bank, 0 or 1 */
	__u32 tenants;		/* mask of tenant slots in use; others are ignored */
	__u32 abi_version;	/* XSNAP_ABI_VERSION of the writer */
	__u32 gen;		/* rule-set generation: changes with every flip, and
				 * the contents of a bank change only while it is
				 * idle; the program's exact-match cache trusts
				 * entries of the frame's generation only */
};

/*
 * Reason codes.  The program's helpers return 0 or a negative reason; the
 * entry point turns the final reason into a verdict and bumps the per-CPU
 * counter xsnap_cnt[reason].  Every frame bumps exactly one final reason;
 * XSNAP_R_FRAGMENT, XSNAP_R_BAD_L4, XSNAP_R_TINY_FRAG and XSNAP_R_L4_UNKNOWN
 * describe how a classified frame was read and are counted in addition to
 * its final reason (deliver, nomatch, rule_pass, rule_drop, ...).
 */
enum xsnap_reason {
	XSNAP_R_DELIVER = 0, /* redirected to the queue's AF_XDP socket */
	XSNAP_R_NOMATCH, /* no rule matched: XDP_PASS */
	XSNAP_R_RULE_PASS, /* a pass rule won: XDP_PASS */
	XSNAP_R_RULE_DROP, /* a drop rule won: XDP_DROP */
	XSNAP_R_SHORT_L2, /* shorter than an Ethernet header: XDP_PASS */
	XSNAP_R_NON_IP, /* ethertype neither IPv4 nor IPv6 (incl. < 0x600): XDP_PASS */
	XSNAP_R_VLAN_DEEP, /* more than XSNAP_MAX_VLAN_DEPTH tags: XDP_PASS */
	XSNAP_R_BAD_L3, /* truncated IP header, IHL < 5, bad lengths: XDP_PASS */
	XSNAP_R_BAD_L4, /* in addition: truncated UDP/TCP header, bad doff/len (a first
			 * fragment: fewer than 4 bytes): classified without ports */
	XSNAP_R_IPV6_EXT, /* truncated extension header (not in a first fragment's
			   * fragmentable part): XDP_PASS */
	XSNAP_R_NO_SOCKET, /* matched, but no AF_XDP socket on this queue: XDP_PASS */
	XSNAP_R_META, /* writing the metadata failed (adjust_meta/_head): XDP_PASS */
	XSNAP_R_FRAGMENT, /* non-first IPv4/IPv6 fragment: L3-only match */
	XSNAP_R_TOO_BIG, /* deliver verdict, but longer than a UMEM frame can hold
				 * (xsnap_max_frame): XDP_PASS rather than a silent drop
				 * in the AF_XDP receive path */
	XSNAP_R_TINY_FRAG, /* in addition: a first fragment whose UDP/TCP header goes
			    * on in the next fragment: classified by its ports */
	XSNAP_R_L4_UNKNOWN, /* in addition: an IPv6 chain longer than XSNAP_MAX_IPV6_EXT
			     * or cut by a first fragment after its Fragment header:
			     * protocol and ports unknown; drop rules with L4 terms
			     * apply on their other terms (XSNAP_F_L4_ANY) */
	XSNAP_R_MAX,
};

/* Per-tenant per-CPU counters (xsnap_tcnt, indexed by tenant slot). */
struct xsnap_tenant_cnt {
	__u64 frames;		/* frames redirected with this tenant in the mask */
	__u64 bytes;
};

/*
 * Slots of the program's jump table (xsnap_jmp, a program array): the
 * program specialised for the live rule set, which the entry point jumps
 * to when present, and the general classifier, to which the specialised
 * program hands the frames it does not serve.
 */
enum xsnap_jmp_slot {
	XSNAP_JMP_SPEC = 0,
	XSNAP_JMP_GENERAL = 1,
	XSNAP_JMP_MAX,
};

/* Map names, at most 15 characters (the kernel truncates object names). */
#define XSNAP_MAP_XSKS		"xsnap_xsks"
#define XSNAP_MAP_CFG		"xsnap_cfg"
#define XSNAP_MAP_GROUPS	"xsnap_groups_v3"	/* v3: L4_ANY groups after the shapes */
#define XSNAP_MAP_RULES		"xsnap_rules"
#define XSNAP_MAP_PORTS		"xsnap_ports"
#define XSNAP_MAP_SYNC		"xsnap_sync"
#define XSNAP_MAP_CNT		"xsnap_cnt"
#define XSNAP_MAP_TCNT		"xsnap_tcnt"

/*
 * Flow hash shared by the program and userspace (share-mode sockets split
 * a tenant's frames by it).  Symmetric: both directions of a flow hash alike.
 */
static inline __u32 xsnap_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352dU;
	h ^= h >> 15;
	h *= 0x846ca68bU;
	h ^= h >> 16;
	return h;
}

#endif /* XSNAP_ABI_H */
