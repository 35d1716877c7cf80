# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# tests/lib/figures.sh: the one way a test reports a figure to the runner's
# reliability summary (sourced by tests/lib/harness.sh, so every lab test has it,
# and by tests/fuzz/run-fuzzer.sh).
#
#   record_figure KEY VALUE   append "KEY VALUE" to $XSNAP_FIGURES (the runner
#                             sets it to a file of its own run, so two runs
#                             in one build directory do not mix), else to
#                             $OUTPUT/test-logs/figures.txt; tests/run.sh sums
#                             VALUE per KEY over the run
#
# VALUE is a non-negative integer.  Keys the runner names in its summary:
#   consumer_kills       consumer processes killed with SIGKILL that the
#                        daemon survived (their frames reclaimed)
#   conservation_checks  frame-conservation checks made
#   frames_leaked        frames that were in no place at such a check (must be 0)
#   victim_checks        victim streams checked (xsnapd.sh victim_check)
#   victim_frames_sent   frames of those streams that reached XDP
#   victim_frames_lost   of those, frames the victim did not get whole and in
#                        order (must be 0)
#   fuzz_executions      inputs run by the libFuzzer targets
#   open_close_cycles    attach/open/close/detach cycles checked for leaks
# Other keys are summed and printed too.  Outside the runner (no
# XSNAP_FIGURES, no OUTPUT) the figure only goes to stderr.

[[ -n ${_XSNAP_FIGURES_SH:-} ]] && return 0
_XSNAP_FIGURES_SH=1

record_figure() {
	if (($# != 2)) || ! [[ $1 =~ ^[a-z][a-z0-9_]*$ && $2 =~ ^[0-9]+$ ]]; then
		printf 'record_figure: usage: record_figure KEY VALUE (got: %s)\n' "$*" >&2
		return 2
	fi
	printf 'figure: %s %s\n' "$1" "$2" >&2
	if [[ -n ${XSNAP_FIGURES:-} ]]; then
		printf '%s %s\n' "$1" "$2" >>"$XSNAP_FIGURES"
	elif [[ -n ${OUTPUT:-} ]]; then
		mkdir -p "$OUTPUT/test-logs" && printf '%s %s\n' "$1" "$2" >>"$OUTPUT/test-logs/figures.txt"
	fi
}
