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
def order: {"generator": 0, "xdp_drop": 1, "afxdp": 2}[.id] //
	(if (.id | startswith("udp-")) then 3 elif (.id | startswith("afpacket-")) then 4
	 elif (.id | startswith("xsnap-fanout-")) then 5 elif (.id | startswith("xsnap-tenants-")) then 6
	 elif (.id | startswith("xsnap-share-")) then 7 elif (.id | startswith("xsnapd-")) then 8
	 else 9 end);

.machine as $m | .settings as $s
| [.records[] | select(.placement != null)] as $cases
| (
	"xsnap benchmark: kernel \($m.kernel), \($m.cpus) CPUs (\($m.cpu_model)), commit \($m.commit), \($m.date)",
	"\($s.runs) run(s) per case, \($s.window_s) s window after \($s.warmup_s) s warm-up; generator on CPU \($s.generator_cpu), receivers on CPU \($s.receive_cpu), nice \($s.nice); load average \($m.loadavg_start) at the start, \($m.loadavg_end) at the end",
	"Frames: \($s.frames)",
	"",
	"Throughput: min / median / max over the runs; vs raw = median / raw AF_XDP median (same placement);",
	"vs in-proc (xsnapd rows) = median / in-process fan-out median (same N, same placement); xsnapd's engine thread runs on CPU \($s.receive_cpu) with the consumer processes",
	("placement | case                                              |  N | unit                |     min |  median |     max | vs raw | vs in-proc" | gsub("\\|"; " ")),
	( ["threaded", "softirq"][] as $pl
	  | $cases | map(select(.placement == $pl and (.id | startswith("lat-") | not)))
	  | sort_by([order, .N])[]
	  | if .note then
		"\($pl | pad(9))   \(.name | pad(50))  \(.N | lpad(2))   \(.note)"
	    else
		"\($pl | pad(9))   \(.name | pad(50))  \((if .id == "generator" or .id == "xdp_drop" then "-" else .N end) | lpad(2))   \(.unit | pad(19))   \(.min | num | lpad(7))   \(.median | num | lpad(7))   \(.max | num | lpad(7))   \(.vs_raw | ratio | lpad(6))\(if (.id | startswith("xsnapd-")) then "   \(.vs_inproc | ratio | lpad(10))" else "" end)"
	    end ),
	"",
	"Latency at \($s.latency_rate_pps) frames/s, us, median over the runs (min..max): generator's send time to the consumer",
	("placement | system         |  p50                 |  p99                 |  p99.9               | xsnap: XDP->consumer p50 / p99" | gsub("\\|"; " ")),
	( ["threaded", "softirq"][] as $pl
	  | $cases | map(select(.placement == $pl and (.id | startswith("lat-"))))[]
	  | def three(x): "\(x.median | num | lpad(6)) (\(x.min | num)..\(x.max | num))" | pad(20);
	    "\($pl | pad(9))   \(.name | ltrimstr("latency: ") | pad(14))   \(three(.p50))   \(three(.p99))   \(three(.p999))   \(if .xdp_to_consumer then "\(.xdp_to_consumer.p50.median | num) / \(.xdp_to_consumer.p99.median | num)" else "" end)" ),
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
	    else "  \(.name): \(.median | num) \(.unit) (min \(.min | num), max \(.max | num))\(if .read_ns_per_frame then "; reading it: \(.read_ns_per_frame.median | num) ns/frame" else "" end)" end ),
	( $cases | map(select(.id == "xsnap-fanout-8" or .id == "afxdp")) | group_by(.id)[] | .[0]
	  | "  \(.name): UMEM \(.umem_bytes / 1048576 | num) MiB, RSS \(.rss_bytes / 1048576 | num) MiB" ),
	( $cases | map(select(.id == "xsnapd-8")) | .[0] | select(. != null)
	  | "  \(.name): RSS \(.rss_bytes / 1048576 | num) MiB summed over the 8 consumer processes (shared pages once per process; xsnapd not included)" ),
	"",
	"Targets (ratios in this run)",
	( .targets[] | "  \(.target | pad(56)) \(.placement | pad(9)) \(if .ratio == null then (.note // "n/a") else "\(.ratio | num)\(if .threshold == 0 then "" else "x" end)  \(if .met then "met" else "MISSED" end)" end)\(if .ratios then "  (N=" + ([.ratios | to_entries[] | "\(.key): \(.value | ratio)"] | join(", ")) + ")" else "" end)" )
) | sub("\\s+$"; "")
