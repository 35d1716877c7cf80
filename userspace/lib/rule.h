/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Rule language and rule compiler (internal to libxsnap).
 *
 * rule_parse() turns a match string into a struct rule; rule_compile() turns
 * a set of rules into one bank of mask groups and hash-map entries in the
 * layout of <xsnap/abi.h> (struct xsnap_bank, xsnap_rule_key/val).
 *
 * The match language (all words lower case, separated by white space):
 *
 *	match  := term { "and" term } [ "action" ( "deliver" | "drop" | "pass" ) ]
 *	term   := ( "udp" | "tcp" ) [ port ] | "icmp" | "icmp6"
 *		| port
 *		| "ip" ( "src" | "dst" ) A.B.C.D[/LEN]	LEN in 0..32, default 32
 *		| "ip6" ( "src" | "dst" ) X:Y::Z[/LEN]	LEN in 0..128, default 128
 *		| "vlan" N				N in 0..4095
 *	port   := ( "src" | "dst" ) "port" N [ "-" M ]	1 <= N <= M <= 65535
 *
 * As in tcpdump, a port term may directly follow "udp" or "tcp":
 * "udp dst port 53" is "udp and dst port 53".
 *
 * Each field appears at most once (one protocol, one "src port", one
 * "ip src" or "ip6 src", ...).  "icmp" means IPv4 protocol 1 and "icmp6"
 * IPv6 protocol 58, so both also fix the address family; "ip" and "ip6"
 * terms, "icmp" with "ip6" and "icmp6" with "ip" cannot be combined.  A
 * port term needs "udp" or "tcp" in the same rule (the protocol is part of
 * the key; "udp or tcp" takes two rules).  "vlan N" matches the outermost
 * tag; an untagged frame matches no vlan term, "vlan 0" matches
 * priority-tagged frames (bpf/xsnap_parse.h, xsnap_make_key()).
 * Host bits beyond the prefix (10.1.2.3/8) are accepted and cleared.
 * "dst port N-M" matches N..M inclusive; "N-N" is the single port N.
 *
 * Classification (struct xsnap_rule_val in abi.h): among the rules matching
 * a frame, a drop/pass rule wins when its prio is lower than or equal to the
 * best matching deliver prio (between stop rules: lower prio, then lower
 * id); otherwise the frame goes to the union of the tenants of every
 * matching deliver rule, reported with the id of the best deliver rule
 * (lower prio, then lower id).
 *
 * What a frame offers (bpf/xsnap_parse.h): a port term needs the frame's
 * ports (UDP/TCP, read whole, or the first 4 bytes of a first fragment's
 * header); a frame whose UDP/TCP header cannot be read, and a non-first
 * fragment, match only rules without port terms.  A frame whose protocol
 * and ports are unknown (l4_unknown: an IPv6 extension chain longer than
 * the parser follows, or cut by a first fragment after its Fragment
 * header) matches rules without protocol or port terms, and drop rules
 * with such terms when their other terms match: it might be what they
 * drop (fail closed).  The compiler gives every such drop rule a stand-in
 * without those terms in a group of XSNAP_F_L4_ANY.
 */
#ifndef XSNAP_RULE_H
#define XSNAP_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xsnap/abi.h>

struct rule {
	uint32_t id;		/* > 0, assigned by the caller, unique */
	uint32_t prio;		/* lower first; XSNAP_PRIO_NONE is reserved */
	uint32_t tenant;	/* tenant slot, < XSNAP_MAX_TENANTS */
	uint32_t action;	/* XSNAP_ACT_* */
	uint32_t fields;	/* XSNAP_F_* */
	uint8_t l3_proto;	/* 4 or 6 when XSNAP_F_L3 (set with SRC/DST, icmp, icmp6) */
	uint8_t proto;		/* IPPROTO_* when XSNAP_F_PROTO */
	uint8_t src_plen;	/* when XSNAP_F_SRC: 0..32 (IPv4) or 0..128 (IPv6) */
	uint8_t dst_plen;
	uint16_t sport;		/* host order; first port of a range */
	uint16_t dport;		/* host order; first port of a range */
	uint16_t sport_hi;	/* last port of a range, 0 (or sport) for one port */
	uint16_t dport_hi;
	uint16_t vlan;		/* 0..4095 */
	uint8_t src[16];	/* network order, masked to src_plen; IPv4 in src[0..3] */
	uint8_t dst[16];
};

/*
 * rule_parse() - parse @match into @r.
 * @match: match string in the language above.
 * @r:     rule; id, prio and tenant are left as the caller set them, the
 *         match fields and action are overwritten (action defaults to
 *         XSNAP_ACT_DELIVER).
 * @err:   buffer for an error message, or NULL; @errlen its size.
 *
 * The message quotes the offending word and its 1-based position, e.g.
 * "unknown word 'prot' (word 3)" or "bad port '70000' (word 3): expected
 * 1..65535"; an empty @match gives "empty match".
 *
 * Return: 0, or -EINVAL (errno set too); on error @r is not modified.
 */
int rule_parse(const char *match, struct rule *r, char *err, size_t errlen);

/*
 * rule_format() - canonical text of @r's match into @buf (for `rule list`).
 *
 * Terms come in a fixed order (protocol directly followed by its ports,
 * ip/ip6 src, ip/ip6 dst, vlan), e.g. "udp src port 1 and dst port 2-9 and
 * ip dst 10.0.0.0/8 and vlan 7 action drop".  Prefixes are printed masked
 * and without the default length, a range N-N as the port N; "action
 * drop|pass" is appended for stop rules.  The text parses back with
 * rule_parse() to the same match and action.
 *
 * Return: the length of the text (without the NUL), or -EINVAL (@r is not
 * something rule_parse() produces), -ENOSPC (@len too small; @buf then holds
 * a truncated, NUL-terminated text if @len > 0).  errno is set too.
 */
int rule_format(const struct rule *r, char *buf, size_t len);

struct rule_entry {
	struct xsnap_rule_key key;
	struct xsnap_rule_val val;
};

/*
 * Port classes of one bank: what the program finds in xsnap_ports for that
 * bank.  Class c of a direction is the c-th interval between consecutive
 * range endpoints (first ports, and last ports + 1) of that direction's
 * range rules; without range rules every port is in class 0.
 */
struct rule_ports {
	uint16_t sport[XSNAP_PORTS];	/* class of each source port */
	uint16_t dport[XSNAP_PORTS];	/* class of each destination port */
	uint32_t nsport, ndport;	/* number of classes, >= 1 */
};

/*
 * rule_compile() - compile @n rules into bank @bank.
 * @out:   groups of the bank (ngroups, nl4any and flags set, unused groups
 *         zeroed): the shapes, then the L4_ANY shapes of the drop rules'
 *         stand-ins (see the top of this file), numbered after the shapes.
 * @ents:  array of *@nents capacity; on success *@nents is the number of
 *         distinct keys written (rules with equal group+key are merged as
 *         described at struct xsnap_rule_val), sorted by key bytes.
 * @ports: the bank's port classes, filled on success; may be NULL when no
 *         rule has a port range.
 * @err:   buffer for a message saying why compilation failed, or NULL;
 *         @errlen its size.
 *
 * Shape of a rule = (fields, l3_proto, src_plen, dst_plen, which ports are
 * ranges), normalised: a /0 prefix is no address term, but the family stays
 * (XSNAP_F_L3), so "ip src 0.0.0.0/0" matches every IPv4 frame; every group
 * that matches addresses also has XSNAP_F_L3; a port range (last > first)
 * adds XSNAP_F_SPORT_CLASS / XSNAP_F_DPORT_CLASS.  Groups are numbered in
 * order of their best rule (lowest prio, then id).  Keys are built as the
 * XDP program builds them for a frame: zeroed, then bank, group, l3_proto
 * (when the group has L3), proto (PROTO), sport/dport in network order
 * (SPORT/DPORT) or their class (with the CLASS bit), vlan in host order
 * (VLAN), src/dst masked to the group's prefix (IPv4 in the first 4
 * bytes).  A range rule gets one key per class its range covers (the
 * product for a source and a destination range): with R range endpoints a
 * range covers at most R + 1 classes.  A frame without L4 ports (not
 * UDP/TCP, non-first fragment) can never match a group with SPORT or
 * DPORT: rules with port 0 are refused, so a program that puts 0 there and
 * one that skips the group give the same verdicts.  @out->flags has
 * XSNAP_BANK_PORT_CLASSES when a group has a CLASS bit.
 *
 * Return: 0, or -ENOSPC (more than XSNAP_MAX_GROUPS shapes, or more keys,
 * stand-ins included, than min(*@nents, XSNAP_MAX_RULES)), -EINVAL (bad argument or rule: id 0,
 * prio XSNAP_PRIO_NONE, tenant or action out of range, unknown field bits,
 * l3_proto not 4/6 with an address field, prefix too long, port 0, range
 * last port below the first, vlan > 4095, bank > 1; a range and no
 * @ports), -ENOMEM.  errno is set too.  On error nothing is written but
 * the message.
 */
int rule_compile(const struct rule *rules, unsigned int n, uint8_t bank, struct xsnap_bank *out,
		 struct rule_entry *ents, unsigned int *nents, struct rule_ports *ports, char *err,
		 size_t errlen);

/*
 * rule_mask_addr() - copy @bytes bytes of @src to @dst, keeping only the
 * first @plen bits (@plen larger than 8 * @bytes keeps all).  @dst may be
 * @src.
 */
void rule_mask_addr(uint8_t *dst, const uint8_t *src, unsigned int plen, unsigned int bytes);

/*
 * A parsed frame, as the XDP program sees it: the input of the test oracles
 * below.
 */
struct rule_frame {
	uint8_t l3_proto;	/* 4, 6, or 0 (not IP) */
	uint8_t proto;		/* IPPROTO_* of the L4 header, 0 if none */
	uint8_t has_ports;	/* sport/dport valid: UDP or TCP, not a non-first fragment */
	uint8_t has_vlan;	/* at least one VLAN tag */
	uint8_t l4_unknown;	/* protocol and ports unknown (an IPv6 chain not followed
				 * to its end): rules with protocol or port terms do not
				 * match it, except drop rules, which match it on their
				 * other terms (fail closed) */
	uint8_t pad;
	uint16_t vlan;		/* outermost VLAN id (when has_vlan) */
	uint16_t sport;		/* host order */
	uint16_t dport;		/* host order */
	uint8_t src[16];	/* IPv4 in src[0..3]; the other bytes are ignored */
	uint8_t dst[16];
};

/*
 * rule_ref_classify() - reference classifier (test oracle): evaluate @rules
 * one by one against @f with the semantics described at the top of this
 * file; no groups, no keys.
 * @tenant_mask: union of the tenants for a deliver verdict, else 0.
 * @rule_id:     best deliver rule for a deliver verdict, the winning
 *               drop/pass rule for a stop verdict, 0 for no match.
 *
 * Return: XSNAP_ACT_DELIVER, XSNAP_ACT_DROP, XSNAP_ACT_PASS, or -1 when no
 * rule matches.
 */
int rule_ref_classify(const struct rule *rules, unsigned int n, const struct rule_frame *f,
		      uint32_t *tenant_mask, uint32_t *rule_id);

/*
 * rule_compiled_classify() - classify @f the way the XDP program does, from
 * rule_compile() output: for each group of @b, mask the frame's fields,
 * map its ports to their classes through @ports for class groups, build
 * the key (bank @bank; a group the frame cannot match is skipped: other
 * family, ports, protocol or VLAN tag missing; the L4_ANY groups serve only
 * frames whose L4 is unknown), look it up in @ents (sorted, as
 * written by rule_compile(); binary search) and combine the values found:
 * union of the tenant masks, best (prio, then id) deliver and stop parts.
 * @ports may be NULL when @b has no XSNAP_BANK_PORT_CLASSES.  Same outputs
 * and return values as rule_ref_classify().
 */
int rule_compiled_classify(const struct xsnap_bank *b, const struct rule_entry *ents,
			   unsigned int n, uint8_t bank, const struct rule_ports *ports,
			   const struct rule_frame *f, uint32_t *tenant_mask, uint32_t *rule_id);

struct xsnap_pkt;
/* rule_frame_of_pkt() - the rule_frame of a frame xsnap_parse() read. */
void rule_frame_of_pkt(const struct xsnap_pkt *p, struct rule_frame *rf);

/*
 * tx_policy_allows() - does frame @d (@len bytes) match one of @rules (a
 * tenant's transmit rules: deliver rules of one tenant)?  Read as the XDP
 * program reads a received frame; one the parser refuses matches none.
 * (txpolicy.c)
 */
bool tx_policy_allows(const struct rule *rules, unsigned int n, const uint8_t *d, uint32_t len);

#endif
