#!/usr/bin/env bash
# shellcheck disable=SC2317 # lab_main calls the t_NAME functions by name
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The fault matrix's judge (tests/lib/matrix.sh, what tests/run.sh uses after
# a run) fed small made-up matrices and results: one case a scoring rule of
# docs/testing.md ("Verdicts").  Run by the unit tier: `bash
# tests/unit/test_matrix.sh --list`, `bash tests/unit/test_matrix.sh NAME`.

# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/harness.sh"
JUDGE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/matrix.sh

# judge [--whole-suite] MATRIX RESULTS: run the judge as tests/run.sh would
# on the matrix text MATRIX and the result lines RESULTS (`PASS|FAIL|SKIP ID
# [(reason)]`); sets out (what it printed), rc (its exit status) and rows
# (the per-row lines it wrote).
judge() {
	local whole=()
	if [[ $1 == --whole-suite ]]; then
		whole=(--whole-suite)
		shift
	fi
	if [[ -z ${T:-} ]]; then
		T=$(mktemp -d "${TMPDIR:-/tmp}/xsnap-test-matrix.XXXXXX")
		trap 'rm -rf "$T"' EXIT
	fi
	printf '%s\n' "$1" >"$T/matrix.txt"
	printf '%s\n' "$2" >"$T/results.txt"
	rc=0
	out=$(bash "$JUDGE" "${whole[@]}" --detail "$T/rows.txt" "$T/matrix.txt" "$T/results.txt") || rc=$?
	rows=$(cat "$T/rows.txt")
}

# row_status ROW: the verdict judge wrote for ROW (passed, failed, skipped,
# not-run, gap, -).
row_status() {
	awk -v r="$1" '$1 == r { print $2 }' <<<"$rows"
}

# has_line TEXT LINE: TEXT holds LINE, a whole line.
has_line() {
	grep -qxF -- "$2" <<<"$1" || _lab_fail_at 1 "no line '$2' in:"$'\n'"$1"
}

# has_no_line_like TEXT PATTERN: no line of TEXT matches the regex PATTERN.
has_no_line_like() {
	! grep -qE -- "$2" <<<"$1" || _lab_fail_at 1 "a line matches '$2' in:"$'\n'"$1"
}

t_unmatched_pattern_fails_a_whole_suite_run() {
	judge --whole-suite \
		"A1 unit/t/a,unit/t/renamed  short frames
A2 unit/t/b  other" \
		"PASS unit/t/a
PASS unit/t/b"
	assert_eq "$rc" 1 "judge's exit status"
	has_line "$out" "FAIL matrix (patterns of $T/matrix.txt that name no case: A1:unit/t/renamed)"
	has_line "$out" "A: 2 rows, 1 passed, 0 failed, 0 skipped, 1 not run, 0 gaps"
	assert_eq "$(row_status A1)" not-run "A1, one pattern without a case"
	assert_eq "$(row_status A2)" passed "A2"
	# a glob that names no case counts as unmatched too
	judge --whole-suite "A1 unit/t/a,bpf/*  x" "PASS unit/t/a"
	assert_eq "$rc" 1 "judge's exit status, glob without a case"
	has_line "$out" "FAIL matrix (patterns of $T/matrix.txt that name no case: A1:bpf/*)"
	# and every pattern naming a case: the run does not fail
	judge --whole-suite "A1 unit/t/a,unit/t/b  x" "PASS unit/t/a
PASS unit/t/b"
	assert_eq "$rc" 0 "judge's exit status, every pattern matched"
	has_no_line_like "$out" '^FAIL'
}

t_unmatched_pattern_is_not_run_in_a_partial_run() {
	judge "A1 unit/t/a,netns/t/lab  x
A2 netns/t/*  y" \
		"PASS unit/t/a"
	assert_eq "$rc" 0 "judge's exit status (-t or --tier run)"
	has_no_line_like "$out" '^FAIL'
	has_line "$out" "A: 2 rows, 0 passed, 0 failed, 0 skipped, 2 not run, 0 gaps"
	assert_eq "$(row_status A1)" not-run "A1"
	assert_eq "$(row_status A2)" not-run "A2"
	grep -qF '1 cases (1 passed, 0 failed, 0 skipped, 1 patterns without a case)' <<<"$rows" ||
		fail "A1's line does not count its case and its missing pattern: $rows"
}

t_row_passes_only_when_every_case_passed() {
	judge --whole-suite \
		"B1 unit/t/x_*,bpf/t/y  all passed
B2 unit/t/z_*  one of them failed
B3 unit/t/w_*  one of them skipped" \
		"PASS unit/t/x_one
PASS unit/t/x_two
PASS bpf/t/y
PASS unit/t/z_one
FAIL unit/t/z_two (exit 1)
PASS unit/t/w_one
SKIP unit/t/w_two (no such device)
PASS unit/t/other"
	assert_eq "$rc" 0 "judge's exit status"
	assert_eq "$(row_status B1)" passed "B1"
	assert_eq "$(row_status B2)" failed "B2"
	assert_eq "$(row_status B3)" skipped "B3"
	has_line "$out" "B: 3 rows, 1 passed, 1 failed, 1 skipped, 0 not run, 0 gaps"
	grep -qE '^B1 +passed +3 cases \(3 passed,' <<<"$rows" ||
		fail "B1 does not count the 3 cases its globs name: $rows"
}

t_skipped_case_skips_the_row_with_its_reason() {
	judge --whole-suite \
		"C1 unit/t/a,unit/t/b  one skipped
C2 unit/t/c,unit/t/d  one skipped, one failed" \
		"PASS unit/t/a
SKIP unit/t/b (zero-copy needs a driver with XDP_ZEROCOPY)
SKIP unit/t/c (no reason here)
FAIL unit/t/d (exit 1)"
	assert_eq "$rc" 0 "judge's exit status: skips do not fail the run"
	assert_eq "$(row_status C1)" skipped "C1"
	assert_eq "$(row_status C2)" failed "C2: a failure outweighs a skip"
	has_line "$out" "C: 2 rows, 0 passed, 1 failed, 1 skipped, 0 not run, 0 gaps"
	grep -E '^C1 ' <<<"$rows" |
		grep -qF 'unit/t/b skipped: zero-copy needs a driver with XDP_ZEROCOPY' ||
		fail "C1's line lacks the skipped case and its reason: $rows"
	has_no_line_like "$(grep -E '^C2 ' <<<"$rows")" 'skipped:'
}

t_failed_case_fails_the_row() {
	judge --whole-suite "D1 unit/t/a,unit/t/b  x" "FAIL unit/t/a (exit 1)
PASS unit/t/b"
	assert_eq "$(row_status D1)" failed "D1"
	has_line "$out" "D: 1 rows, 0 passed, 1 failed, 0 skipped, 0 not run, 0 gaps"
	# the failed case fails the run by itself; the judge adds no second FAIL
	assert_eq "$rc" 0 "judge's exit status"
	has_no_line_like "$out" '^FAIL'
}

t_gap_row_is_listed_not_passed() {
	judge --whole-suite \
		"E1 unit/t/a  x
E8 gap  transmit through the daemon does not exist" \
		"PASS unit/t/a"
	assert_eq "$rc" 0 "judge's exit status"
	assert_eq "$(row_status E8)" gap "E8"
	has_line "$out" "E: 2 rows, 1 passed, 0 failed, 0 skipped, 0 not run, 1 gaps"
	has_line "$out" "gaps (properties xsnap does not have; see the rows): E8"
	grep -E '^E8 ' <<<"$rows" | grep -qF 'transmit through the daemon does not exist' ||
		fail "E8's line does not say what is missing: $rows"
}

t_row_without_a_test_is_warned_about() {
	judge --whole-suite \
		"A1 unit/t/a  x
A2 -  nothing yet
B1 -  nor here" \
		"PASS unit/t/a"
	assert_eq "$rc" 0 "judge's exit status"
	assert_eq "$(row_status A2)" - "A2"
	has_line "$out" "A: 2 rows, 1 passed, 0 failed, 0 skipped, 1 not run, 0 gaps"
	has_line "$out" "B: 1 rows, 0 passed, 0 failed, 0 skipped, 1 not run, 0 gaps"
	has_line "$out" "warning: 2 matrix rows have no test yet: A2 B1"
}

# tests/run.sh sources the judge and reads matrix_groups and matrix_cases
# for its reliability summary.
t_cases_per_group_for_the_reliability_summary() {
	# shellcheck source=../lib/matrix.sh
	source "$JUDGE"
	# shellcheck disable=SC2034 # passed to matrix_judge by name
	local -A st=([unit/t/a]=PASS [unit/t/b]=SKIP [bpf/t/c]=FAIL) why=([unit/t/b]=r)
	T=$(mktemp -d "${TMPDIR:-/tmp}/xsnap-test-matrix.XXXXXX")
	trap 'rm -rf "$T"' EXIT
	printf '%s\n' "B1 unit/t/*  x" "A1 bpf/t/c,unit/t/a  y" "A2 gap  z" >"$T/m"
	matrix_judge "$T/m" st why 1 "$T/rows" >/dev/null
	assert_eq "${matrix_groups[*]}" "B A" "groups in the matrix's order"
	assert_eq "${matrix_cases[A]}" 2 "cases A's rows named"
	assert_eq "${matrix_cases[B]}" 2 "cases B's rows named"
}

lab_main "$@"
