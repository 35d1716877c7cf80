// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Library messages: one callback, libbpf's levels, warnings to stderr by default. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsnap_internal.h"

static int default_print(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	if (level == XSNAP_DEBUG && !getenv("XSNAP_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static xsnap_print_fn_t print_fn = default_print;

xsnap_print_fn_t xsnap_set_print(xsnap_print_fn_t fn)
{
	xsnap_print_fn_t old = print_fn;

	print_fn = fn;
	return old;
}

void xsnap_pr(enum xsnap_print_level level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;	/* printing must not clobber the errno we report */

	if (print_fn) {
		va_start(ap, fmt);
		print_fn(level, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

int opts_valid(const void *opts, size_t known_sz)
{
	const uint8_t *p = opts;
	size_t sz = *(const size_t *)opts;

	if (sz < sizeof(size_t))
		return 0;
	for (size_t i = known_sz; i < sz; i++)
		if (p[i])
			return 0;
	return 1;
}

static const char *const reason_names[XSNAP_R_MAX] = {
	[XSNAP_R_DELIVER] = "deliver",	   [XSNAP_R_NOMATCH] = "nomatch",
	[XSNAP_R_RULE_PASS] = "rule_pass", [XSNAP_R_RULE_DROP] = "rule_drop",
	[XSNAP_R_SHORT_L2] = "short_l2",   [XSNAP_R_NON_IP] = "non_ip",
	[XSNAP_R_VLAN_DEEP] = "vlan_deep", [XSNAP_R_BAD_L3] = "bad_l3",
	[XSNAP_R_BAD_L4] = "bad_l4",	   [XSNAP_R_IPV6_EXT] = "ipv6_ext",
	[XSNAP_R_NO_SOCKET] = "no_socket", [XSNAP_R_META] = "meta_fail",
	[XSNAP_R_FRAGMENT] = "fragment",   [XSNAP_R_TOO_BIG] = "too_big",
	[XSNAP_R_TINY_FRAG] = "tiny_frag", [XSNAP_R_L4_UNKNOWN] = "l4_unknown",
};

const char *xsnap_reason_str(unsigned int reason)
{
	if (reason >= XSNAP_R_MAX || !reason_names[reason])
		return "unknown";
	return reason_names[reason];
}
