// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the rule language.
 *
 * Any input must be either refused with -EINVAL and a message, or parsed
 * into a rule whose canonical text parses back to the same rule.  Crashes,
 * sanitizer reports, leaks and timeouts fail the run.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[512], err[256], text[512], err2[256];
	struct rule a, b;
	int r;

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	memset(&a, 0, sizeof(a));
	r = rule_parse(in, &a, err, sizeof(err));
	if (r) {
		if (r != -EINVAL || !err[0])
			abort();	/* every refusal is EINVAL with a message */
		return 0;
	}
	if (rule_format(&a, text, sizeof(text)) < 0)
		abort();
	memset(&b, 0, sizeof(b));
	if (rule_parse(text, &b, err2, sizeof(err2)) || memcmp(&a, &b, sizeof(a)))
		abort();	/* canonical text must round-trip */
	return 0;
}
