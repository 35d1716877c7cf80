// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "testlib.h"

#define MAX_CASES 512

static struct test_case cases[MAX_CASES];
static int ncases;
int test_failed;

void test_register(const char *name, void (*fn)(void))
{
	if (ncases < MAX_CASES)
		cases[ncases++] = (struct test_case){ name, fn };
}

int test_main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--list")) {
		for (int i = 0; i < ncases; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc > 1) {
		for (int i = 0; i < ncases; i++) {
			if (strcmp(cases[i].name, argv[1]))
				continue;
			cases[i].fn();
			return test_failed ? 1 : 0;
		}
		fprintf(stderr, "%s: no test case '%s' (try --list)\n", argv[0], argv[1]);
		return 2;
	}
	int failed = 0;
	for (int i = 0; i < ncases; i++) {
		test_failed = 0;
		cases[i].fn();
		printf("%s %s\n", test_failed ? "FAIL" : "PASS", cases[i].name);
		failed += test_failed;
	}
	return failed ? 1 : 0;
}
