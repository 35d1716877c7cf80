#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# tests/lib/matrix.sh: the fault matrix (tests/matrix.txt) judged by the
# results of a run.  tests/run.sh sources it and calls matrix_judge after its
# cases; run as a program it judges a saved run:
#
#   bash tests/lib/matrix.sh [--whole-suite] [--detail FILE] MATRIX RESULTS
#
# RESULTS holds lines as tests/run.sh prints them, `PASS|FAIL|SKIP ID
# [(reason)]` (other lines are ignored).  --whole-suite judges it as a run
# of the whole suite (no -t, every tier), where a pattern that names no case
# fails.  Prints what run.sh prints; a failed judgement also prints `FAIL
# matrix (why)` and exits 1.  tests/unit/test_matrix.sh checks each rule.
#
# Rules, for each row `ROW TESTS EXPECTED...` (the TESTS are comma-separated
# globs over case ids):
#   passed    every pattern named a case, and every case it named passed
#   failed    a case it named failed
#   skipped   none failed and one skipped (matrix-rows.txt gives the reasons)
#   not run   a pattern named no case of the run; in a whole-suite run that
#             also fails the run: a renamed or deleted test must not turn
#             its row silently into "not run"
#   gap       TESTS is "gap": a property xsnap does not have, listed as such
#             and never scored as passed
#   -         no test yet: "not run", and warned about

[[ -n ${_XSNAP_MATRIX_SH:-} ]] && return 0
_XSNAP_MATRIX_SH=1

# matrix_judge MATRIX STATUS REASONS WHOLE DETAIL: judge each row of the file
# MATRIX by the cases in the associative array named STATUS (id ->
# PASS|FAIL|SKIP; the array named REASONS gives a skipped case's reason).
# WHOLE is 1 for a run of the whole suite.  Prints the summary per group on
# stdout, one line a row in the file DETAIL.  Sets matrix_groups (the groups
# in order) and matrix_cases[GROUP] (cases the group's rows named), and
# matrix_fail_reason; returns 1 when the run must fail (whole suite, a
# pattern without a case), else 0.
matrix_judge() {
	# copies of the caller's arrays first, before a local of this function
	# could hide one of the same name (the caller's must not start with _mj_)
	local -n _mj_s=$2 _mj_r=$3
	local -A _mj_status=() _mj_reason=()
	local _mj_id
	for _mj_id in "${!_mj_s[@]}"; do
		_mj_status[$_mj_id]=${_mj_s[$_mj_id]}
		_mj_reason[$_mj_id]=${_mj_r[$_mj_id]:-}
	done
	local mfile=$1 whole=$4 detail=$5 label=$1
	[[ -n ${XSNAP_ROOT:-} ]] && label=${mfile#"$XSNAP_ROOT/"}
	local row tests rest g st id p n np nf ns missing hit why
	local -a groups=() globs=() pending=() gaps=() unmatched=()
	local -A rows=() passed=() failed=() skipped=() notrun=() gap=()
	declare -gA matrix_cases=()
	matrix_groups=()
	matrix_fail_reason=
	[[ -f $mfile ]] || return 0
	: >"$detail" 2>/dev/null || detail=/dev/null
	while read -r row tests rest; do
		[[ -z $row || $row == \#* ]] && continue
		g=${row%%[0-9]*}
		if [[ -z ${rows[$g]+x} ]]; then
			groups+=("$g")
			rows[$g]=0 passed[$g]=0 failed[$g]=0 skipped[$g]=0 notrun[$g]=0 gap[$g]=0
			matrix_cases[$g]=0
		fi
		rows[$g]=$((rows[$g] + 1))
		if [[ $tests == gap ]]; then
			gaps+=("$row")
			gap[$g]=$((gap[$g] + 1))
			printf '%-4s gap      (not in xsnap) %s\n' "$row" "$rest" >>"$detail"
			continue
		fi
		if [[ $tests == - ]]; then
			pending+=("$row")
			notrun[$g]=$((notrun[$g] + 1))
			printf '%-4s -        (no test yet) %s\n' "$row" "$rest" >>"$detail"
			continue
		fi
		IFS=, read -ra globs <<<"$tests"
		n=0 np=0 nf=0 ns=0 missing=0 why=
		for p in "${globs[@]}"; do
			hit=0
			for id in "${!_mj_status[@]}"; do
				# shellcheck disable=SC2053 # glob on purpose
				[[ $id == $p ]] || continue
				hit=1
				n=$((n + 1))
				case ${_mj_status[$id]} in
				PASS) np=$((np + 1)) ;;
				FAIL) nf=$((nf + 1)) ;;
				SKIP)
					ns=$((ns + 1))
					why+="; $id skipped: ${_mj_reason[$id]:-no reason given}"
					;;
				esac
			done
			((hit)) || { missing=$((missing + 1)); unmatched+=("$row:$p"); }
		done
		matrix_cases[$g]=$((matrix_cases[$g] + n))
		if ((nf)); then
			st=failed
		elif ((missing || n == 0)); then
			st="not run"
		elif ((ns)); then
			st=skipped
		elif ((np == n)); then
			st=passed
		else
			st="not run"
		fi
		case $st in
		passed) passed[$g]=$((passed[$g] + 1)) ;;
		failed) failed[$g]=$((failed[$g] + 1)) ;;
		skipped) skipped[$g]=$((skipped[$g] + 1)) ;;
		*) notrun[$g]=$((notrun[$g] + 1)) ;;
		esac
		[[ $st == skipped ]] || why=
		printf '%-4s %-8s %d cases (%d passed, %d failed, %d skipped, %d patterns without a case): %s%s\n' \
			"$row" "${st/ /-}" "$n" "$np" "$nf" "$ns" "$missing" "$tests" "$why" >>"$detail"
	done <"$mfile"
	((${#groups[@]})) || return 0
	echo "---- matrix-summary ($label; per row: $detail)"
	for g in "${groups[@]}"; do
		printf '%s: %d rows, %d passed, %d failed, %d skipped, %d not run, %d gaps\n' "$g" \
			"${rows[$g]}" "${passed[$g]}" "${failed[$g]}" "${skipped[$g]}" "${notrun[$g]}" \
			"${gap[$g]}"
	done
	if ((${#gaps[@]})); then
		echo "gaps (properties xsnap does not have; see the rows): ${gaps[*]}"
	fi
	if ((${#pending[@]})); then
		echo "warning: ${#pending[@]} matrix rows have no test yet: ${pending[*]}"
	fi
	# shellcheck disable=SC2034 # for the caller (tests/run.sh)
	matrix_groups=("${groups[@]}")
	if ((${#unmatched[@]})) && [[ $whole == 1 ]]; then
		matrix_fail_reason="patterns of $label that name no case: ${unmatched[*]}"
		return 1
	fi
	return 0
}

# As a program: judge a saved run (see the top of the file).
# shellcheck disable=SC2034 # run_status, run_reason: passed by name
_matrix_main() {
	local whole=0 detail=/dev/null st id rest
	local -A run_status=() run_reason=()
	while (($#)); do
		case $1 in
		--whole-suite) whole=1; shift ;;
		--detail)
			[[ $# -ge 2 ]] || break
			detail=$2
			shift 2
			;;
		-h | --help)
			echo "usage: ${0##*/} [--whole-suite] [--detail FILE] MATRIX RESULTS"
			return 0
			;;
		*) break ;;
		esac
	done
	if (($# != 2)); then
		echo "usage: ${0##*/} [--whole-suite] [--detail FILE] MATRIX RESULTS" >&2
		return 2
	fi
	[[ -f $1 ]] || { echo "${0##*/}: no matrix file '$1'" >&2; return 2; }
	[[ -r $2 ]] || { echo "${0##*/}: cannot read results '$2'" >&2; return 2; }
	while read -r st id rest; do
		case $st in PASS | FAIL | SKIP) ;; *) continue ;; esac
		[[ -n $id ]] || continue
		run_status[$id]=$st
		if [[ $st == SKIP && $rest == \(*\) ]]; then
			rest=${rest#(}
			run_reason[$id]=${rest%)}
		fi
	done <"$2"
	if ! matrix_judge "$1" run_status run_reason "$whole" "$detail"; then
		printf 'FAIL matrix (%s)\n' "$matrix_fail_reason"
		return 1
	fi
	return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	_matrix_main "$@"
	exit
fi
