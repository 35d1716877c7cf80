#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# ref_rx.sh: the reference program's receiver, run as bench.sh runs its own
# receivers (same options, same JSON report), so that `make bench` measures
# it next to xsnap with the same generator, placement and niceness.
#
#   ref_rx.sh RX_XSK -i IFACE -n N [-c CPU] [-W WARMUP] [-w WINDOW] [-T S] [-R READY]
#
# RX_XSK is the reference's rx_xsk binary (REFERENCE=DIR for bench.sh: DIR
# is a built copy of the reference, DIR/build/rx_xsk), run with --mode
# bcast: one AF_XDP socket, one poller thread and N consumer threads that
# read a shared descriptor ring with one cursor each, all on CPU.  It is
# not part of xsnap and is not shipped; it is measured, not copied.
#
# rx_xsk measures over an absolute CLOCK_MONOTONIC window: it starts 1 s
# plus WARMUP after launch (bench.sh starts the generator once READY
# exists, well within that second) and lasts WINDOW.  Its report is turned
# into bench.sh's: per_consumer_pps, min_pps, mean_pps, total_pps, frames.
set -euo pipefail

bin=${1:?usage: ref_rx.sh RX_XSK -i IFACE -n N [-c CPU] [-W S] [-w S] [-T S] [-R READY]}
shift
ifname= n=1 cpu=1 warm=0.5 win=2 ready=
while (($#)); do
	(($# >= 2)) || { echo "ref_rx: $1 needs a value" >&2; exit 2; }
	case $1 in
	-i) ifname=$2 ;;
	-n) n=$2 ;;
	-c) cpu=$2 ;;
	-W) warm=$2 ;;
	-w) win=$2 ;;
	-T) ;;	# bench.sh's stall timeout: rx_xsk ends at its window's end
	-R) ready=$2 ;;
	*) echo "ref_rx: unknown option $1" >&2; exit 2 ;;
	esac
	shift 2
done
[[ -x $bin && -n $ifname ]] || { echo "ref_rx: no receiver $bin or no -i" >&2; exit 2; }

read -r t0 t1 < <(python3 -c 'import sys, time
n = time.monotonic_ns(); a = n + int((1 + float(sys.argv[1])) * 1e9)
print(a, a + int(float(sys.argv[2]) * 1e9))' "$warm" "$win")
err=$(mktemp /tmp/ref_rx.XXXXXX)
out=$(mktemp /tmp/ref_rx.XXXXXX)
trap 'rm -f "$err" "$out"' EXIT
"$bin" --if "$ifname" --cpu "$cpu" --ccpu "$cpu" --mode bcast -n "$n" --t0 "$t0" --t1 "$t1" \
	>"$out" 2>"$err" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; rm -f "$err" "$out"' EXIT
for ((i = 0; i < 100; i++)); do
	grep -q '^READY' "$err" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
grep -q '^READY' "$err" || { cat "$err" >&2; exit 1; }
[[ -z $ready ]] || : >"$ready"
rc=0
wait "$pid" || rc=$?
trap 'rm -f "$err" "$out"' EXIT
((rc == 0)) || { cat "$err" >&2; exit "$rc"; }
jq -c '{system: "reference", mode: "bcast", n: .n, window_s: .window_s,
	per_consumer_pps: .pps, min_pps: .min_consumer_pps,
	mean_pps: (.total_pps / .n), total_pps: .total_pps, frames: (.pkts | add),
	allocs: null, allocs_per_frame: null, rss_bytes: 0, rt_prio: 0,
	reference: {ingest_pps, poller_sleeps, backpressure_stalls, xsk}}' "$out"
