#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# Run one libFuzzer target for a bounded time on a copy of its seed corpus
# (the committed seeds are never rewritten).  Fails on any crash, sanitizer
# report, leak or timeout; appends "NAME: N executions in S s" to
# $OUTPUT/test-logs/fuzz-summary.txt and records the executions as the
# figure fuzz_executions (tests/lib/figures.sh).
# Usage: run-fuzzer.sh FUZZER CORPUS_DIR SECONDS
set -euo pipefail
# shellcheck source=../lib/figures.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/figures.sh"
fuzzer=$1 corpus=$2 secs=$3
name=$(basename "$fuzzer")
work=$(mktemp -d /tmp/xsnap-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
[[ -d $corpus ]] && cp -r "$corpus/." "$work/corpus/"
rc=0
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1 || rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
if ((rc != 0)); then
	tail -n 60 "$work/log"
	for a in "$work"/artifacts/*; do
		[[ -e $a ]] && { echo "reproducer ($a):"; od -c "$a" | head -n 20; }
	done
	exit 1
fi
echo "$name: ${execs:-0} executions in $secs s, 0 crashes"
if [[ -n ${OUTPUT:-} ]]; then
	mkdir -p "$OUTPUT/test-logs"
	echo "$name: ${execs:-0} executions in $secs s, 0 crashes" >>"$OUTPUT/test-logs/fuzz-summary.txt"
fi
record_figure fuzz_executions "${execs:-0}"
