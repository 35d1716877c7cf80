// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Pins the layout of every struct of <xsnap/abi.h>: a change that moves a
 * field fails the build here, reminding to bump XSNAP_ABI_VERSION (and to
 * rename a map whose layout changed).
 */
#include <stddef.h>

#include <xsnap/abi.h>

#define PIN_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " size changed")
#define PIN_OFF(type, field, off)                                                      \
	_Static_assert(offsetof(type, field) == (off), #type "." #field " moved")

PIN_SIZE(struct xsnap_meta, 32);
PIN_OFF(struct xsnap_meta, rx_ns, 0);
PIN_OFF(struct xsnap_meta, tenant_mask, 8);
PIN_OFF(struct xsnap_meta, rule_id, 12);
PIN_OFF(struct xsnap_meta, flow_hash, 16);
PIN_OFF(struct xsnap_meta, l3_off, 20);
PIN_OFF(struct xsnap_meta, l4_off, 22);
PIN_OFF(struct xsnap_meta, vlan, 24);
PIN_OFF(struct xsnap_meta, l4_proto, 26);
PIN_OFF(struct xsnap_meta, l3_proto, 27);
PIN_OFF(struct xsnap_meta, magic, 28);

PIN_SIZE(struct xsnap_group, 8);
PIN_SIZE(struct xsnap_bank, 16 + 8 * XSNAP_BANK_GROUPS);
PIN_OFF(struct xsnap_bank, flags, 4);
PIN_OFF(struct xsnap_bank, nl4any, 8);
PIN_OFF(struct xsnap_bank, groups, 16);

PIN_SIZE(struct xsnap_rule_key, 44);
PIN_OFF(struct xsnap_rule_key, sport, 4);
PIN_OFF(struct xsnap_rule_key, dport, 6);
PIN_OFF(struct xsnap_rule_key, vlan, 8);
PIN_OFF(struct xsnap_rule_key, src, 12);
PIN_OFF(struct xsnap_rule_key, dst, 28);

PIN_SIZE(struct xsnap_rule_val, 24);
PIN_SIZE(struct xsnap_port_class, 8);
PIN_SIZE(struct xsnap_cfg, 16);
PIN_SIZE(struct xsnap_tenant_cnt, 16);

_Static_assert(XSNAP_R_MAX <= 16, "xsnap_stats.xdp[] holds 16 reasons");
_Static_assert(XSNAP_MAX_TENANTS <= 32, "tenant masks are 32 bits");
_Static_assert(XSNAP_PORTS == 65536, "one port class per 16-bit port");
_Static_assert(XSNAP_BANK_GROUPS <= 256, "the key's group index is a __u8");
_Static_assert(XSNAP_MAX_L4ANY_GROUPS >= XSNAP_MAX_GROUPS,
	       "every shape of drop rules may need an L4_ANY group");
