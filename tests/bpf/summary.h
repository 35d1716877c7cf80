/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One-line results of the classifier tests, collected in
 * $OUTPUT/test-logs/classify-summary.txt (the runner shows a case's output
 * only when it fails; this file keeps the numbers of passing cases).  Each
 * line is "KEY: TEXT"; writing a KEY replaces the line an earlier run left,
 * so the file always holds the latest value of every key.  Without OUTPUT
 * nothing is written.  Header-only: shared by the test programs of
 * tests/bpf/, each of which is built on its own.
 */
#ifndef XSNAP_TEST_SUMMARY_H
#define XSNAP_TEST_SUMMARY_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((format(printf, 2, 3))) static inline void summary_put(const char *key,
								      const char *fmt, ...)
{
	const char *out = getenv("OUTPUT");
	char dir[4096], path[4200], tmp[4300], line[1024], text[900];
	size_t klen = strlen(key);
	FILE *in, *o;
	va_list ap;

	if (!out || !*out)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(dir, sizeof(dir), "%s/test-logs", out);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/classify-summary.txt", dir);
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	o = fopen(tmp, "w");
	if (!o)
		return;
	in = fopen(path, "r");
	while (in && fgets(line, sizeof(line), in))
		if (strncmp(line, key, klen) || line[klen] != ':')
			fputs(line, o);
	if (in)
		fclose(in);
	fprintf(o, "%s: %s\n", key, text);
	if (fclose(o) || rename(tmp, path))
		unlink(tmp);
}

#endif
