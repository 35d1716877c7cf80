# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# tests/lib/harness.sh: what a netns test script sources first.  It brings
# the lab (scripts/lib/lab.sh), the leak check (leaks.sh), the figures of the
# run's summary (figures.sh), asserts, and lab_main, which runs the script's
# t_NAME functions:
#   fail MSG   skip REASON   assert_eq ACTUAL EXPECTED [MSG]   assert_ge A B [MSG]
#   lab_main "$@"   record_figure KEY VALUE
# Checked for every test lab_main runs: no XDP program or xsnap pin left in a
# lab at lab_down (lab_invariants), no BPF object or namespace leaked after
# the test (lab_leak_check).

[[ -n ${_XSNAP_HARNESS_SH:-} ]] && return 0
_XSNAP_HARNESS_SH=1
_XSNAP_TESTS_LIB=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/lab.sh
source "$_XSNAP_TESTS_LIB/../../scripts/lib/lab.sh"
# shellcheck source=leaks.sh
source "$_XSNAP_TESTS_LIB/leaks.sh"
# shellcheck source=figures.sh
source "$_XSNAP_TESTS_LIB/figures.sh"

# ----------------------------------------------------------------------------
# Failing and asserting

# _lab_fail_at DEPTH MSG: fail, naming the caller DEPTH frames up.
_lab_fail_at() {
	local d=$(($1 + 1))
	shift
	local src=${BASH_SOURCE[d]:-?}
	printf 'FAIL: %s (%s:%s)\n' "$*" "${src##*/}" "${BASH_LINENO[d - 1]:-?}" >&2
	exit 1
}

# fail MSG: print MSG with the caller's file:line and exit 1.
fail() { _lab_fail_at 1 "$*"; }

# skip REASON: print "SKIP reason: REASON" (the runner shows it) and exit 77.
skip() {
	printf 'SKIP reason: %s\n' "$*"
	exit 77
}

# assert_eq ACTUAL EXPECTED [MSG]: string equality.
assert_eq() {
	[[ $1 == "$2" ]] || _lab_fail_at 1 "${3:-assert_eq}: got '$1', expected '$2'"
}

# assert_ge A B [MSG]: integer A >= B.
assert_ge() {
	if ! [[ $1 =~ ^-?[0-9]+$ && $2 =~ ^-?[0-9]+$ ]]; then
		_lab_fail_at 1 "${3:-assert_ge}: not integers: '$1', '$2'"
	fi
	(($1 >= $2)) || _lab_fail_at 1 "${3:-assert_ge}: $1 < $2"
}

# ----------------------------------------------------------------------------
# Test script harness: a script defines t_NAME functions and ends with
# `lab_main "$@"`.
#   script --list   the test names (without t_), in definition order
#   script NAME     run t_NAME under set -eEuo pipefail; exit 0, 1 or 77
#   script          run every test, each in its own process (debugging)

_lab_on_err() {
	local rc=$1 src=$2 line=$3 cmd=$4 i
	# shellcheck disable=SC2016 # literal backquotes
	printf 'ERROR: %s:%s: `%s` exited with status %s\n' "${src##*/}" "$line" "$cmd" "$rc" >&2
	for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
		[[ ${FUNCNAME[i + 1]} != lab_main ]] || break
		printf '  in %s() called from %s:%s\n' "${FUNCNAME[i]}" \
			"$(basename "${BASH_SOURCE[i + 1]}")" "${BASH_LINENO[i]}" >&2
	done
}

# One test name a line, in definition order; a test whose script sets
# LAB_TIMEOUT_<name>=SECONDS gets that as a second word (tests/run.sh uses
# it as the case's timeout).
_lab_list_tests() {
	local f line file var
	shopt -s extdebug
	while read -r _ _ f; do
		[[ $f == t_* ]] || continue
		read -r _ line file < <(declare -F "$f")
		printf '%s %s\n' "$line" "${f#t_}"
	done < <(declare -F) | sort -n | while read -r _ f; do
		var=LAB_TIMEOUT_$f
		echo "$f${!var:+ ${!var}}"
	done
	shopt -u extdebug
}

lab_main() {
	local name=${1:-} self=$0
	case $name in
	-l | --list)
		_lab_list_tests
		exit 0
		;;
	-h | --help)
		echo "usage: $self [--list | NAME]   (no argument: run every test)"
		exit 0
		;;
	"")
		local t rc pass=0 failed=0 skipped=0
		for t in $(_lab_list_tests | cut -d' ' -f1); do
			rc=0
			bash "$self" "$t" || rc=$?
			case $rc in
			0) echo "PASS $t"; pass=$((pass + 1)) ;;
			77) echo "SKIP $t"; skipped=$((skipped + 1)) ;;
			*) echo "FAIL $t"; failed=$((failed + 1)) ;;
			esac
		done
		echo "$pass passed, $failed failed, $skipped skipped"
		exit $((failed > 0))
		;;
	esac
	if ! declare -F "t_$name" >/dev/null; then
		echo "$self: no test '$name' (try --list)" >&2
		exit 2
	fi
	set -eEuo pipefail
	trap '_lab_on_err "$?" "${BASH_SOURCE[0]}" "$LINENO" "$BASH_COMMAND"' ERR
	_LAB_IN_TEST=1
	"t_$name"
	_lab_after_test
	exit 0
}

# After a test that passed: labs it left up come down (with their invariant
# checks), then the leak check unless the test ran it after its last lab_up.
_lab_after_test() {
	local e
	for e in "${_LAB_STATES[@]}"; do
		if [[ ${e%%:*} == "$BASHPID" ]]; then
			lab_down || fail "a lab broke an invariant (see above)"
			break
		fi
	done
	if [[ -n ${_LAB_LEAK_PROG+x} && -z ${_LAB_LEAK_CHECKED:-} ]]; then
		lab_leak_check 5 || fail "BPF programs, maps, links or namespaces leaked"
	fi
}
