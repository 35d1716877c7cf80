#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# xsnap test runner.  Tiers, in this order:
#   unit   every executable in $OUTPUT/tests/unit/, then every
#          tests/unit/*.sh (no root)
#   tsan   every executable in $OUTPUT/tsan/: unit tests built with
#          ThreadSanitizer (no root; a data race fails the case)
#   bpf    every executable in $OUTPUT/tests/bpf/   (root: BPF_PROG_RUN)
#   netns  every tests/netns/*.sh                   (root: namespaces, veth)
# A test program or script lists its cases with `--list` and runs one with
# `PROG CASE` (a second word after a name in the list is that case's timeout
# in seconds): exit 0 = pass, 77 = skip (a "SKIP reason: ..." line on stdout
# gives the reason), anything else = fail.  Each case runs in its own session
# under a timeout that kills its whole process group, so a hang or crash in
# one case never hides another.  Output: one PASS/FAIL/SKIP line per case, a
# failed case's output indented under it, the texts cases left in
# $OUTPUT/test-logs/*-summary.txt, the fault matrix (tests/matrix.txt) judged
# by this run's cases, per group (rows, passed, failed, skipped, not run;
# per row in test-logs/matrix-rows.txt), a reliability summary of the
# figures cases recorded with record_figure (tests/lib/figures.sh: consumer
# kills survived, frames leaked, victim frames lost, fuzz executions,
# open/close cycles; frames leaked or victim frames lost fail the run), and
# `N passed, N failed, N skipped` last.  Needs only bash, coreutils and
# util-linux (plus `ip` for netns).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prog=${0##*/}
# shellcheck source-path=SCRIPTDIR source=lib/matrix.sh
source "$ROOT/tests/lib/matrix.sh"

usage() {
	cat <<EOF
usage: $prog [-t PATTERN]... [--tier unit|tsan|bpf|netns|fuzz]... [-k] [-v] [--timeout S] [--list]
  -t, --test PATTERN  run the cases whose id TIER/PROG/CASE matches the glob
                      PATTERN (a PATTERN without '/' may also match CASE alone);
                      may repeat
  --tier TIER         run only this tier; may repeat
  -k, --keep          leave netns labs up for debugging (LAB_KEEP=1), say how
                      to remove them
  -v, --verbose       stream each case's output live (also V=1)
  --timeout S         per-case timeout in seconds (default: unit and bpf 60,
                      netns 120)
  -l, --list          print the case ids that would run, run nothing
Environment: VALGRIND=1 (run the unit tier under valgrind),
OUTPUT (build dir, default $ROOT/build), SANITIZE=1 (sanitizer
options for the children), V=1, XSNAP_TIMES=FILE (append each case's
wall seconds, status and id to FILE; the slowest are printed at the end).
EOF
}

patterns=()
tiers=()
keep=
verbose=
list_only=
timeout_override=
[[ ${V:-0} == 1 ]] && verbose=1
while (($#)); do
	case $1 in
	-t | --test)
		[[ $# -ge 2 ]] || { usage >&2; exit 2; }
		patterns+=("$2")
		shift 2
		;;
	-t?*) patterns+=("${1#-t}"); shift ;;
	--tier)
		[[ $# -ge 2 ]] || { usage >&2; exit 2; }
		case $2 in
		unit | tsan | bpf | netns | fuzz) tiers+=("$2") ;;
		*) echo "$prog: unknown tier '$2' (unit, tsan, bpf, netns, fuzz)" >&2; exit 2 ;;
		esac
		shift 2
		;;
	-k | --keep) keep=1; shift ;;
	-v | --verbose) verbose=1; shift ;;
	--timeout)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "$prog: --timeout wants seconds" >&2; exit 2; }
		timeout_override=$2
		shift 2
		;;
	-l | --list) list_only=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
((${#tiers[@]})) || tiers=(unit tsan bpf netns fuzz)
# The whole suite (no -t, no --tier) needs root: a run that could only do
# the unprivileged tiers would look green while proving half of it.
if ((EUID != 0 && ${#patterns[@]} == 0 && ${#tiers[@]} == 5)) && [[ -z $list_only ]]; then
	echo "$prog: the bpf and netns tiers need root (BPF_PROG_RUN, namespaces, veth):" \
		"run 'sudo make test', or choose a tier: make test TESTFLAGS='--tier unit'" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

if [[ -z ${OUTPUT:-} ]]; then
	OUTPUT=$ROOT/build
	[[ ${SANITIZE:-0} == 1 ]] && OUTPUT=$ROOT/build-san
fi
[[ $OUTPUT == /* ]] || OUTPUT=$PWD/$OUTPUT
export OUTPUT XSNAP_BUILD=$OUTPUT XSNAP_ROOT=$ROOT
if [[ ${SANITIZE:-0} == 1 ]]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
if [[ -n $keep ]]; then
	export LAB_KEEP=1
else
	unset LAB_KEEP
fi
# Labs of this run get their own state directory, so that what a case leaves
# behind is known to be that case's (see sweep_labs).
export LAB_STATE_DIR=/run/xsnap-lab/run-$$

npass=0
nfail=0
nskip=0
declare -A case_status=()	# TIER/PROG/CASE -> PASS|FAIL|SKIP
declare -A case_reason=()	# TIER/PROG/CASE -> why it skipped or failed
CASE_PID=
interrupted=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsnap-run.XXXXXX") || exit 1
LOG=$tmp/case.log
# figures of this run's cases (tests/lib/figures.sh), copied to
# $OUTPUT/test-logs/figures.txt at the end
export XSNAP_FIGURES=$tmp/figures.txt
: >"$XSNAP_FIGURES"

cleanup() {
	rm -rf "$tmp"
	rmdir "$LAB_STATE_DIR" /run/xsnap-lab 2>/dev/null
	return 0
}
trap cleanup EXIT
# Cases run in their own session, out of reach of the terminal's ^C: pass
# the signal on to the running case, let it clean up, then stop.
on_signal() {
	interrupted=1
	[[ -n $CASE_PID ]] && kill -TERM -- "-$CASE_PID" 2>/dev/null
}
trap on_signal INT TERM HUP

# selected TIER/PROG/CASE CASE: does the id pass the -t filters?
selected() {
	local p
	((${#patterns[@]})) || return 0
	# shellcheck disable=SC2053 # glob matches on purpose
	for p in "${patterns[@]}"; do
		[[ $1 == $p ]] && return 0
		[[ $p != */* && $2 == $p ]] && return 0
	done
	return 1
}

# show_output FILE NAME: print FILE indented, at most its last 200 lines (the
# whole of a longer one is kept in $OUTPUT/test-logs/NAME.log).
show_output() {
	local file=$1 n line
	n=$(wc -l <"$file")
	if ((n > 200)); then
		local keepdir=$OUTPUT/test-logs
		mkdir -p "$keepdir" 2>/dev/null && cp "$file" "$keepdir/$2.log" 2>/dev/null
		printf '    ... %d lines omitted (full log: %s) ...\n' $((n - 200)) "$keepdir/$2.log"
	fi
	while IFS= read -r line || [[ -n $line ]]; do
		printf '    %s\n' "$line"
	done < <(tail -n 200 "$file")
}

skip_reason() {
	local line
	while IFS= read -r line; do
		if [[ $line == "SKIP reason: "* ]]; then
			printf '%s' "${line#SKIP reason: }"
			return
		fi
	done < <(head -n 2000 "$1")
}

# result PASS|FAIL|SKIP ID [REASON]: print the line and count it.
result() {
	case $1 in
	PASS) npass=$((npass + 1)) ;;
	FAIL) nfail=$((nfail + 1)) ;;
	SKIP) nskip=$((nskip + 1)) ;;
	esac
	case_status[$2]=$1
	# shellcheck disable=SC2034 # read by matrix_judge (tests/lib/matrix.sh)
	case_reason[$2]=${3:-}
	printf '%s %s%s\n' "$1" "$2" "${3:+ ($3)}"
}

# run_case TIER PROG CASE TIMEOUT CMD...: run one case and report it.
run_case() {
	local id=$1/$2/$3 t=$4 rc start elapsed tail_pid=
	shift 4
	[[ -n $verbose ]] && echo "---- $id"
	start=$SECONDS
	setsid -w timeout -k 5 -s TERM "$t" "$@" </dev/null >"$LOG" 2>&1 &
	CASE_PID=$!
	if [[ -n $verbose ]]; then
		tail -n +1 -s 0.1 -f --pid="$CASE_PID" "$LOG" &
		tail_pid=$!
	fi
	while :; do
		wait "$CASE_PID" 2>/dev/null # no "Segmentation fault" job notice
		rc=$?
		# A trapped signal interrupts `wait`; the case itself goes on.
		((rc > 128)) && [[ -e /proc/$CASE_PID ]] && continue
		break
	done
	[[ -n $tail_pid ]] && wait "$tail_pid"
	# Whatever the case left running in its process group goes too
	# (except when keeping labs: those may be its daemons).
	[[ -n $keep ]] || kill -KILL -- "-$CASE_PID" 2>/dev/null
	CASE_PID=
	elapsed=$((SECONDS - start))

	local status reason='' sig
	if [[ $rc == 124 || $rc == 137 ]] && ((elapsed >= t)); then
		status=FAIL
		reason="timed out after $t s"
		echo "timed out after $t s" >>"$LOG"
	elif ((rc == 0)); then
		status=PASS
	elif ((rc == 77)); then
		status=SKIP
		reason=$(skip_reason "$LOG")
	elif ((rc > 128)) && sig=$(kill -l $((rc - 128)) 2>/dev/null); then
		status=FAIL
		reason="killed by SIG$sig"
	else
		status=FAIL
		reason="exit $rc"
	fi
	if ! sweep_labs; then
		status=FAIL
		reason="${reason:+$reason, }left a lab behind"
	fi
	result "$status" "$id" "$reason"
	# XSNAP_TIMES=FILE: each case's wall seconds, for finding slow ones
	[[ -z ${XSNAP_TIMES:-} ]] || printf '%s %s %s\n' "$elapsed" "$status" "$id" >>"$XSNAP_TIMES"
	[[ $status == FAIL && -z $verbose ]] && show_output "$LOG" "${id//\//.}"
	return 0
}

# Remove the labs a case left in this run's state directory (lab_down did not
# run: the case was killed, or replaced lab.sh's trap).  False if there were.
sweep_labs() {
	local -a left=()
	local f
	[[ -n $keep ]] && return 0
	for f in "$LAB_STATE_DIR"/*.env; do
		[[ -e $f ]] && left+=("$f")
	done
	((${#left[@]})) || return 0
	{
		echo "runner: removing labs the case left behind: ${left[*]}"
		# shellcheck disable=SC2016 # expanded by the inner bash
		LAB_KEEP=0 bash -c 'source "$1"; shift; lab_down "$@"' sweep \
			"$ROOT/scripts/lib/lab.sh" "${left[@]}"
	} >>"$LOG" 2>&1
	return 1
}

# list_cases CMD...: fill the caller's `cases` with what `CMD --list` prints,
# one name a line, and `case_timeout` with the timeout in seconds a second
# word gives; return its exit status (its output stays in $LOG).
list_cases() {
	local rc=0 name t
	timeout -k 5 30 "$@" --list </dev/null >"$LOG" 2>&1 || rc=$?
	cases=()
	case_timeout=()
	while read -r name t _; do
		[[ -n $name && $name != \#* ]] || continue
		cases+=("$name")
		[[ $t =~ ^[1-9][0-9]*$ ]] && case_timeout[$name]=$t
	done <"$LOG"
	return "$rc"
}

# run_prog TIER NAME TIMEOUT SKIP_REASON CMD...: every selected case of one
# program.  With SKIP_REASON, one SKIP line for the program instead.
run_prog() {
	local tier=$1 name=$2 t=$3 skipping=$4 rc=0 c
	shift 4
	local -a cases=() sel=()
	local -A case_timeout=()
	list_cases "$@" || rc=$?
	if ((rc != 0)); then
		selected "$tier/$name" "" || return 0
		if [[ -n $list_only ]]; then
			echo "$tier/$name ('--list' failed, exit $rc)"
		elif [[ -n $skipping ]]; then
			result SKIP "$tier/$name" "$skipping"
		else
			result FAIL "$tier/$name" "'--list' failed, exit $rc"
			show_output "$LOG" "$tier.$name.list"
		fi
		return 0
	fi
	for c in "${cases[@]}"; do
		selected "$tier/$name/$c" "$c" && sel+=("$c")
	done
	((${#sel[@]})) || return 0
	if [[ -n $list_only ]]; then
		for c in "${sel[@]}"; do
			echo "$tier/$name/$c"
		done
	elif [[ -n $skipping ]]; then
		result SKIP "$tier/$name" "$skipping"
	else
		for c in "${sel[@]}"; do
			[[ -n $interrupted ]] && return 0
			# the case's own timeout (from --list) unless --timeout says
			run_case "$tier" "$name" "$c" "${timeout_override:-${case_timeout[$c]:-$t}}" \
				"$@" "$c"
		done
	fi
	return 0
}

# Executables of a build directory, sorted (not objects or dependency files).
test_programs() {
	local f
	for f in "$1"/*; do
		[[ -f $f && -x $f ]] || continue
		case $f in *.o | *.d | *.a | *.so | *.so.*) continue ;; esac
		echo "$f"
	done
}

# Why the netns tier cannot run here, or nothing.
netns_unavailable() {
	[[ $EUID -eq 0 ]] || { echo "not root"; return; }
	command -v ip >/dev/null 2>&1 || { echo "'ip' not found (iproute2)"; return; }
	local ns=xs-probe-$$ err
	if ! err=$(ip netns add "$ns" 2>&1); then
		echo "cannot create a network namespace: $err"
		return
	fi
	if ! err=$(ip -n "$ns" link add xs-probe0 type veth peer name xs-probe1 2>&1); then
		ip netns del "$ns" 2>/dev/null
		echo "no veth support: $err"
		return
	fi
	ip netns del "$ns" 2>/dev/null
}

run_tier() {
	local tier=$1 t f skip_reason=
	case $tier in
	unit | bpf)
		t=${timeout_override:-60}
		[[ $tier == bpf && $EUID -ne 0 ]] && skip_reason="not root"
		local -a wrap=()
		# VALGRIND=1: the pure-C tier under valgrind (memcheck, leaks)
		if [[ $tier == unit && ${VALGRIND:-0} == 1 ]]; then
			command -v valgrind >/dev/null || { echo "VALGRIND=1: valgrind not installed" >&2; exit 2; }
			wrap=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
			export XSNAP_UNDER_VALGRIND=1	# timing assertions mean nothing there
		fi
		while read -r f; do
			[[ -n $interrupted ]] && return
			run_prog "$tier" "$(basename "$f")" "$t" "$skip_reason" "${wrap[@]}" "$f"
		done < <(test_programs "$OUTPUT/tests/$tier")
		# unit tests of the shell harness, tests/unit/*.sh (never under
		# valgrind: it would check bash, not xsnap)
		[[ $tier == unit ]] || return 0
		for f in "$ROOT"/tests/unit/*.sh; do
			[[ -f $f ]] || continue
			[[ -n $interrupted ]] && return
			run_prog unit "$(basename "$f" .sh)" "$t" "" bash "$f"
		done
		;;
	netns)
		t=${timeout_override:-120}
		local -a scripts=()
		for f in "$ROOT"/tests/netns/*.sh; do
			[[ -f $f ]] && scripts+=("$f")
		done
		((${#scripts[@]})) || return
		[[ -n $list_only ]] || skip_reason=$(netns_unavailable)
		for f in "${scripts[@]}"; do
			[[ -n $interrupted ]] && return
			run_prog netns "$(basename "$f" .sh)" "$t" "$skip_reason" bash "$f"
		done
		;;
	tsan)
		# unit tests built with ThreadSanitizer: a data race fails the case
		# (TSan's exit status 66); not under valgrind, which cannot run them
		t=${timeout_override:-120}
		[[ ${VALGRIND:-0} == 1 ]] && skip_reason="ThreadSanitizer binaries do not run under valgrind"
		while read -r f; do
			[[ -n $interrupted ]] && return
			TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" \
				run_prog tsan "$(basename "$f")" "$t" "$skip_reason" "$f"
		done < <(test_programs "$OUTPUT/tsan")
		;;
	fuzz)
		# libFuzzer targets, FUZZ_SECONDS each (default 10), one case each
		local secs=${FUZZ_SECONDS:-10} name
		[[ $secs =~ ^[0-9]+$ ]] || secs=10
		t=${timeout_override:-$((secs + 60))}
		while read -r f; do
			[[ -n $interrupted ]] && return
			name=$(basename "$f")
			selected "fuzz/$name/run" run || continue
			if [[ -n $list_only ]]; then
				echo "fuzz/$name/run"
				continue
			fi
			run_case fuzz "$name" run "$t" bash "$ROOT/tests/fuzz/run-fuzzer.sh" "$f" \
				"$ROOT/tests/fuzz/corpus/${name#fuzz_}" "$secs"
		done < <(test_programs "$OUTPUT/fuzz")
		;;
	esac
}

if [[ ! -d $OUTPUT ]]; then
	echo "$prog: note: build directory $OUTPUT does not exist (make all tests)" >&2
fi
# summaries that cases append to (fuzz executions, classifier numbers, ...)
# and the figures they record (tests/lib/figures.sh)
rm -f "$OUTPUT"/test-logs/*-summary.txt 2>/dev/null
for tier in unit tsan bpf netns fuzz; do
	for want in "${tiers[@]}"; do
		if [[ $want == "$tier" ]]; then
			run_tier "$tier"
			break
		fi
	done
	[[ -n $interrupted ]] && break
done

[[ -n $list_only ]] && exit 0
if [[ -n $keep ]] && compgen -G "$LAB_STATE_DIR/*.env" >/dev/null; then
	echo "kept labs: $ROOT/scripts/lab.sh status; remove: $ROOT/scripts/lab.sh down --all" >&2
fi
[[ -n $interrupted ]] && echo "$prog: interrupted" >&2
# texts the cases wrote (fuzz executions, classifier cost, ...)
for f in "$OUTPUT"/test-logs/*-summary.txt; do
	[[ -f $f ]] || continue
	echo "---- $(basename "$f" .txt)"
	cat "$f"
done

# The fault matrix, judged by this run's cases: tests/lib/matrix.sh says
# how (passed, failed, skipped, not run, gap; in a run of the whole suite, no
# -t and every tier, a pattern that names no case fails the run).  Per group
# on stdout; per row in $OUTPUT/test-logs/matrix-rows.txt.  Sets
# matrix_groups and matrix_cases[GROUP] for the reliability summary.
matrix_summary() {
	local whole=0
	((${#patterns[@]} == 0 && ${#tiers[@]} == 5)) && whole=1
	mkdir -p "$OUTPUT/test-logs" 2>/dev/null
	if ! matrix_judge "$ROOT/tests/matrix.txt" case_status case_reason "$whole" \
		"$OUTPUT/test-logs/matrix-rows.txt"; then
		result FAIL matrix "$matrix_fail_reason"
	fi
}

# figure KEY: the sum of what the cases recorded for KEY (0 if nothing).
declare -A figures=()
load_figures() {
	local k v f=$XSNAP_FIGURES
	[[ -f $f ]] || return 0
	mkdir -p "$OUTPUT/test-logs" 2>/dev/null && cp "$f" "$OUTPUT/test-logs/figures.txt" 2>/dev/null
	while read -r k v; do
		[[ $k =~ ^[a-z][a-z0-9_]*$ && $v =~ ^[0-9]+$ ]] || continue
		figures[$k]=$((${figures[$k]:-0} + v))
	done <"$f"
}
figure() { printf '%s' "${figures[$1]:-0}"; }

# The reliability summary: matrix cases per group and the figures of
# tests/lib/figures.sh.  Frames leaked or victim frames lost fail the run
# (the case that saw them fails too; this catches a case that only recorded).
reliability_summary() {
	local g line='' k
	echo "---- reliability-summary"
	for g in "${matrix_groups[@]}"; do
		line+="${line:+, }$g ${matrix_cases[$g]}"
	done
	echo "matrix cases run: ${line:-none}"
	echo "consumer kills survived: $(figure consumer_kills)"
	echo "frames leaked: $(figure frames_leaked) (in $(figure conservation_checks) conservation checks)"
	echo "references without holders: $(figure audit_problems) (in $(figure reference_audits) audits of every chunk)"
	echo "victim frames lost: $(figure victim_frames_lost) (of $(figure victim_frames_sent) in $(figure victim_checks) victim streams)"
	echo "fuzz executions: $(figure fuzz_executions)"
	echo "open/close cycles: $(figure open_close_cycles)"
	for k in "${!figures[@]}"; do
		case $k in
		consumer_kills | frames_leaked | conservation_checks | victim_frames_lost | \
			reference_audits | audit_problems | \
			victim_frames_sent | victim_checks | fuzz_executions | open_close_cycles) ;;
		*) echo "$k: ${figures[$k]}" ;;
		esac
	done | sort
	if (($(figure frames_leaked) || $(figure victim_frames_lost) || $(figure audit_problems))); then
		result FAIL reliability-summary "frames leaked, references without holders or victim frames lost"
	fi
}

# XSNAP_TIMES: the slowest cases and the seconds per program, before the
# summary line.
times_summary() {
	local f=${XSNAP_TIMES:-}
	[[ -n $f && -s $f ]] || return 0
	echo "---- case-times (seconds; all of them in $f)"
	sort -k1,1nr "$f" | head -n 15 | sed 's/^/  /'
	awk '{ split($3, a, "/"); p = a[1] "/" a[2]; s[p] += $1; n[p]++; t += $1 }
		END { for (p in s) printf "  %s: %d s in %d cases\n", p, s[p], n[p];
		      printf "  all cases: %d s\n", t }' "$f" | sort
}

matrix_groups=()
times_summary
if ((${#case_status[@]})); then
	matrix_summary
	load_figures
	reliability_summary
fi
echo "$npass passed, $nfail failed, $nskip skipped"
[[ -n $interrupted ]] && exit 130
((nfail == 0))
