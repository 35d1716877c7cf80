# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# scripts/bench.sh's table: results.json (scripts/bench-report.jq) as text.
# jq -r -f scripts/bench-table.jq build/bench/results.json

def pad(n): tostring | if length >= n then . else . + " " * (n - length) end;
def lpad(n): tostring | if length >= n then . else " " * (n - length) + . end;
def num: if . == null then "-" elif type == "number" then
	(if . >= 100 then (. * 10 | round) / 10 else (. * 1000 | round) / 1000 end | tostring)
	else tostring end;
def ratio: if . == null then "-" else "\(num)x" end;
def order: {"generator": 0, "xdp_drop": 1, "afxdp": 2, "afxdp-spin": 2.1,
	"afxdp-busypoll": 2.2, "afxdp-rt": 2.3, "afxdp-steer-rt": 2.4, "afxdp-steer-spin": 2.5, "afxdp-general-spin": 2.6,
	"xsnap-inline-1": 5.01, "xsnap-inline-1-spin": 5.02, "xsnap-perqueue-8": 5.03}[.id] //
	(if (.id | startswith("udp-")) then 3 elif (.id | endswith("-1500")) then 9
	 elif (.id | startswith("afpacket-")) then 4 elif (.id | startswith("xsnapd-priv-")) then 8.5
	 elif (.id | startswith("xsnap-fanout-")) then 5 elif (.id | startswith("xsnap-tenants-")) then 6
	 elif (.id | startswith("xsnap-share-")) then 7 elif (.id | startswith("xsnapd-")) then 8
	 elif (.id | startswith("ref-bcast-")) then 5.5
	 elif (.id | startswith("xsnaprun-udp-")) then 3.5
	 else 9 end);
def latorder: {"afxdp": 0, "udp": 1, "xsnap": 2, "xsnapd": 3}[.system] // 4;
def kpps: if . == null then "-" elif . % 1000 == 0 then "\(. / 1000) kpps" else "\(.) frames/s" end;
# "threaded: afxdp-busypoll, softirq: afxdp-spin" (the vs raw denominators)
def baselines: [to_entries[] | "\(.key): \(.value)"] | join(", ");

.machine as $m | .settings as $s
| [.records[] | select(.placement != null and .alias_of == null)] as $cases
| (
	"xsnap benchmark: kernel \($m.kernel), \($m.cpus) CPUs (\($m.cpu_model)), commit \($m.commit), \($m.date)",
	"\($s.runs) run(s) per case, \($s.window_s) s window after \($s.warmup_s) s warm-up; generator on CPU \($s.generator_cpu), receivers on CPU \($s.receive_cpu), nice \($s.nice); load average \($m.loadavg_start) at the start, \($m.loadavg_end) at the end",
	"Frames: \($s.frames)",
	( $s.hugepages // empty | . as $h
	  | "Hugepages: \(if $h.reserved > 0 then "\($h.reserved) x 2 MiB reserved for the run (vm.nr_hugepages \($h.nr_hugepages_before)\(if $h.set_back_on_exit then " -> \($h.nr_hugepages_run), set back after" else ", enough free already" end)\(if $h.reserved < $h.wanted then "; \($h.wanted) wanted: \($h.note)" else "" end))" else "none reserved (\($h.note // "-")); \($h.free_at_start) x 2 MiB free in the system's pool" end)\(if $h.afxdp_runs.runs > 0 then "; raw AF_XDP UMEM on them in \($h.afxdp_runs.on_hugepages)/\($h.afxdp_runs.runs) runs" else "" end)" ),
	"",
	"Throughput: min / median / max over the runs; vs raw = median / the best raw AF_XDP median of the same placement (\($s.raw_baselines // {} | to_entries | sort_by(.key != "threaded") | from_entries | baselines));",
	"paired = median over the rounds of (the run / the same round's run of the raw AF_XDP denominator, the waiting mode named at the end of the table): drift between rounds cancels; targets are judged on it",
	"vs in-proc (xsnapd rows) = the same pairing against the in-process fan-out run of the same N, placement and round; xsnapd's engine thread runs on CPU \($s.receive_cpu) with the consumer processes",
	(if $s.xsnap_inproc and any($cases[]; .system == "xsnap") then "In-process xsnap: engine thread SCHED_FIFO \($s.xsnap_inproc.engine_rt_prio), consumer threads normal; tenant quota \($s.xsnap_inproc.quota) (its lag budget, like a raw socket's rx ring), rings \($s.xsnap_inproc.ring), receive region sized to hold them" else empty end),
	("placement | case                                                |  N | unit                |     min |  median |     max | vs raw | paired | vs in-proc" | gsub("\\|"; " ")),
	( ["threaded", "softirq"][] as $pl
	  | $cases | map(select(.placement == $pl and (.id | startswith("lat-") | not)))
	  | sort_by([order, .N])[]
	  | if .note then
		"\($pl | pad(9))   \(.name | pad(52))  \(.N | lpad(2))   \(.note)"
	    else
		"\($pl | pad(9))   \(.name | pad(52))  \((if .id == "generator" or .id == "xdp_drop" then "-" else .N end) | lpad(2))   \(.unit | pad(19))   \(.min | num | lpad(7))   \(.median | num | lpad(7))   \(.max | num | lpad(7))   \(.vs_raw | ratio | lpad(6))   \(.vs_raw_paired | ratio | lpad(6))\(if (.id | startswith("xsnapd-")) then "   \(.vs_inproc_paired // .vs_inproc | ratio | lpad(10))" else "" end)"
	    end ),
	( [$cases[] | select(.raw_baseline != null) | {placement, raw_baseline}] | unique
	  | sort_by(.placement != "threaded") | select(length > 0)
	  | "vs raw denominators: " + (map(.placement as $pl | .raw_baseline as $id
		| ($cases | map(select(.placement == $pl and .id == $id))[0])
		| "\($pl): \($id), \(.name), \(.median | num) \(.unit)") | join("; ")) ),
	( [$cases[] | select(.caveat != null)] | group_by([.id, .caveat])[]
	  | "note: \(.[0].id) (\(map(.placement) | sort_by(. != "threaded") | join(", "))): \(.[0].caveat)" ),
	"",
	"Latency, us, median over the runs (min..max): generator's send time to the consumer, at \($s.latency_rates_pps.light // "-") (light) and \($s.latency_rates_pps.moderate // "-") (moderate) frames/s",
	"\("placement" | pad(9))   \("rate" | pad(9))   \("system" | pad(26))   \("    p50" | pad(24))   \("    p99" | pad(24))   \("  p99.9" | pad(24))   xsnap: XDP->consumer p50 / p99",
	( ["threaded", "softirq"][] as $pl
	  | $cases | map(select(.placement == $pl and (.id | startswith("lat-"))))
	  | sort_by([.rate_pps, latorder])[]
	  | def three(x): "\(x.median | num | lpad(7)) (\(x.min | num)..\(x.max | num))" | pad(24);
	    "\($pl | pad(9))   \(.rate_pps | kpps | pad(9))   \(.name | ltrimstr("latency: ") | pad(26))   \(three(.p50))   \(three(.p99))   \(three(.p999))   \(if .xdp_to_consumer then "\(.xdp_to_consumer.p50.median | num) / \(.xdp_to_consumer.p99.median | num)" else "" end)" ),
	"",
	"Costs",
	( .records[] | select(.placement == null)
	  | if .id == "allocs" then
		"  heap allocations per received frame (xsnap, \(.runs) runs, every mode; in-process: every thread; xsnapd rows (\(.runs_xsnapd // 0) runs): every consumer process and xsnapd, \(.daemon_allocs // "-") of the allocations xsnapd's): \(.max | num) (\(.allocs // "-") allocations / \(.frames // "-") frames)"
	    elif .id == "classify" then
		if (.sets | length) > 0 then
			"  classification, ns/frame (bench_classify; worst frame kind per rule count):",
			(.sets | to_entries[] | "    \(.key | pad(8)) " + ([.value.ns_per_frame | to_entries | sort_by(.key | tonumber)[] | "\(.key): \(.value | num)"] | join(", ")) + "; 10000 vs 1 rule \(.value.ratio_10000_vs_1 | ratio)")
		else "  classification ns/frame (1/100/1000/10000 rules): \(.source)" end
	    elif .note then "  \(.name): \(.note)"
	    else "  \(.name): \(.median | num) \(.unit) (min \(.min | num), max \(.max | num))\(if .read_ns_per_frame then "; reading it: \(.read_ns_per_frame.median | num) ns/frame" else "" end)\(if .vs_in_process then "; \(.vs_in_process)x in-process" else "" end)" end ),
	"  on-CPU time per frame a consumer received, ns, medians (threaded: NAPI kthread, engine threads, consumers; schedstat):",
	( $cases | map(select(.placement == "threaded" and .cpu_ns_per_frame != null
		and (.id | test("^(afxdp|afxdp-rt|afxdp-steer-rt|xsnap-fanout-[18]|xsnap-inline-1|xsnapd-[18])$"))))[]
	  | .cpu_ns_per_frame as $c
	  | "    \(.name | pad(56)) NAPI \($c.napi | num | lpad(6))  engine \($c.engine | num | lpad(6))  consumers \($c.consumers | num | lpad(6))  scheduled in per 1000 frames \($c.sched_in_per_kframe | num)" ),
	"  busy share of the window, medians: the receive CPU / the other CPUs (the generator's; with softirq NAPI, NAPI's too):",
	( $cases | map(select(.rx_cpu_busy.median != null
		and (.id | test("^(afxdp|afxdp-rt|afxdp-spin|afxdp-steer-rt|afxdp-steer-spin|xsnap-fanout-[18]|xsnapd-[18])$"))))
	  | sort_by(.placement != "threaded")[]
	  | "    \(.placement | pad(9)) \(.name | pad(56)) \(.rx_cpu_busy.median | num) / \(.other_cpus_busy.median | num)" ),
	( $cases | map(select(.id == "xsnap-fanout-8" or .id == "afxdp")) | group_by(.id)[] | .[0]
	  | "  \(.name): UMEM \(.umem_bytes / 1048576 | num) MiB, RSS \(.rss_bytes / 1048576 | num) MiB" ),
	( $cases | map(select(.id == "xsnapd-8")) | .[0] | select(. != null)
	  | "  \(.name): RSS \(.rss_bytes / 1048576 | num) MiB summed over the 8 consumer processes (shared pages once per process; xsnapd not included)" ),
	"",
	"Targets (ratios in this run)",
	( .targets[] | "  \(.target | pad(64)) \(.placement | pad(9)) \(if .ratio == null then (.note // "n/a") else "\(.ratio | num)\(if .threshold == 0 then "" else "x" end)  \(if .met then "met" else "MISSED" end)\(if .judged_on == "paired" then " (paired; ratio of medians \(.ratio_of_medians | ratio)\(if .round_ratios then "; met in \(.rounds_met) of \(.round_ratios | length) rounds, \(.round_ratios | min | ratio)..\(.round_ratios | max | ratio)" else "" end))" else "" end)" end)\(if .ratios then "  (N=" + ([.ratios | to_entries[] | "\(.key): \(.value | ratio)"] | join(", ")) + ")" else "" end)\(if .p99_us then "  (p99 \(.p99_us.xsnap | num) vs \(.p99_us.afxdp | num) us; p99.9 \(.p999_us.xsnap | num) vs \(.p999_us.afxdp | num) us, \(.p999_ratio | ratio))" else "" end)" )
) | sub("\\s+$"; "")
