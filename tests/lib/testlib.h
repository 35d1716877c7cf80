/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Minimal test harness shared by every C test program.
 *
 * A test program holds several named cases.  `prog --list` prints their
 * names, one per line; `prog NAME` runs one case and exits 0 (pass), 1
 * (fail) or 77 (skip).  tests/run.sh runs each case in its own process with
 * a timeout and prints PASS/FAIL/SKIP lines, so a crash or a leak in one case
 * never hides another.  `prog` alone runs every case in-process (debugging).
 *
 *	TEST(parse_ipv4) { CHECK(x == 1); CHECK_EQ(a, b); }
 *	TEST_MAIN()
 */
#ifndef XSNAP_TESTLIB_H
#define XSNAP_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#define TEST_SKIP_CODE 77

struct test_case {
	const char *name;
	void (*fn)(void);
};

void test_register(const char *name, void (*fn)(void));
int test_main(int argc, char **argv);
/* Set by CHECK failures; a case fails if any check failed. */
extern int test_failed;

#define TEST(NAME)                                                                     \
	static void test_##NAME(void);                                                 \
	__attribute__((constructor)) static void test_reg_##NAME(void)                 \
	{                                                                              \
		test_register(#NAME, test_##NAME);                                     \
	}                                                                              \
	static void test_##NAME(void)

#define TEST_MAIN()                                                                    \
	int main(int argc, char **argv)                                                \
	{                                                                              \
		return test_main(argc, argv);                                          \
	}

/* Record a failure and go on. */
#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			test_failed = 1;                                               \
		}                                                                      \
	} while (0)

/* Record a failure and return from the test function. */
#define REQUIRE(cond)                                                                  \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
			test_failed = 1;                                               \
			return;                                                        \
		}                                                                      \
	} while (0)

#define CHECK_EQ(a, b)                                                                 \
	do {                                                                           \
		long long _a = (long long)(a), _b = (long long)(b);                    \
		if (_a != _b) {                                                        \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
				__FILE__, __LINE__, #a, _a, #b, _b);                   \
			test_failed = 1;                                               \
		}                                                                      \
	} while (0)

/* Skip the current case (exit code 77) with a reason. */
#define SKIP(...)                                                                      \
	do {                                                                           \
		fprintf(stdout, "SKIP reason: ");                                      \
		fprintf(stdout, __VA_ARGS__);                                          \
		fprintf(stdout, "\n");                                                 \
		fflush(stdout);                                                        \
		exit(TEST_SKIP_CODE);                                                  \
	} while (0)

#endif
