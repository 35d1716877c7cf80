#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Smoke test of the benchmark (scripts/bench.sh --quick): every kind of
# receiver (the multi-process one through an xsnapd too), the generator,
# both placements, the result files and the table
# run once with tiny windows, so `make bench` cannot rot.  The numbers are
# not judged (a loaded CI machine), only that every case produced a sane
# record and that nothing is left behind.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"

t_quick_run() {
	local out json
	command -v jq >/dev/null || skip "jq not installed"
	# the allocation counter is an LD_PRELOAD shim, which ASan refuses to
	# run behind; and rates of instrumented code mean nothing anyway
	[[ ${SANITIZE:-0} != 1 ]] || skip "benchmark smoke test not run in the sanitizer build"
	[[ -x $XS_BUILD/bench/bench_xsnap ]] ||
		fail "build first: $XS_BUILD/bench/bench_xsnap missing"
	lab_leak_snapshot
	out=$(mktemp -d /tmp/xsnap-test-bench.XXXXXX)
	json=$out/results.json
	if ! OUTPUT=$XS_BUILD "$XS_ROOT/scripts/bench.sh" --quick -o "$json" >"$out/table" \
		2>"$out/log"; then
		sed 's/^/    /' "$out/log" "$out/table" >&2
		fail "bench.sh --quick failed"
	fi
	sed 's/^/    /' "$out/table"
	jq -e . "$json" >/dev/null || fail "results.json is not valid JSON"

	# every measured case: a record with numbers, the commands and the machine
	local id pl
	for id in generator xdp_drop afxdp udp-2 afpacket-2 xsnap-fanout-2 xsnap-tenants-2 \
		xsnap-share-2; do
		jq -e --arg id "$id" '[.records[] | select(.id == $id and .placement == "threaded")]
			| length == 1 and (.[0] | .min > 0 and .median >= .min and .max >= .median
			and .runs >= 1 and (.commands.receiver | test("ip netns exec"))
			and .unit != null and .N >= 1 and .kernel != null and .cpus >= 2)' \
			"$json" >/dev/null || fail "no valid threaded record for '$id'"
	done
	# the raw socket behind xsnap's program, and one consumer with the engine
	# inline: records of their own, never a raw denominator
	for id in afxdp-steer-rt xsnap-inline-1; do
		jq -e --arg id "$id" '[.records[] | select(.id == $id and .placement == "threaded")]
			| length == 1 and (.[0] | .min > 0 and .vs_raw > 0
			and (.raw_baseline | test("^afxdp(-spin|-busypoll|-rt)?$")))' \
			"$json" >/dev/null || fail "no valid threaded record for '$id'"
	done
	# ... whose one rule set has its specialised program (bpf/xsnap_spec.bpf.c)
	jq -e -s '[.[] | select(.id == "afxdp-steer-rt")] | length >= 1
		and all(.rx.program == "xsnap_steer" and .rx.specialised == true)' \
		"${json%.json}.runs.jsonl" >/dev/null ||
		fail "afxdp-steer-rt did not run behind xsnap_steer's specialised program"
	jq -e '[.targets[] | select(.target | startswith("1 consumer, xsnap'"'"'s best mode"))
		| select(.placement == "threaded")] | length == 1
		and (.[0].cases[0] | test("^xsnap-(fanout|inline)-1"))' "$json" >/dev/null ||
		fail "no best-mode target for one consumer"
	jq -e '[.records[] | select(.id == "xsnap-fanout-2" and .placement == "softirq")][0]
		| .median > 0' "$json" >/dev/null || fail "no softirq record"
	jq -e '[.records[] | select(.id == "xsnap-fanout-2" and .placement == "threaded")][0]
		| .vs_raw > 0' "$json" >/dev/null || fail "no ratio against raw AF_XDP"
	# paired ratios: one round here, so the pairing must give back the ratio
	# of the two runs, which is also the ratio of the medians
	jq -e '[.records[] | select(.id == "xsnap-fanout-2" and .placement == "threaded")][0]
		| .vs_raw_paired > 0 and (.vs_raw_rounds | length) == 1
		and ((.vs_raw_paired - .vs_raw) | fabs) < 0.002' "$json" >/dev/null ||
		fail "no paired ratio against raw AF_XDP, or one that is not the run's"
	# a target judged on paired ratios keeps each round's (one here) and
	# says in how many of them it was met
	jq -e '[.targets[] | select(.judged_on == "paired")] | length >= 1
		and all((.round_ratios | length) == 1 and .round_ratios[0] == .ratio
			and .rounds_met == (if .met then 1 else 0 end))' "$json" >/dev/null ||
		fail "a paired target without its rounds' ratios or the count of rounds met"
	grep -Eq 'met in [01] of 1 rounds' "$out/table" ||
		fail "the table does not say in how many rounds a target was met"
	[[ -s ${json%.json}.runs.jsonl ]] || fail "no per-run reports next to results.json"
	jq -e '.records[] | select(.id == "lat-xsnap")
		| .p50.median > 0 and .p99.median >= .p50.median and .samples.median > 0' \
		"$json" >/dev/null || fail "no latency record"
	jq -e '[.records[] | select(.id == "snapshot" or .id == "cow") | .median > 0]
		| length == 2 and all' "$json" >/dev/null || fail "no snapshot or copy-on-write cost"
	# the data path allocates nothing, also in a smoke run
	jq -e '.records[] | select(.id == "allocs") | .max == 0 and .frames > 0' "$json" \
		>/dev/null || fail "heap allocations on the data path (or none counted)"
	# the multi-process row: N consumer processes of an xsnapd, compared with
	# the in-process fan-out row of the same N and placement
	jq -e '[.records[] | select(.id == "xsnapd-2" and .placement == "threaded")]
		| length == 1 and (.[0] | .min > 0 and .median >= .min and .runs >= 1
		and .note == null and .vs_inproc > 0 and .daemon_cpu >= 0
		and (.commands.receiver | test("--connect"))
		and (.commands.daemon | test("xsnapd.*xsnapctl")))' "$json" >/dev/null ||
		fail "no valid xsnapd (multi-process) record with a ratio against in-process"
	jq -e '[.targets[] | select(.target | startswith("multi-process"))] | length >= 1
		and all(.ratio > 0)' "$json" >/dev/null || fail "no multi-process target"
	# the daemon's allocations were counted too, not only the consumers'
	jq -e '.records[] | select(.id == "allocs") | .runs_xsnapd >= 1 and .daemon_allocs != null' \
		"$json" >/dev/null || fail "xsnapd's allocations not counted"
	grep -q 'xsnap via xsnapd' "$out/table" || fail "the table has no xsnapd row"
	jq -e '.targets | length >= 3' "$json" >/dev/null || fail "no targets"
	[[ -s ${json%.json}.txt ]] || fail "no table file next to results.json"
	grep -q 'raw AF_XDP' "$out/table" || fail "the table has no raw AF_XDP row"
	rm -rf "$out"
	lab_leak_check 5 || fail "BPF programs, maps, links or namespaces leaked"
}

lab_main "$@"
