// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the xsnapd wire protocol codec (userspace/lib/proto.c),
 * the code that reads every byte a client sends to the daemon.
 *
 * Any input is parsed as a message and its body read as every op's field
 * layout in turn; parsing must never read past the input (ASan), a
 * successfully parsed string must be printable and NUL-terminated, and a
 * message rebuilt from the parsed fields must parse back to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static uint8_t msg[XP_MAX_MSG], out[XP_MAX_MSG];

static void check_str(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xp_msg m, b, r;
	char s1[64], s2[XP_STR_MAX + 1], t1[64], t2[XP_STR_MAX + 1];
	uint32_t u;
	uint64_t v;
	int len;

	if (size > sizeof(msg))
		return 0;
	memcpy(msg, data, size);
	if (xp_parse(&m, msg, size, 0) && m.err)
		return 0;	/* refused before any field is read */
	/* SOCKET-like: str, str, u32, u32 */
	m.off = sizeof(struct xp_hdr);
	m.err = false;
	xp_get_str(&m, s1, sizeof(s1), false);
	xp_get_str(&m, s2, sizeof(s2), true);
	u = xp_get_u32(&m);
	v = xp_get_u64(&m);
	if (!m.err) {
		check_str(s1, sizeof(s1));
		check_str(s2, sizeof(s2));
		xp_begin(&b, out, sizeof(out), XP_SOCKET, 0);
		xp_put_str(&b, s1);
		xp_put_str(&b, s2);
		xp_put_u32(&b, u);
		xp_put_u64(&b, v);
		len = xp_end(&b, 0);
		if (len < 0 || xp_parse(&r, out, (size_t)len, 0))
			abort();
		xp_get_str(&r, t1, sizeof(t1), false);
		xp_get_str(&r, t2, sizeof(t2), true);
		if (strcmp(s1, t1) || strcmp(s2, t2) || xp_get_u32(&r) != u ||
		    xp_get_u64(&r) != v || xp_done(&r))
			abort();
	}
	/* integers only, then the stats layout */
	m.off = sizeof(struct xp_hdr);
	m.err = false;
	while (!m.err)
		xp_get_u8(&m);
	(void)xp_done(&m);
	return 0;
}
