# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# scripts/bench.sh's results: turns the per-run reports ($runs, one object per
# run of a case) into results.json: the machine, the settings, one record per
# case (min/median/max over its runs), the cost records and the targets.
#
# Inputs (jq --arg/--argjson/--slurpfile): runs, cases (the case table, one
# "ID|SYSTEM|N|placements|receiver args|generator args" line each), classify
# (bench_classify's JSON or null), cnote, kernel, cpus, model, commit, date,
# nruns, window, warmup, quick, gencpu, rxcpu, latlight, latmoderate (the
# latency cases' rates), xrt, xquota, xring (the in-process xsnap cases'
# engine priority, quota and rings), load0, load1, nice, hugepages (bench.sh's
# reservation of 2 MiB pages: mode, wanted, free_at_start, reserved,
# nr_hugepages_before, nr_hugepages_run, set_back_on_exit, page_kb, note).
#
# "vs raw" (vs_raw) divides by the best median among the raw AF_XDP cases
# (afxdp, afxdp-spin, afxdp-busypoll, afxdp-rt) of the same placement, and
# each record names it (raw_baseline): the strongest baseline.

def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def stats: map(select(. != null)) | if length == 0 then {min: null, median: null, max: null}
	else {min: min, median: median, max: max} end;
def r3: if . == null then null else (. * 1000 | round) / 1000 end;
def mpps: if . == null then null else . / 1e6 | r3 end;
def us: if . == null then null else . / 1e3 | r3 end;

# rate: the generator's -r (paced: the latency cases), else null
def casemeta: $cases | split("\n") | map(select(length > 0) | split("|")
	| {id: .[0], system: .[1], n: (.[2] | tonumber),
	   rate: ([.[5] // "" | capture("-r (?<r>[0-9]+)") | .r | tonumber] | first)});

def is_raw(id): id | test("^afxdp(-spin|-busypoll|-rt)?$");
def is_lat(id): id | startswith("lat-");
# the xsnapd fan-out cases on the shared view at 64 bytes (xsnapd-N)
def is_xsnapd_shared(id): id | test("^xsnapd-[0-9]+$");
# 1500-byte cases (-s 1500): no ratio against the 64-byte raw baseline
def is_big(id): id | endswith("-1500");
# Paired ratio: the median over a record's runs of each run's value divided
# by the denominator of the same round, $den["KEY/ROUND"] (a round runs every
# case once, the cases of a placement within a few minutes of each other).
# On a shared host whose speed drifts between rounds this cancels the drift
# that a ratio of two medians, taken from different rounds, keeps.  Null when
# no round has both.
def paired($key; $den):
	[range(0; .values | length) as $i | $den["\($key)/\(.rounds[$i])"] as $d
	 | .values[$i] as $v | if $d and $d > 0 and $v != null then $v / $d else empty end]
	| if length > 0 then {ratio: (median | r3), rounds: map(r3)} else null end;
# A throughput target's figures: judged on the paired ratio when the runs
# give one (@p: paired()'s object, or null), with the ratio of the medians
# beside it and each round's paired ratio (round_ratios): on a shared host one
# round's ratio may differ from the next by more than a target's margin, and
# the table says in how many rounds the target was met.
def judged(p; medians):
	(p | if type == "object" then . else null end) as $p
	| {ratio: ($p.ratio // medians), ratio_of_medians: medians,
	   judged_on: (if $p.ratio != null then "paired" else "medians" end)}
	+ (if $p.ratio != null and $p.rounds != null then {round_ratios: $p.rounds} else {} end);
# paired()'s object for a record's vs raw figures
def vs_raw_p: {ratio: .vs_raw_paired, rounds: .vs_raw_rounds};
def kpps: if . % 1000 == 0 then "\(. / 1000) kpps" else "\(.) frames/s" end;

# @prio: the SCHED_FIFO priority the run reported (rt_prio)
def case_label(id; sys; n; prio):
	if id == "xdp_drop" then "XDP_DROP ceiling (rx veth)"
	elif id == "generator" then "generator (xsnap-gen \(if $genmode == "live" then "live frames" elif $genmode == "pump" then "pump: broadcast clones" else "AF_PACKET" end))"
	elif id == "afxdp" then "raw AF_XDP, copy mode (blocking poll)"
	elif id == "afxdp-spin" then "raw AF_XDP, copy mode (spinning)"
	elif id == "afxdp-busypoll" then "raw AF_XDP, copy mode (busy poll)"
	elif id == "afxdp-steer-rt" then "raw AF_XDP behind xsnap's XDP program (SCHED_FIFO \(prio // "?"))"
	elif id == "afxdp-steer-spin" then "raw AF_XDP behind xsnap's XDP program (spinning)"
	elif id == "afxdp-general-spin" then "raw AF_XDP behind xsnap's general classifier (spinning)"
	elif id == "afxdp-rt" then "raw AF_XDP, copy mode (blocking poll, SCHED_FIFO \(prio // "?"))"
	elif (id | startswith("udp-")) then "kernel UDP multicast x\(n)"
	elif (id | test("^afpacket-[0-9]+-1500$")) then "AF_PACKET TPACKET_V3 x\(n), 1500 B"
	elif (id | startswith("afpacket-")) then "AF_PACKET TPACKET_V3 x\(n)"
	elif id == "xsnap-inline-1" then "xsnap x1, engine inline (blocking, SCHED_FIFO \(prio // "?"))"
	elif id == "xsnap-inline-1-spin" then "xsnap x1, engine inline (spinning)"
	elif (id | startswith("xsnap-perqueue-")) then "xsnap fan-out x\(n), engine per queue (1 queue)"
	elif (id | startswith("xsnap-fanout-")) then "xsnap fan-out, 1 tenant x\(n)"
	elif (id | startswith("xsnap-tenants-")) then "xsnap across \(n) tenants"
	elif (id | startswith("xsnap-share-")) then "xsnap share group x\(n)"
	elif (id | test("^xsnapd-priv-[0-9]+-1500$")) then "xsnapd, private view x\(n) (processes), 1500 B"
	elif (id | startswith("xsnapd-priv-")) then "xsnapd, private view x\(n) (processes)"
	elif (id | test("^xsnapd-[0-9]+-1500$")) then "xsnap via xsnapd, fan-out x\(n) (processes), 1500 B"
	elif (id | test("^xsnapd-[0-9]+-4k$")) then "xsnap via xsnapd, fan-out x\(n) (processes), 4 KiB"
	elif (id | startswith("xsnapd-")) then "xsnap via xsnapd, fan-out 1 tenant x\(n) (processes)"
	elif (id | startswith("lat-xsnap-")) then "latency: xsnap in-process"
	elif (id | startswith("lat-xsnapd-")) then "latency: xsnap via xsnapd"
	elif (id | startswith("lat-afxdp-")) then "latency: raw AF_XDP (blocking poll)"
	elif (id | startswith("lat-udp-")) then "latency: kernel UDP"
	elif (id | startswith("ref-bcast-")) then "reference program (rx_xsk --mode bcast) x\(n)"
	elif (id | startswith("xsnaprun-udp-")) then "unmodified UDP receiver under xsnap-run x\(n)"
	else id end;

# The value a run contributes to its case.
def value(id):
	if id == "xdp_drop" then .rx.total_pps | mpps
	elif id == "generator" then .gen.pps | mpps
	elif (id | startswith("xsnap-share-")) then .rx.total_pps | mpps
	else .rx.min_pps | mpps end;

def unit(id):
	if id == "xdp_drop" or id == "generator" then "Mpps"
	elif (id | startswith("xsnap-share-")) then "Mpps, all consumers"
	elif (id | startswith("lat-")) then "us"
	else "Mpps per consumer" end;

def metric(id):
	if id == "xdp_drop" then "frames/s counted by an XDP program that drops every frame on the rx veth (its own per-CPU counter)"
	elif id == "generator" then "frames/s xsnap-gen stamped and transmitted (live mode: XDP_TX of test-run frames; pump mode: a devmap broadcast of clones, settings.generator_mode says which) while the rx veth dropped them in XDP; includes frames veth's full ring refused (gen.dropped)"
	elif (id | startswith("xsnap-share-")) then "frames/s received by the share group together (each frame reaches one consumer)"
	elif (id | startswith("xsnapd-priv-")) then "frames/s received by the slowest of N consumer processes of one tenant on a private view of xsnapd (the engine copies each frame once into the tenant's own region, which is all its consumers map); otherwise as xsnapd-N\(if is_big(id) then "; 1500-byte frames (no vs raw: the raw baseline runs 64-byte frames)" else "" end)"
	elif (id | test("^xsnapd-[0-9]+-4k$")) then "as xsnapd-N, with the receive region on 4 KiB pages (xsnapctl attach --hugepages off) whatever the run reserved: compare with xsnapd-N, on hugetlb pages when the run reserved them"
	elif (id | startswith("xsnapd-")) then "frames/s received by the slowest of N consumer processes, each with its own xsnap_connect() context and fan-out socket of one tenant (every consumer sees every frame); the engine runs in xsnapd (one thread), started per run and pinned to the receive CPU with the consumers; compare vs_inproc: the in-process fan-out case of the same N and placement"
	elif is_lat(id) then "send time (xsnap-gen --timestamp: bpf_ktime_get_ns() just before XDP_TX) to the consumer's clock_gettime(CLOCK_MONOTONIC) right after the receive call returned the frame's batch, at rate_pps frames/s; percentiles over every frame of the window; min/median/max over runs"
	elif id == "afxdp-general-spin" then "as afxdp-steer-spin, with the rule set on xsnap_steer's general classifier (bench_afxdp --steer --general: no specialised program, bpf/xsnap_spec.bpf.c): what the specialised program saves; not a raw denominator"
	elif (id | startswith("afxdp-steer-")) then "frames/s received by the one consumer of one raw AF_XDP socket behind xsnap_steer (bench_afxdp --steer: the program as libxsnap loads and attaches it, one rule 'udp dst port 9000' for the socket's tenant slot): the classifier's cost, without xsnap's engine; not a raw denominator"
	elif is_raw(id) then "frames/s received by the one consumer of one raw AF_XDP socket over the window; the best of the afxdp* cases of a placement is the denominator of every vs_raw of that placement"
	elif (id | startswith("xsnaprun-udp-")) then "datagrams/s received by the slowest of the N UDP sockets of bench_udp (an ordinary program: sockets joined to the group, recvmmsg) run under xsnap-run on tenant t0 of a per-run xsnapd, so each socket receives every datagram through xsnapd; compare udp-N, the same program on kernel sockets"
	elif (id | startswith("ref-bcast-")) then "frames/s received by the slowest of N consumer threads of the reference program (../shared/reference rx_xsk --mode bcast: one AF_XDP socket, a poller thread, a shared descriptor ring read with one cursor per consumer, one futex wake per batch), run by tools/bench/ref_rx.sh on the receive CPU; not part of xsnap"
	else "frames/s received by the slowest consumer over the window (each consumer sees every frame)" end;

($runs | map(select(.id == "xdp_drop") | .id = "generator")) as $genruns
| ($runs | map(select(.id == "snap"))) as $snapruns
| ($runs | map(select(.id == "cow-xsnapd"))) as $cowdruns
| ($runs | map(select(.id == "send"))) as $sendruns
| ($runs | map(select(.id == "send-xsnapd"))) as $senddruns
| ($runs | map(select(.id | IN("snap", "cow-xsnapd", "send", "send-xsnapd") | not)) + $genruns) as $all
| casemeta as $meta
| ($all | group_by([.id, .placement])) as $groups
| [$groups[] | .[0] as $f
	| ($meta | map(select(.id == ($f.id | if . == "generator" then "xdp_drop" else . end)))[0]) as $m
	| ($f.id) as $id
	| {
		id: $id,
		name: case_label($id; $m.system; $m.n; $f.rx.rt_prio),
		system: (if $id == "generator" then "xsnap-gen" else $m.system end),
		mode: $f.rx.mode,
		N: $m.n,
		placement: $f.placement,
		unit: unit($id),
		metric: metric($id),
		runs: length
	}
	+ (if $id == "generator" then {} else {rt_prio: $f.rx.rt_prio} end)
	+ (if $f.rx.wait then {wait: $f.rx.wait} else {} end)
	# the receive region (UMEM) on hugetlb pages: true, false, or "mixed"
	# over the runs, where the receiver tells
	+ (if $id != "generator" and any(.[]; .rx.hugepages != null) then
		{hugepages: (map(.rx.hugepages) | unique | if length == 1 then .[0] else "mixed" end)}
	   else {} end)
	# --busy-poll: did busy polling poll?  The socket's NAPI id (0: none, so
	# SO_BUSY_POLL has no NAPI instance to poll) and the frames busy polling
	# took (TcpExt BusyPollRxPackets), over every run
	+ (if $f.rx.busy_poll then
		(map(.rx.busy_poll) | {busy_poll: (.[0] + {set: all(.set), napi_id: (map(.napi_id) | max),
			rx_packets: (map(.rx_packets) | add)})})
		| if .busy_poll.rx_packets == 0 then . + {caveat: "busy polling took no frame (\(if .busy_poll.napi_id == 0 then "the socket got no NAPI id from the device's XDP receive queue, so SO_BUSY_POLL had nothing to poll" else "NAPI id \(.busy_poll.napi_id)" end)): this case waited by spinning through recvfrom()"} else . end
	   else {} end)
	+ (if is_lat($id) then
		{
			p50: (map(.rx.latency_ns.p50 | us) | stats),
			p99: (map(.rx.latency_ns.p99 | us) | stats),
			p999: (map(.rx.latency_ns.p999 | us) | stats),
			samples: (map(.rx.latency_ns.samples) | stats),
			rate_pps: $m.rate
		}
		+ (if any(.[]; .rx.latency_xdp_ns.samples > 0) then {xdp_to_consumer: {
			p50: (map(.rx.latency_xdp_ns.p50 | us) | stats),
			p99: (map(.rx.latency_xdp_ns.p99 | us) | stats),
			p999: (map(.rx.latency_xdp_ns.p999 | us) | stats),
			metric: "the XDP program's bpf_ktime_get_ns() (xsnap_frame_time_ns) to the consumer's clock"}}
		   else {} end)
		+ (map(.rx.latency_ns.p50 | us) | stats)
	   else
		(map(value($id)) | stats) + {values: map(value($id)), rounds: map(.run)}
		+ {total_mpps: (map(.rx.total_pps | mpps) | stats)}
	   end)
	+ {
		drops: {
			generator_refused: (map(.gen.dropped) | stats | .median),
			kernel: (map(.rx.rx_dropped // .rx.kernel_rx_dropped // .rx.kernel_drops
				// .rx.udp_in_errors) | stats | .median),
			fill_empty: (map(.rx.fill_empty) | stats | .median),
			quota: (map(.rx.quota_drops) | stats | .median)
		} | with_entries(select(.value != null)),
		generator_mpps: (map(.gen.pps | mpps) | stats),
		allocs_per_frame: (map(.rx.allocs_per_frame) | stats | .max),
		rss_bytes: (map(.rx.rss_bytes) | stats | .median),
		# the receive CPU's busy share over the window (bench.h)
		rx_cpu_busy: (map(.rx.rx_cpu_busy | r3) | stats),
		other_cpus_busy: (map(.rx.other_cpus_busy | r3) | stats),
		umem_bytes: (map(.rx.umem_bytes) | stats | .median),
		# on-CPU time per frame by role, medians over the runs (bench.h)
		cpu_ns_per_frame: (if any(.[]; .rx.cpu_ns_per_frame != null) then
			{napi: (map(.rx.cpu_ns_per_frame.napi // empty) | stats | .median),
			 engine: (map(.rx.cpu_ns_per_frame.engine // empty) | stats | .median),
			 consumers: (map(.rx.cpu_ns_per_frame.consumers // empty) | stats | .median),
			 sched_in_per_kframe: (map(.rx.sched_in_per_kframe // empty
				| .napi + .engine + .consumers) | stats | .median)}
		   else null end),
		commands: .[0].commands,
		kernel: $kernel,
		cpus: $cpus
	}
] as $recs
# ratios against raw AF_XDP in the same placement (medians of the same run):
# the best median among its afxdp* cases
| ($recs | map(select(is_raw(.id) and .median != null)) | group_by(.placement)
	| map({key: .[0].placement, value: (max_by(.median) | {id, name, median})}) | from_entries)
	as $raw
# denominators of the paired ratios (see paired): the run of each round of
# the raw AF_XDP case that is the placement's denominator ($raw: the waiting
# mode with the best median; "PLACEMENT/ROUND"), and every run of every case
# ("ID/PLACEMENT/ROUND").  Not the best of the raw modes' runs of each round:
# that maximum of four noisy runs is biased upwards, and it is not the one
# mode the table names.
| ($all | map(select(is_raw(.id) and .id == $raw[.placement].id)) | group_by([.placement, .run])
	| map({key: "\(.[0].placement)/\(.[0].run)", value: (map(value(.id)) | max)})
	| from_entries) as $rawround
| ($all | map(select(is_lat(.id) | not) | {key: "\(.id)/\(.placement)/\(.run)", value: value(.id)})
	| from_entries) as $caseround
| ($recs | map(if ((.unit | startswith("Mpps per consumer")) or .unit == "Mpps, all consumers")
	and (is_big(.id) | not)
	then . + ($raw[.placement] as $r
		| if $r and .median then {vs_raw: (.median / $r.median | r3), raw_baseline: $r.id}
		  else {vs_raw: null, raw_baseline: null} end)
		+ (paired(.placement; $rawround) as $p
		   | {vs_raw_paired: $p.ratio, vs_raw_rounds: $p.rounds})
	else . end)) as $recs
# multi-process (xsnapd) against in-process fan-out: same N, same placement
| ($recs | map(select(.id | startswith("xsnap-fanout-")) | {key: "\(.placement)/\(.N)", value: .median})
	| from_entries) as $inproc
| ($recs | map(if is_xsnapd_shared(.id) then
	. + {vs_inproc: ($inproc["\(.placement)/\(.N)"] as $ip
		| if $ip and .median then (.median / $ip | r3) else null end),
	     vs_inproc_paired: (paired("xsnap-fanout-\(.N)/\(.placement)"; $caseround) | .ratio?),
	     vs_inproc_rounds: (paired("xsnap-fanout-\(.N)/\(.placement)"; $caseround) | .rounds?),
	     daemon_cpu: ($rxcpu | tonumber)}
	else . end)) as $recs
# bench_classify: {"results": [{set, rules, frame, min, median, max,
# ratio_to_1_rule}, ...]}.  Per rule set: per rule count the worst median over
# the frame kinds, and the worst ratio at 10000 rules.  The target is judged on
# the "uniform" set (every rule of one shape: the rule count alone varies);
# "mixed" adds rule shapes, which tuple-space search pays per shape.
| ($classify // null) as $cl
| ([$cl | objects | .results // [] | .[] | select(.rules != null and .median != null)])
	as $clr
| ($clr | group_by(.set) | map({key: (.[0].set // "all"), value: {
	ns_per_frame: (group_by(.rules) | map({key: (.[0].rules | tostring),
		value: (map(.median) | max)}) | from_entries),
	ratio_10000_vs_1: (map(select(.rules == 10000) | .ratio_to_1_rule // empty) | max | r3)
  }}) | from_entries) as $clsets
| (($clsets.uniform // null | .ratio_10000_vs_1)
	// ([$clsets[] | .ratio_10000_vs_1 | select(. != null)] | max)) as $clratio
# latency at the light rate against raw AF_XDP (blocking poll), same placement:
# ratio of the p99 medians (and of the p99.9 medians, shown with it)
| ([["threaded", "softirq"][] as $pl
	| ($recs | map(select(.id == "lat-afxdp-\($latlight)" and .placement == $pl))[0]) as $r
	| ({sys: "xsnap", what: "xsnap in-process"}, {sys: "xsnapd", what: "xsnap via xsnapd"}) as $x
	| ($recs | map(select(.id == "lat-\($x.sys)-\($latlight)" and .placement == $pl))[0])
	| select(. != null)
	| {target: "p99 latency at \($latlight | kpps) <= 2x raw AF_XDP's p99: \($x.what)",
	   placement: $pl, threshold: 2, lower_is_better: true, rate_pps: $latlight,
	   ratio: (if $r and .p99.median and $r.p99.median then (.p99.median / $r.p99.median | r3)
		else null end),
	   p99_us: {xsnap: .p99.median, afxdp: $r.p99.median},
	   p999_us: {xsnap: .p999.median, afxdp: $r.p999.median},
	   p999_ratio: (if $r and .p999.median and $r.p999.median
		then (.p999.median / $r.p999.median | r3) else null end),
	   cases: [.id, "lat-afxdp-\($latlight)"]}
	+ (if $r then {} else {note: "n/a (lat-afxdp-\($latlight) not run)"} end)]) as $lattargets
| [$runs[] | select(.rx.system == "xsnap" or .rx.system == "xsnapd") | .rx] as $xr
| {
	id: "allocs", name: "heap allocations per received frame (xsnap data path)",
	system: "xsnap", unit: "allocations/frame",
	metric: "malloc/calloc/realloc/memalign calls counted by an LD_PRELOAD shim (tools/bench/shim/alloc_count.c) inside every xsnap run's measurement window, divided by the frames received: in-process runs every thread of the receiver; xsnapd runs every consumer process (one counter shared across fork) plus xsnapd itself (its counter in a file, XSNAP_BENCH_ALLOC_FILE)",
	max: ([$xr[].allocs_per_frame] | stats | .max),
	allocs: ([$xr[] | (.allocs // 0) + (.daemon_allocs // 0)] | add),
	daemon_allocs: ([$xr[] | .daemon_allocs | select(. != null)] | add),
	frames: ([$xr[].frames] | add),
	runs: ($xr | length),
	runs_xsnapd: ($xr | map(select(.system == "xsnapd")) | length),
	kernel: $kernel, cpus: $cpus
} as $allocs
| {
	machine: {kernel: $kernel, cpus: $cpus, cpu_model: $model, commit: $commit, date: $date,
		loadavg_start: $load0, loadavg_end: $load1},
	settings: {runs: $nruns, window_s: ($window | tonumber), warmup_s: ($warmup | tonumber),
		quick: ($quick == 1), generator_cpu: ($gencpu | tonumber), generator_mode: $genmode, nice: ($nice | tonumber),
		receive_cpu: ($rxcpu | tonumber),
		hugepages_reserved: $hugepages.reserved,
		hugepages: ($hugepages + {afxdp_runs: ([$runs[] | select(.rx.system == "afxdp")
			| .rx.hugepages] | {runs: length, on_hugepages: map(select(. == true)) | length}),
			note: ($hugepages.note // "2 MiB hugetlb pages kept free for the run (reserved: how many of those it asked for were free at the start); libxsnap, xsnapd and bench_afxdp put their receive regions on them when they find enough free, else on normal pages")}),
		latency_rates_pps: {light: $latlight, moderate: $latmoderate},
		raw_baselines: ($raw | map_values(.id)),
		raw_baseline_note: "vs_raw of a record: its median / the best median among the raw AF_XDP cases of its placement (afxdp: blocking poll; afxdp-spin; afxdp-busypoll: SO_PREFER_BUSY_POLL, SO_BUSY_POLL 20 us, SO_BUSY_POLL_BUDGET 64, recvfrom(MSG_DONTWAIT) when idle; afxdp-rt: blocking poll, receive thread SCHED_FIFO 1); rx and fill rings 2048 (bench_afxdp's default)",
		xsnap_inproc: {engine_rt_prio: $xrt, quota: $xquota, ring: $xring,
			note: "in-process xsnap cases (xsnap-fanout-N, xsnap-tenants-N, xsnap-share-N, lat-xsnap-R): bench_xsnap --rt-prio \($xrt) (xsnap's engine thread, which moves frames from the kernel's rings into the tenants' logs, SCHED_FIFO \($xrt); the consumer threads at normal scheduling) --quota \($xquota) --ring \($xring) --frames F (F: the smallest power of two, at least 16384, that holds the fill and rx rings and every tenant's quota; each record's commands.receiver has it): a tenant's quota is its lag budget (how far its slowest consumer may fall behind before frames are dropped for it), what a raw socket's rx ring is to a raw consumer"},
		xsnapd: "xsnapd cases: a fresh xsnapd --rt-prio 1 (its loop is the engine: SCHED_FIFO 1 like the in-process engine thread) per run in the rx namespace, pinned to the receive CPU (taskset) and at the same nice, configured with xsnapctl: attach --frames 16384 --ring \($xring) --hugepages auto (xsnapd-8-4k: off), tenant add t0 --quota \($xquota) --view shared (xsnapd-priv-*: --view private), rule add t0 'udp dst port 9000'",
		frames: "66-byte UDP (74 with --timestamp; 1500 bytes in the *-1500 cases) to 01:00:5e:01:01:01 / 239.1.1.1:9000, 64 source ports",
		placements: {
			threaded: "rx veth NAPI threaded (echo 1 > /sys/class/net/DEV/threaded), its kthread pinned to the receive CPU with the consumers: all receive work on one core",
			softirq: "rx veth NAPI in softirq (default): it runs on the generator's CPU, the consumers alone on the receive CPU"}},
	# lat-xsnap: the light-rate in-process latency case under its old id
	# (readers of results.json from before the two rates, such as
	# tests/netns/test_bench.sh); alias_of names the case, the table skips it
	records: ($recs + ($recs | map(select(.id == "lat-xsnap-\($latlight)")
		| . + {id: "lat-xsnap", alias_of: .id})) + [
		$allocs,
		{id: "classify", name: "classification cost", system: "xsnap", unit: "ns/frame",
		 sets: $clsets,
		 metric: "bench_classify (BPF_PROG_TEST_RUN of xsnap_steer): per rule set and rule count the worst median over its frame kinds; ratio: the worst ratio_to_1_rule at 10000 rules; the target is judged on the uniform set (one rule shape)",
		 ratio_10000_vs_1: ($clratio | r3),
		 source: $cnote, raw: $cl, kernel: $kernel, cpus: $cpus},
		(if ($snapruns | length) > 0 then
		 {id: "snapshot", name: "snapshot of 10 000 frames", system: "xsnap", unit: "us",
		  metric: "xsnap_snapshot(last 10000 frames) of a retaining log, median of each run's repetitions; min/median/max over runs",
		  runs: ($snapruns | length), read_ns_per_frame: ($snapruns | map(.rx.snapshot_read_ns_per_frame.median) | stats),
		  commands: $snapruns[0].commands, kernel: $kernel, cpus: $cpus}
		  + ($snapruns | map(.rx.snapshot_us.median) | stats)
		 else {id: "snapshot", name: "snapshot of 10 000 frames", system: "xsnap", unit: "us",
		  min: null, median: null, max: null, note: "n/a (not measured)"} end),
		(if ($snapruns | length) > 0 then
		 {id: "cow", name: "copy-on-write per frame", system: "xsnap", unit: "ns",
		  metric: "xsnap_frame_cow() of received 66-byte frames, timed per batch of up to 64, median of each run's repetitions; min/median/max over runs",
		  runs: ($snapruns | length), commands: $snapruns[0].commands, kernel: $kernel, cpus: $cpus}
		  + ($snapruns | map(.rx.cow_ns_per_frame.median) | stats)
		 else {id: "cow", name: "copy-on-write per frame", system: "xsnap", unit: "ns",
		  min: null, median: null, max: null, note: "n/a (not measured)"} end),
		(if ($cowdruns | length) > 0 then
		 ($cowdruns | map(.rx.cow_ns_per_frame.median) | stats) as $d
		 | ($snapruns | map(.rx.cow_ns_per_frame.median) | stats) as $l
		 | {id: "cow-xsnapd", name: "copy-on-write per frame through xsnapd", system: "xsnapd",
		  unit: "ns",
		  metric: "as the cow row, by a client of xsnapd: private versions in the tenant instance's own pool, whose chunks the client leases in batches of 32 and reuses from its stash (those requests included); vs_in_process: median over the cow row's median",
		  runs: ($cowdruns | length), commands: $cowdruns[0].commands, kernel: $kernel,
		  cpus: $cpus,
		  vs_in_process: (if $l.median and $d.median then ($d.median / $l.median | r3) else null end)}
		  + $d
		 else empty end),
		(if ($sendruns | length) > 0 then
		 {id: "send", name: "send of fresh 64-byte frames", system: "xsnap", unit: "Mpps",
		  metric: "xsnap_frame_alloc(), writing the frame and xsnap_send() in batches of 64 (what the rings did not take is sent again), frames taken per second in windows of 100 ms, median of each run's windows; min/median/max over runs",
		  runs: ($sendruns | length), commands: $sendruns[0].commands, kernel: $kernel, cpus: $cpus}
		  + ($sendruns | map(.rx.send_mpps.median) | stats)
		 else empty end),
		(if ($senddruns | length) > 0 then
		 ($senddruns | map(.rx.send_mpps.median) | stats) as $d
		 | ($sendruns | map(.rx.send_mpps.median) | stats) as $l
		 | {id: "send-xsnapd", name: "send of fresh 64-byte frames through xsnapd", system: "xsnapd",
		  unit: "Mpps",
		  metric: "as the send row, by a client of xsnapd: fresh frames in chunks of the tenant instance's pool leased in batches, one SEND request per batch, xsnapd copies each frame into memory no client writes before it queues it; vs_in_process: median over the send row's median",
		  runs: ($senddruns | length), commands: $senddruns[0].commands, kernel: $kernel,
		  cpus: $cpus,
		  vs_in_process: (if $l.median and $d.median then ($d.median / $l.median | r3) else null end)}
		  + $d
		 else empty end)
	]),
	targets: ([
		(["threaded", "softirq"][] as $pl | ($recs | map(select(.id == "xsnap-fanout-1" and
			.placement == $pl))[0]) | select(. != null) |
			{target: "1 consumer >= 0.95x raw AF_XDP", placement: $pl, threshold: 0.95}
			+ judged(vs_raw_p; .vs_raw)),
		# the same with xsnap's best way of running one consumer, as raw's
		# denominator is its best way of waiting: the engine thread
		# (xsnap-fanout-1) or the engine inline, blocking or spinning
		(["threaded", "softirq"][] as $pl
			| ($recs | map(select((.id == "xsnap-fanout-1" or (.id | startswith("xsnap-inline-1")))
				and .placement == $pl and (.vs_raw_paired // .vs_raw) != null))
				| sort_by(.vs_raw_paired // .vs_raw) | last) | select(. != null)
			| {target: "1 consumer, xsnap's best mode >= 0.95x raw AF_XDP", placement: $pl,
			   threshold: 0.95, cases: [.id]}
			+ judged(vs_raw_p; .vs_raw)),
		(({pl: "threaded", t: 0.75}, {pl: "softirq", t: 0.9}) as $x
			| ($recs | map(select(.id == "xsnap-fanout-8" and .placement == $x.pl))[0])
			| select(. != null)
			| {target: "8 fan-out consumers: each >= \($x.t)x raw", placement: $x.pl,
			   threshold: $x.t} + judged(vs_raw_p; .vs_raw)),
		(["threaded", "softirq"][] as $pl
			| ($recs | map(select(is_xsnapd_shared(.id) and .placement == $pl
				and .vs_inproc != null)) | sort_by(.vs_inproc_paired // .vs_inproc))
			| select(length > 0)
			| {target: "multi-process via xsnapd >= 0.9x in-process (worst N)",
			   placement: $pl, threshold: 0.9, worst_n: .[0].N,
			   ratios: (sort_by(.N) | map({key: "\(.N)", value: (.vs_inproc_paired // .vs_inproc)})
				| from_entries)}
			+ judged(.[0] | {ratio: .vs_inproc_paired, rounds: .vs_inproc_rounds};
				.[0].vs_inproc)),
		$lattargets[],
		# the reference program (REFERENCE=DIR): xsnap fan-out xN against
		# its broadcast mode xN, per consumer, same placement
		(["threaded", "softirq"][] as $pl | (1, 8) as $n
			| ($recs | map(select(.id == "xsnap-fanout-\($n)" and .placement == $pl))[0]) as $ra
			| ($recs | map(select(.id == "ref-bcast-\($n)" and .placement == $pl))[0]) as $rb
			| select($ra != null and $rb != null)
			| {target: "xsnap fan-out x\($n) beats the reference program x\($n)", placement: $pl,
			   threshold: 1, cases: [$ra.id, $rb.id]}
			+ judged($ra | paired("\($rb.id)/\($pl)"; $caseround);
				if $ra.median and $rb.median then ($ra.median / $rb.median | r3) else null end)),
		# issue 14: unmodified receivers under xsnap-run against the same
		# program on kernel UDP sockets, per receiver, same placement
		(["threaded", "softirq"][] as $pl | 8 as $n
			| ($recs | map(select(.id == "xsnaprun-udp-\($n)" and .placement == $pl))[0]) as $ra
			| ($recs | map(select(.id == "udp-\($n)" and .placement == $pl))[0]) as $rb
			| select($ra != null and $rb != null)
			| {target: "unmodified receiver x\($n) under xsnap-run >= 3x kernel UDP x\($n)",
			   placement: $pl, threshold: 3, cases: [$ra.id, $rb.id]}
			+ judged($ra | paired("\($rb.id)/\($pl)"; $caseround);
				if $ra.median and $rb.median then ($ra.median / $rb.median | r3) else null end)),
		# confidential views: private x8 against the shared view x8 (64 B)
		# and against AF_PACKET x8 (64 and 1500 B), per consumer, same placement
		(["threaded", "softirq"][] as $pl
			| ({a: "xsnapd-priv-8", b: "xsnapd-8", t: 0.8,
			    what: "private view x8 >= 0.8x shared view x8 via xsnapd (64 B)"},
			   {a: "xsnapd-priv-8", b: "afpacket-8", t: 1,
			    what: "private view x8 via xsnapd beats AF_PACKET x8 (64 B)"},
			   {a: "xsnapd-priv-8-1500", b: "afpacket-8-1500", t: 1,
			    what: "private view x8 via xsnapd beats AF_PACKET x8 (1500 B)"},
			   {a: "xsnapd-8", b: "xsnapd-8-4k", t: 1,
			    what: "xsnapd x8: hugetlb pages (if reserved) beat 4 KiB pages"}) as $x
			| ($recs | map(select(.id == $x.a and .placement == $pl))[0]) as $ra
			| ($recs | map(select(.id == $x.b and .placement == $pl))[0]) as $rb
			| select($ra != null and $rb != null)
			| {target: $x.what, placement: $pl, threshold: $x.t, cases: [$x.a, $x.b]}
			+ judged($ra | paired("\($x.b)/\($pl)"; $caseround);
				if $ra.median and $rb.median then ($ra.median / $rb.median | r3) else null end)),
		{target: "classification: 10000 rules <= 1.5x 1 rule (1 shape)", placement: "-",
		 ratio: ($clratio | r3), threshold: 1.5, lower_is_better: true,
		 note: (if $clratio then null else $cnote end)},
		{target: "0 heap allocations per frame", placement: "both",
		 ratio: $allocs.max, threshold: 0, lower_is_better: true}
	] | map(. as $t | def ok(r): if $t.lower_is_better then r <= $t.threshold else r >= $t.threshold end;
		. + {met: (if .ratio == null then null else ok(.ratio) end)}
		+ (if .round_ratios then {rounds_met: (.round_ratios | map(select(ok(.))) | length)} else {} end)))
}
