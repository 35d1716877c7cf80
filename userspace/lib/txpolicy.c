// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Transmit policy: the rules a tenant's outgoing frames must match.
 *
 * xsnapd gives each tenant an optional list of rules in the language of
 * receive rules (xsnapctl tenant add --tx-allow MATCH), e.g. "ip src
 * 10.0.0.5 and udp src port 9000".  A frame a client of the tenant sends
 * goes out only if one of them matches it, read the way the XDP program
 * reads a received frame (the same parser, the reference classifier of
 * rule.c): a frame the parser refuses matches none.  The daemon checks its
 * own copy of the frame, which the client cannot change any more.
 */
#include <arpa/inet.h>
#include <string.h>

#include "rule.h"
#include "xsnap_internal.h"
#include "xsnap_parse.h"

void rule_frame_of_pkt(const struct xsnap_pkt *p, struct rule_frame *rf)
{
	memset(rf, 0, sizeof(*rf));
	rf->l3_proto = p->l3_proto;
	rf->proto = p->proto;
	rf->has_ports = p->ports;
	rf->has_vlan = p->nvlan > 0;
	rf->l4_unknown = p->l4_unknown;
	rf->vlan = p->vlan;
	rf->sport = ntohs(p->sport);
	rf->dport = ntohs(p->dport);
	memcpy(rf->src, p->src, 16);
	memcpy(rf->dst, p->dst, 16);
}

bool tx_policy_allows(const struct rule *rules, unsigned int n, const uint8_t *d, uint32_t len)
{
	struct rule_frame rf;
	struct xsnap_pkt p;
	uint32_t mask, id;

	if (xsnap_parse(d, d + len, &p))
		return false;
	rule_frame_of_pkt(&p, &rf);
	return rule_ref_classify(rules, n, &rf, &mask, &id) == XSNAP_ACT_DELIVER;
}
