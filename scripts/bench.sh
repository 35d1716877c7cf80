#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# make bench: xsnap against raw AF_XDP, kernel UDP fan-out and AF_PACKET on
# one veth queue, with one generator, in one run, so that the ratios mean
# something on a noisy shared machine.
#
# The raw AF_XDP baseline is run every way a raw user could wait for frames
# (afxdp: blocking poll; afxdp-spin; afxdp-busypoll: SO_PREFER_BUSY_POLL and
# recvfrom driving NAPI, where the device gives the socket a NAPI id, which
# the record tells; afxdp-rt: blocking poll, SCHED_FIFO 1), and "vs raw"
# divides by the best of them in the same placement.  The in-process xsnap
# cases run xsnap's engine thread SCHED_FIFO 1 (--rt-prio 1) with tenant
# quota and rings of 2048, like the raw socket's.  Latency is measured at a light and a moderate
# rate (LAT_LIGHT, LAT_MODERATE) for xsnap in-process, xsnap through xsnapd,
# raw AF_XDP and kernel UDP.
#
#   scripts/bench.sh [--quick] [--runs N] [--window S] [--warmup S] [--only REGEX]
#                    [-o FILE]
#
# Root.  Brings up its own lab (scripts/lib/lab.sh: two namespaces joined by a
# veth pair with one queue) and removes it on exit, also on failure or ^C.
# Prints a table (also saved as results.txt) and writes results.json next to
# it ($OUTPUT/bench/ by default): one record per case with min/median/max
# over the runs, the exact commands, the placement, kernel and CPU count.
#
# Method, per run of a case:
#   1. the receiver (build/bench/bench_*) starts in the rx namespace, pinned
#      to the receive CPU (RX_CPU, default 1) with all its threads, and
#      creates a ready file;
#   2. threaded placement: the receiving veth's NAPI kthread is pinned to
#      RX_CPU too (all receive work on one core); softirq placement: NAPI
#      runs in softirq on whichever CPU raised it, the generator's;
#   3. xsnap-gen starts in the tx namespace on GEN_CPU (default 0): live
#      frames (BPF_PROG_TEST_RUN + XDP_TX), unpaced, one 66-byte UDP stream
#      to 01:00:5e:01:01:01 / 239.1.1.1:9000 (64 source ports), so every
#      system can fan it out; latency cases pace it and add a timestamp;
#   4. the receiver waits for the first frame, warms up, measures over a
#      fixed window and prints a JSON report; the generator is stopped.
# The xsnapd cases (bench_xsnap --connect: N consumer processes) first start
# their own xsnapd in the rx namespace (its own socket under the run's temp
# directory), pinned to RX_CPU and niced like the receivers, under the
# allocation-counting shim, SCHED_FIFO 1 like the in-process engine thread
# (--rt-prio 1), and configure it with xsnapctl only (attach, one tenant, one
# rule, the in-process fan-out case's sizes); the daemon is stopped after
# the run.
# Cases run in rounds (every case once per round, --runs rounds), so slow
# drifts of the machine hit every case alike.
# Hugepages: libxsnap and xsnapd put the receive region on 2 MiB hugetlb
# pages when the system has them free, and bench_afxdp its UMEM alike; so
# that every system gets them, the run raises vm.nr_hugepages until enough
# are free for its largest regions together (hugepages_needed) and sets the
# old value back on exit, also on failure or ^C.  Not with --quick (a smoke
# run leaves the system as it found it), nor with BENCH_HUGEPAGES=0 or off
# (off: every receive region on 4 KiB pages, whatever the system has free).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTPUT=${OUTPUT:-$ROOT/build}
[[ $OUTPUT == /* ]] || OUTPUT=$PWD/$OUTPUT
BIN=$OUTPUT/bench
GEN=$OUTPUT/xsnap-gen
XSNAPD=$OUTPUT/xsnapd
XSNAPCTL=$OUTPUT/xsnapctl
prog=${0##*/}

RUNS=3
WINDOW=2
WARMUP=0.5
QUICK=
RUNS_SET=
WINDOW_SET=
WARMUP_SET=
RESULTS=
ONLY=
GEN_CPU=${GEN_CPU:-0}
RX_CPU=${RX_CPU:-1}
LAT_LIGHT=${LAT_LIGHT:-10000}		# latency cases, light load: frames per second
LAT_MODERATE=${LAT_MODERATE:-100000}	# latency cases, moderate load
# SCHED_FIFO priority of the thread that moves frames from the kernel: the
# receive thread of afxdp-rt, and in the in-process xsnap cases the engine
# thread (which moves frames from the kernel's rings into the tenants' logs;
# the consumer threads stay normal).  A tenant's quota is its lag budget (how far
# its slowest consumer may fall behind before frames are dropped for it),
# what a raw socket's rx ring is to a raw consumer: 2048, and rings of 2048,
# the sizes of bench_afxdp's rx and fill rings.  (Rings and quota of 4096
# measured slower: a longer way round the receive region for each chunk,
# so the kernel's copy into it and the consumers' reads miss the caches
# more often.)  xsnapd's cases use the same sizes.
# The receive region (--frames) is the smallest power of two that holds the
# fill and rx rings and every tenant's quota (xsnap refuses less): with the
# default sizes 16384 for up to 4 tenants, 32768 for 8 (xsnap_frames).
RT_PRIO=1
XSNAP_QUOTA=${XSNAP_QUOTA:-2048}
XSNAP_RING=${XSNAP_RING:-2048}
NICE=${BENCH_NICE:--10}		# scheduling priority of everything measured
# 2 MiB hugetlb pages to have free for the run: auto (hugepages_needed; none
# with --quick), 0 (reserve none), off (reserve none and put every receive
# region on 4 KiB pages), or a number
HUGEPAGES=${BENCH_HUGEPAGES:-auto}
NOHUGE=		# off: the receivers' own option for 4 KiB pages
DHUGE_RUN=auto	# off: xsnapd's attach --hugepages
if [[ $HUGEPAGES == off ]]; then
	NOHUGE=" --no-huge"
	DHUGE_RUN=off
fi
FRAME_BYTES=4096	# a receive frame (chunk), every system
DAEMON_FRAMES=16384	# xsnapd's receive region (d_up: attach --frames)
AFXDP_FRAMES=4096	# bench_afxdp's UMEM: 2 x its default 2048-entry rings
PLACEMENTS=${PLACEMENTS:-threaded softirq}	# experiments: one of them only
PERF_DIR=${BENCH_PERF:-}	# profile every run's window into this directory

usage() {
	cat <<EOF
usage: $prog [--quick] [--runs N] [--window S] [--warmup S] [--only REGEX] [-o FILE]
  --quick        smoke run: each kind of case once, tiny windows (seconds)
  --runs N       runs per case (default 3; at least 3 unless --quick)
  --window S     measurement window per run in seconds (default 2)
  --warmup S     seconds between the first frame and the window (default 0.5)
  --only REGEX   run only the cases whose id matches REGEX (bash =~), e.g.
                 'afxdp|xsnap-fanout|xsnapd' (ratios need their reference
                 cases: afxdp* for vs raw, xsnap-fanout-N for vs in-process,
                 lat-afxdp-R for the latency targets)
  -o FILE        results JSON (default \$OUTPUT/bench/results.json)
Cases (every one in both placements, threaded and softirq, unless --quick):
  xdp_drop         XDP_DROP ceiling
  afxdp            raw AF_XDP, copy mode, blocking poll()
  afxdp-spin       the same, spinning on the rx ring
  afxdp-busypoll   the same, SO_PREFER_BUSY_POLL + recvfrom() busy polling
  afxdp-rt         blocking poll, receive thread SCHED_FIFO 1
                   (vs raw: the best median of these four, same placement)
  afxdp-steer-rt, afxdp-steer-spin  afxdp-rt and afxdp-spin (softirq only)
                   behind xsnap's XDP program (xsnap_steer, one rule; not raw
                   denominators): what xsnap's classification costs without
                   its engine, the ceiling of one xsnap consumer
  afxdp-general-spin  afxdp-steer-spin with the rule set on the general
                   classifier (no specialised program, bpf/xsnap_spec.bpf.c)
  udp-N, afpacket-N, xsnap-fanout-N, xsnap-tenants-N, xsnap-share-N
                   (N = 1, 2, 4, 8; tenants and share 2, 4, 8; in-process
                   xsnap: engine thread SCHED_FIFO 1, quota and rings 2048)
  xsnap-perqueue-8 xsnap-fanout-8 with XSNAP_ENGINE_PER_QUEUE (one engine thread
                   per queue; the lab has one queue): the two-step engine pass
  xsnap-inline-1   one in-process consumer, no engine thread (the engine
                   runs inside its xsnap_recv()), SCHED_FIFO 1 like afxdp-rt
  xsnap-inline-1-spin  the same, spinning (normal priority, like afxdp-spin;
                   softirq placement only: in the threaded one a spinning
                   receiver starves the NAPI thread); the "best mode" target
                   takes the best of these two and xsnap-fanout-1, as vs raw
                   takes raw's best
  xsnapd-N         N consumer processes of an xsnapd that bench.sh starts,
                   pinned to RX_CPU with them, and configures through
                   xsnapctl; compared with xsnap-fanout-N
  xsnapd-priv-N    the same with the tenant on a private view (N = 1, 8)
  *-1500           1500-byte frames: xsnapd-priv-N-1500 (N = 1, 8),
                   xsnapd-8-1500, afpacket-8-1500
  xsnapd-8-4k      xsnapd-8 with its receive region on 4 KiB pages (attach
                   --hugepages off): what the hugetlb pages bring
  lat-SYS-R        latency at R frames/s (LAT_LIGHT and LAT_MODERATE), SYS:
                   xsnap (in-process), xsnapd (1 consumer process), afxdp
                   (blocking poll), udp
  snap             snapshot and copy-on-write costs
  cow-xsnapd       copy-on-write per frame through an xsnapd (a client of tenant t0)
  send, send-xsnapd  transmit rate of fresh 64-byte frames (alloc, write,
                   send in batches of 64), in-process and through an xsnapd
--quick runs one of each kind, mostly threaded, and only LAT_LIGHT.
  ref-bcast-N      REFERENCE=DIR only: the reference program (a built copy of
                   ../shared/reference, DIR/build/rx_xsk --mode bcast), N = 1, 8
Environment: OUTPUT (build dir), GEN_CPU (default 0), RX_CPU (default 1),
REFERENCE (see ref-bcast-N), XSNAP_QUOTA and XSNAP_RING (the in-process
xsnap cases' quota and rings, default 2048; xsnapd's too), PLACEMENTS (default
"threaded softirq"; one of them for experiments),
LAT_LIGHT, LAT_MODERATE (the latency cases' rates, default 10000 and 100000
frames/s), BENCH_NICE (nice value of the generator, the receivers, the NAPI
kthread and, while it runs, this session's autogroup; default -10, so that
other work on a shared machine disturbs less; 0 to leave priorities alone),
BENCH_HUGEPAGES (2 MiB hugetlb pages to have free for the run, raising
vm.nr_hugepages for it and restoring it after: auto, the default, sizes them
for the cases' receive regions and reserves none with --quick; 0 reserves
none: the receivers then use hugepages only if the system has some free
itself; off: none reserved, and every receive region on 4 KiB pages; N: N
pages), BENCH_PERF (a directory: perf record -a -g of every run's window
into DIR/CASE.PLACEMENT.RUN.data, to see where the time goes; such runs pay
perf's cost, so do not compare them with plain ones).
Needs root (SCHED_FIFO too), 2 CPUs, jq, and a build (make).
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

is_num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

while (($#)); do
	case $1 in
	--quick) QUICK=1; shift ;;
	--runs)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { usage >&2; exit 2; }
		RUNS=$2; RUNS_SET=1; shift 2 ;;
	--window)
		is_num "${2:-}" || { usage >&2; exit 2; }
		WINDOW=$2; WINDOW_SET=1; shift 2 ;;
	--warmup)
		is_num "${2:-}" || { usage >&2; exit 2; }
		WARMUP=$2; WARMUP_SET=1; shift 2 ;;
	--only)
		[[ -n ${2:-} ]] || { usage >&2; exit 2; }
		ONLY=$2; shift 2 ;;
	-o)
		[[ -n ${2:-} ]] || { usage >&2; exit 2; }
		RESULTS=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if [[ -n $QUICK ]]; then
	# tiny windows, one run, unless given explicitly
	[[ -n $RUNS_SET ]] || RUNS=1
	[[ -n $WINDOW_SET ]] || WINDOW=0.25
	[[ -n $WARMUP_SET ]] || WARMUP=0.05
elif ((RUNS < 3)); then
	die "--runs: at least 3 runs per case (min/median/max); --quick for a smoke run"
fi
RESULTS=${RESULTS:-$BIN/results.json}
[[ $RESULTS == /* ]] || RESULTS=$PWD/$RESULTS

[[ $NICE =~ ^-?[0-9]+$ ]] && ((NICE >= -20 && NICE <= 19)) || die "BENCH_NICE: -20..19, not '$NICE'"
[[ $HUGEPAGES == auto || $HUGEPAGES == off || $HUGEPAGES =~ ^[0-9]+$ ]] ||
	die "BENCH_HUGEPAGES: auto, off, 0 or a number of 2 MiB pages, not '$HUGEPAGES'"
for v in LAT_LIGHT LAT_MODERATE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v: frames per second, not '${!v}'"
done
((LAT_LIGHT != LAT_MODERATE)) || die "LAT_LIGHT and LAT_MODERATE: two different rates"
[[ $EUID -eq 0 ]] || die "needs root (network namespaces, XDP, AF_XDP): run 'sudo make bench'"
NCPU=$(nproc)
((NCPU >= 2)) ||
	die "needs 2 CPUs (generator on one, receiver on the other); this machine has $NCPU"
((GEN_CPU < NCPU && RX_CPU < NCPU && GEN_CPU != RX_CPU)) ||
	die "GEN_CPU=$GEN_CPU and RX_CPU=$RX_CPU must be two different CPUs below $NCPU"
command -v jq >/dev/null || die "jq not found: run scripts/install-deps.sh"
if [[ -n $PERF_DIR ]]; then
	command -v perf >/dev/null || die "BENCH_PERF: perf not found (apt-get install linux-perf)"
	mkdir -p "$PERF_DIR" || die "BENCH_PERF: cannot create $PERF_DIR"
	PERF_DIR=$(cd "$PERF_DIR" && pwd)
fi
for b in "$GEN" "$XSNAPD" "$XSNAPCTL" "$BIN"/bench_{xdpdrop,afxdp,udp,packet,xsnap,snap,napi}; do
	[[ -x $b ]] || die "$b missing: run 'make' first"
done

# shellcheck source=lib/lab.sh
source "$ROOT/scripts/lib/lab.sh"

TMP=$(mktemp -d /tmp/xsnap-bench.XXXXXX)
RUNLOG=$TMP/runs.jsonl
: >"$RUNLOG"
# With autogroup scheduling (sched_autogroup_enabled), nice only ranks tasks
# within their session; between sessions the session's autogroup nice counts.
# So this session's autogroup gets NICE too while we run, and its old value
# back at the end.
AUTOGROUP_OLD=
if [[ $NICE != 0 && -w /proc/$$/autogroup ]]; then
	AUTOGROUP_OLD=$(sed -n 's/.* nice //p' "/proc/$$/autogroup")
	echo "$NICE" >"/proc/$$/autogroup" 2>/dev/null || AUTOGROUP_OLD=
fi
cleanup() {
	[[ -z $AUTOGROUP_OLD ]] || echo "$AUTOGROUP_OLD" >"/proc/$$/autogroup" 2>/dev/null
	hp_restore
	rm -rf "$TMP"
}
trap cleanup EXIT	# lab_up chains its own cleanup in front of this

# --- hugepages --------------------------------------------------------------
# HP_OLD: vm.nr_hugepages before; HP_SET: what hp_reserve wrote (empty: it
# wrote nothing), HP_GOT: what the kernel then made of it (fewer if it could
# not find the memory); HP_WANT: the pages asked for; HP_FREE: free then.
HP_NR=/proc/sys/vm/nr_hugepages
HP_OLD=
HP_SET=
HP_GOT=
HP_WANT=0
HP_FREE=
HP_NOTE=

# hp_meminfo KEY: KEY's number in /proc/meminfo (0 if absent)
hp_meminfo() {
	awk -v k="$1:" '$1 == k { v = $2 } END { print v + 0 }' /proc/meminfo
}

# hp_avail: 2 MiB pages that a new mapping can still take
hp_avail() {
	echo $(($(hp_meminfo HugePages_Free) - $(hp_meminfo HugePages_Rsvd)))
}

# hugepages_needed: pages for the largest receive regions of the cases all at
# once (in-process xsnap: the largest --frames of the case table; xsnapd;
# bench_afxdp), a quarter more for slack (a private view's region, a
# region not yet given back when the next run starts)
hugepages_needed() {
	local c max=0 pages
	for c in "${CASES[@]}"; do
		if [[ $c =~ --frames\ ([0-9]+) ]] && ((BASH_REMATCH[1] > max)); then
			max=${BASH_REMATCH[1]}
		fi
	done
	pages=$((((max + DAEMON_FRAMES + AFXDP_FRAMES) * FRAME_BYTES + (2 << 20) - 1) >> 21))
	echo $((pages + (pages + 3) / 4))
}

# hp_reserve PAGES: raise vm.nr_hugepages until PAGES are free (a warning if
# the kernel cannot); sets HP_*.  hp_restore (cleanup) sets it back.
hp_reserve() {
	local want=$1 avail
	HP_WANT=$want
	HP_OLD=$(cat "$HP_NR" 2>/dev/null) || HP_OLD=
	if [[ -z $HP_OLD || $(hp_meminfo Hugepagesize) != 2048 ]]; then
		HP_NOTE="the default hugepage size (vm.nr_hugepages) is not 2 MiB"
		echo "bench: warning: hugepages not reserved: $HP_NOTE" >&2
		HP_WANT=0
		return 0
	fi
	avail=$(hp_avail)
	if ((avail < want)); then
		HP_SET=$((HP_OLD + want - avail))
		echo "$HP_SET" 2>/dev/null >"$HP_NR" ||
			echo "bench: warning: cannot set vm.nr_hugepages to $HP_SET" >&2
		HP_GOT=$(cat "$HP_NR")
		avail=$(hp_avail)
	fi
	HP_FREE=$avail
	if ((avail < want)); then
		HP_NOTE="the kernel gave only $avail of $want: regions that find none free go on normal pages"
		echo "bench: warning: hugepages: $HP_NOTE" >&2
	fi
}

# hp_restore: vm.nr_hugepages back to HP_OLD, unless someone else changed it
# meanwhile (then theirs stays)
hp_restore() {
	local cur
	[[ -n $HP_SET ]] || return 0
	cur=$(cat "$HP_NR" 2>/dev/null) || return 0
	if [[ -n $HP_GOT && $cur != "$HP_GOT" ]]; then
		echo "bench: warning: vm.nr_hugepages changed to $cur during the run:" \
			"left so (it was $HP_OLD before)" >&2
	elif ! echo "$HP_OLD" 2>/dev/null >"$HP_NR"; then
		echo "bench: warning: could not set vm.nr_hugepages back to $HP_OLD (it is $cur)" >&2
	fi
	HP_SET=
}

# --- the allocation-counting shim -------------------------------------------
SHIM=$BIN/alloc_count.so
if [[ ! -e $SHIM || $ROOT/tools/bench/shim/alloc_count.c -nt $SHIM ]]; then
	${CC:-cc} -shared -fPIC -O2 -Wall -Wextra -Werror -fvisibility=hidden -o "$SHIM" \
		"$ROOT/tools/bench/shim/alloc_count.c" || die "building $SHIM failed"
fi

# --- the lab ----------------------------------------------------------------
lab_up --queues 1 >/dev/null || die "could not bring up the lab"
IF=$LAB_IF_RX
# The generator: XDP live frames where the kernel runs them.  Some kernels
# refuse live-frames test runs to every program (EPERM); xsnap-gen then
# pumps clones of frames circling a veth pair of the tx namespace
# (--mode pump, not paced), and the paced (latency) cases send through
# AF_PACKET.  The report names the mode (settings.generator_mode).
GEN_MODE=live
GEN_LOOP=xs-pump0
if ! lab_exec "$LAB_NS_TX" "$GEN" -i "$LAB_IF_TX" --mode live -n 1 -q >/dev/null 2>"$TMP/gen-probe.err"; then
	GEN_MODE=pump
	echo "$prog: xsnap-gen --mode live failed here ($(tail -1 "$TMP/gen-probe.err")):" \
		"the generator pumps clones around $GEN_LOOP (--mode pump), paced cases use AF_PACKET" >&2
	lab_exec "$LAB_NS_TX" ip link add "$GEN_LOOP" type veth peer name xs-pump1 &&
		lab_exec "$LAB_NS_TX" ip link set "$GEN_LOOP" up &&
		lab_exec "$LAB_NS_TX" ip link set xs-pump1 up || die "cannot make the pump's veth pair"
fi
GEN_FRAMES=(-n 0 -j --dmac 01:00:5e:01:01:01 --src "$LAB_IP_TX" --dst 239.1.1.1 --dport 9000
	--flows 64)
GEN_ARGS=(-i "$LAB_IF_TX" --mode "$GEN_MODE" "${GEN_FRAMES[@]}")
[[ $GEN_MODE == pump ]] && GEN_ARGS+=(--loop "$GEN_LOOP")
# veth has NAPI (needed for threaded NAPI, and for the live generator's
# frames to reach a receiver without an XDP program) only with GRO on or an
# XDP program attached: GRO on, in every case alike.
lab_exec "$LAB_NS_RX" ethtool -K "$IF" gro on >/dev/null || die "ethtool -K $IF gro on failed"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
KERNEL=$(uname -r)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -1) ]]; then
	COMMIT="$COMMIT+dirty"
fi

PLACEMENT=
set_placement() {
	PLACEMENT=$1
	local v=0
	[[ $1 == threaded ]] && v=1
	lab_exec "$LAB_NS_RX" sh -c "echo $v > /sys/class/net/$IF/threaded" ||
		die "cannot set $IF's NAPI to $1"
}

# pin_napi: pin the rx veth's NAPI kthread(s) to RX_CPU; prints what it did.
pin_napi() {
	local pids p
	pids=$(lab_exec "$LAB_NS_RX" "$BIN/bench_napi" -i "$IF") || return 1
	[[ -n $pids ]] || { echo "no NAPI kthread for $IF" >&2; return 1; }
	for p in $pids; do
		taskset -pc "$RX_CPU" "$p" >/dev/null || return 1
		renice -n "$NICE" -p "$p" >/dev/null || return 1
	done
	echo "echo 1 > /sys/class/net/$IF/threaded; taskset -pc $RX_CPU $(echo $pids);" \
		"renice -n $NICE -p $(echo $pids)"
}

quote() { printf '%q ' "$@"; }

# perf_window NAME: with BENCH_PERF=DIR, a system-wide profile (call graphs,
# both CPUs) of the measurement window of this run, as DIR/NAME.data (in the
# background: the receiver's window starts about WARMUP after the first
# frame; the profile starts a quarter second into it and ends one and a
# half seconds before its end, which leaves perf's start-up room).
# For finding where the time goes; the run's numbers then include perf's
# own cost, so profiled runs are not comparable with plain ones.
perf_window() {
	local len
	len=$(awk -v w="$WINDOW" 'BEGIN { l = w - 1.5; printf "%.2f", l < 0.5 ? 0.5 : l }')
	(sleep "$(awk -v a="$WARMUP" 'BEGIN { printf "%.2f", a + 0.25 }')" &&
		exec perf record -q -a -g -o "$PERF_DIR/$1.data" -- sleep "$len") \
		>>"$PERF_DIR/perf.log" 2>&1 &
}

# --- xsnapd, for the multi-process cases ---------------------------------------
# Sizes of the in-process fan-out case (bench_xsnap's defaults), set with
# xsnapctl attach.
DSOCK=$TMP/xsnapd/xsnapd.sock
DALLOC=$TMP/xsnapd/allocs	# the daemon's allocation counter (shim)
DPID=
DCMDS=
DVIEW=shared	# t0's view (run_one: "@view=V" among a case's receiver args)
DHUGE=$DHUGE_RUN	# xsnapd's attach --hugepages (run_one: "@huge=H")
DSTAMP=engine	# who stamps frames (attach --timestamps): xdp for the latency
		# cases (run_one: a receiver with -L), as bench_xsnap -L does

# d_up LOG: start xsnapd in the rx namespace and configure it; DPID, DCMDS
# (the commands, for the record).  1 (after logging why) if it failed.
d_up() {
	local log=$1
	local -a dcmd=(nice -n "$NICE" taskset -c "$RX_CPU" env "LD_PRELOAD=$SHIM"
		"XSNAP_BENCH_ALLOC_FILE=$DALLOC" "$XSNAPD" -S "$DSOCK" --rt-prio 1)
	mkdir -p "${DSOCK%/*}"
	rm -f "$DALLOC"
	lab_bg --log "$log" "$LAB_NS_RX" "${dcmd[@]}" >/dev/null
	DPID=$LAB_BG_PID
	DCMDS="ip netns exec $LAB_NS_RX $(quote "${dcmd[@]}")"
	# ready when it answers
	if ! wait_for 10 "$XSNAPCTL" -S "$DSOCK" status >/dev/null 2>&1; then
		echo "xsnapd did not start" >>"$log"
		return 1
	fi
	# the in-process cases' sizes and engine priority (xsnapd's loop is
	# the engine)
	dctl attach "$IF" --frames "$DAEMON_FRAMES" --ring "$XSNAP_RING" --timestamps "$DSTAMP" \
		--hugepages "$DHUGE" &&
		dctl tenant add t0 --quota "$XSNAP_QUOTA" --view "$DVIEW" &&
		dctl rule add t0 'udp dst port 9000' --prio 10
}

# dctl ARGS...: xsnapctl against d_up's daemon, recorded in DCMDS; output to
# d_up's log.
dctl() {
	DCMDS+="; xsnapctl -S $DSOCK $(quote "$@")"
	"$XSNAPCTL" -S "$DSOCK" "$@" >>"$log" 2>&1 || { echo "xsnapctl $*: failed" >>"$log"; return 1; }
}

# d_down: stop xsnapd (SIGTERM: it detaches); 1 if it did not exit cleanly.
d_down() {
	local rc=0
	[[ -n $DPID ]] || return 0
	lab_stop "$DPID" 5 >/dev/null || rc=1
	wait "$DPID" 2>/dev/null || rc=1
	DPID=
	return $rc
}

# run_one CASE_ID RUN RECEIVER_ARGS... -- GEN_EXTRA_ARGS...
# One run: receiver up, NAPI pinned (threaded), generator on, receiver's
# report, generator off.  Appends one JSON line to $RUNLOG; returns 1 (after
# saying why) if the run failed.
run_one() {
	local id=$1 run=$2
	shift 2
	local -a rx=() gx=()
	while (($#)) && [[ $1 != -- ]]; do rx+=("$1"); shift; done
	(($#)) && shift
	gx=("$@")
	# "@view=V", "@huge=H": bench.sh's own arguments (the xsnapd tenant's
	# view, the attach's --hugepages), not the receiver's
	local a need_daemon=
	local -a rx0=()
	DVIEW=shared
	DHUGE=$DHUGE_RUN
	DSTAMP=engine
	for a in "${rx[@]}"; do
		if [[ $a == @view=* ]]; then DVIEW=${a#@view=}
		elif [[ $a == @huge=* ]]; then DHUGE=${a#@huge=}
		elif [[ $a == @xsnapd ]]; then need_daemon=1	# issue 14 block below
		else rx0+=("$a"); fi
		[[ $a == -L ]] && DSTAMP=xdp
	done
	rx=("${rx0[@]}")
	local d=$TMP/run.$id.$run
	mkdir -p "$d"
	local -a pre=(nice -n "$NICE" taskset -c "$RX_CPU")
	[[ ${rx[0]} == */bench_xsnap ]] && pre+=(env "LD_PRELOAD=$SHIM")
	local -a rcmd=("${pre[@]}" "${rx[@]}" -c "$RX_CPU" -W "$WARMUP" -w "$WINDOW" -T 10
		-R "$d/ready")
	# The generator in a session (autogroup) of its own: in ours, its load
	# on GEN_CPU would take a share of the group's weight away from the
	# receivers on RX_CPU (CFS splits a group's weight over CPUs by load),
	# so that against the threaded placement's NAPI kthread they got about
	# half the CPU they get when nothing else runs in their group.
	local -a gargs=("${GEN_ARGS[@]}")
	# a paced case (-r) where the generator pumps: AF_PACKET
	if [[ $GEN_MODE == pump && " ${gx[*]} " == *" -r "* ]]; then
		gargs=(-i "$LAB_IF_TX" --mode packet "${GEN_FRAMES[@]}")
	fi
	local -a gcmd=(setsid sh -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; exec "$@"' "$NICE"
		nice -n "$NICE" taskset -c "$GEN_CPU" "$GEN" "${gargs[@]}" "${gx[@]}")
	local rpid gpid rc=0 pin= daemon=

	: >"$d/rx.err"
	if [[ " ${rx[*]} " == *" --connect "* || -n $need_daemon ]]; then
		if ! d_up "$d/rx.err"; then
			d_down || true
			echo "$prog: run $run of '$id' ($PLACEMENT) failed: xsnapd:" >&2
			sed 's/^/    /' "$d/rx.err" >&2
			return 1
		fi
		daemon=$DCMDS
	fi
	lab_bg --log "$d/rx.err" "$LAB_NS_RX" sh -c 'exec "$@" >"$0"' "$d/rx.json" "${rcmd[@]}" \
		>/dev/null
	rpid=$LAB_BG_PID
	if ! wait_for 20 test -e "$d/ready" -o ! -d "/proc/$rpid"; then
		echo "receiver not ready in 20 s" >>"$d/rx.err"
		lab_stop "$rpid" 2 || true
	fi
	if [[ -e $d/ready && $PLACEMENT == threaded ]]; then
		if ! pin=$(pin_napi 2>>"$d/rx.err"); then
			echo "pinning NAPI failed" >>"$d/rx.err"
			pin=
		fi
	fi
	lab_bg --log "$d/gen.err" "$LAB_NS_TX" sh -c 'exec "$@" >"$0"' "$d/gen.json" "${gcmd[@]}" \
		>/dev/null
	gpid=$LAB_BG_PID
	[[ -z $PERF_DIR ]] || perf_window "$id.$PLACEMENT.$run"
	local limit
	limit=$(awk -v a="$WARMUP" -v b="$WINDOW" 'BEGIN { printf "%d", a + b + 25 }')
	if ! wait_for "$limit" test ! -d "/proc/$rpid/fd"; then
		echo "receiver still running after $limit s: killed" >>"$d/rx.err"
		kill -KILL "$rpid" 2>/dev/null || true
	fi
	wait "$rpid" || rc=$?
	lab_stop "$gpid" 5 >/dev/null || true
	wait "$gpid" 2>/dev/null || true
	if [[ -n $daemon ]] && ! d_down; then
		echo "xsnapd did not exit cleanly on SIGTERM" >>"$d/rx.err"
		((rc != 0)) || rc=1
	fi
	if ((rc != 0)) || ! jq -e . "$d/rx.json" >/dev/null 2>&1 ||
		[[ $PLACEMENT == threaded && -z $pin ]]; then
		echo "$prog: run $run of '$id' ($PLACEMENT) failed (exit $rc):" >&2
		sed 's/^/    /' "$d/rx.err" "$d/gen.err" >&2 2>/dev/null || true
		return 1
	fi
	local gen='null'
	jq -e . "$d/gen.json" >/dev/null 2>&1 && gen=$(jq -c . "$d/gen.json")
	jq -c --arg id "$id" --argjson run "$run" --arg pl "$PLACEMENT" \
		--arg rcmd "ip netns exec $LAB_NS_RX $(quote "${rcmd[@]}")" \
		--arg gcmd "ip netns exec $LAB_NS_TX $(quote "${gcmd[@]}")" \
		--arg pin "${pin:-none (softirq: NAPI runs where the generator raised it)}" \
		--arg daemon "$daemon" --argjson gen "$gen" \
		'{id: $id, run: $run, placement: $pl, rx: ., gen: $gen,
		  commands: ({receiver: $rcmd, generator: $gcmd, napi: $pin}
			+ if $daemon == "" then {} else {daemon: $daemon} end)}' \
		"$d/rx.json" >>"$RUNLOG"
	rm -rf "$d"
}

# --- the cases ----------------------------------------------------------------
# One line per case: ID|SYSTEM|N|placements|receiver args|generator extra args
# (IDs are unique per placement; placements: t = threaded, s = softirq).
CASES=()
add() {
	[[ -z $ONLY || ${1%%|*} =~ $ONLY ]] && CASES+=("$1")
	return 0
}
# the raw AF_XDP receiver (one socket, one thread; its waiting mode per case)
AFXDP_RX="$BIN/bench_afxdp -i $IF$NOHUGE"
# xsnap_frames TENANTS: the in-process receive region for TENANTS tenants
xsnap_frames() {
	local need=$((2 * XSNAP_RING + $1 * XSNAP_QUOTA)) f=16384

	while ((f < need)); do f=$((f * 2)); done
	echo "$f"
}
# xsnap_rx TENANTS: the in-process xsnap receiver (see RT_PRIO above)
xsnap_rx() {
	echo "$BIN/bench_xsnap -q -i $IF --rt-prio $RT_PRIO --quota $XSNAP_QUOTA" \
		"--ring $XSNAP_RING --frames $(xsnap_frames "$1")$NOHUGE"
}
XSNAP_RX=$(xsnap_rx 1)
# one consumer without an engine thread: it runs the engine inside
# xsnap_recv() (XSNAP_ENGINE_INLINE); -P then makes the consumer SCHED_FIFO
XSNAP_RX_INLINE="${XSNAP_RX/--rt-prio $RT_PRIO/--inline}"
# the reference program's broadcast receiver (REFERENCE=DIR, a built copy of
# ../shared/reference: DIR/build/rx_xsk), adapted by tools/bench/ref_rx.sh
REF_RX=
if [[ -n ${REFERENCE:-} ]]; then
	[[ -x $REFERENCE/build/rx_xsk ]] ||
		die "REFERENCE=$REFERENCE: no $REFERENCE/build/rx_xsk (build it: make -C $REFERENCE)"
	REF_RX="$ROOT/tools/bench/ref_rx.sh $REFERENCE/build/rx_xsk -i $IF"
fi
# the multi-process receiver: N processes of xsnapd (started per run, d_up)
XSNAPD_RX="$BIN/bench_xsnap -q -i $IF -m fanout --connect $DSOCK --daemon-allocs $DALLOC"

# add_afxdp PLACEMENTS: the raw AF_XDP baselines, one per way of waiting
add_afxdp() {
	add "afxdp|afxdp|1|$1|$AFXDP_RX|"
	add "afxdp-spin|afxdp|1|$1|$AFXDP_RX --spin|"
	add "afxdp-busypoll|afxdp|1|$1|$AFXDP_RX --busy-poll|"
	add "afxdp-rt|afxdp|1|$1|$AFXDP_RX --rt-prio $RT_PRIO|"
}
# add_afxdp_steer PLACEMENTS: the same socket behind xsnap's XDP program
# (bench_afxdp --steer: xsnap_steer, one rule), in raw's two best ways of
# waiting: the program's cost apart from xsnap's engine and consumers
add_afxdp_steer() {
	add "afxdp-steer-rt|afxdp|1|$1|$AFXDP_RX --steer --rt-prio $RT_PRIO|"
	# spinning starves the threaded placement's NAPI thread (see afxdp-spin)
	[[ $1 != *s* ]] || add "afxdp-steer-spin|afxdp|1|s|$AFXDP_RX --steer --spin|"
	# and with the rule set on the general classifier (no specialised program)
	[[ $1 != *s* ]] || add "afxdp-general-spin|afxdp|1|s|$AFXDP_RX --steer --general --spin|"
}

# add_lat RATE PLACEMENTS: the latency cases at RATE frames/s
add_lat() {
	local g="--timestamp -r $1"

	add "lat-xsnap-$1|xsnap|1|$2|$XSNAP_RX -m fanout -n 1 -L|$g"
	add "lat-xsnapd-$1|xsnapd|1|$2|$XSNAPD_RX -n 1 -L|$g"
	add "lat-afxdp-$1|afxdp|1|$2|$AFXDP_RX -L|$g"
	add "lat-udp-$1|udp|1|$2|$BIN/bench_udp -i $IF -n 1 -L|$g"
}

if [[ -z $QUICK ]]; then
	# The order within a round puts each target's pair of cases next to
	# each other (the host's speed drifts by up to 2x within minutes, and a
	# paired ratio compares the two cases' runs of the same round): the raw
	# baselines, then the one-consumer cases, then the x8 cases (xsnap, the
	# reference, xsnapd, AF_PACKET, UDP), then N = 2 and 4 (xsnapd-N right
	# after xsnap-fanout-N), then the rest.
	add "xdp_drop|xdp_drop|1|ts|$BIN/bench_xdpdrop -i $IF|"
	add_afxdp ts
	add "xsnap-fanout-1|xsnap|1|ts|$XSNAP_RX -m fanout -n 1|"
	add "xsnap-inline-1|xsnap|1|ts|$XSNAP_RX_INLINE -m fanout -n 1 --rt-prio $RT_PRIO|"
	add "xsnap-inline-1-spin|xsnap|1|s|$XSNAP_RX_INLINE -m fanout -n 1 --spin|"
	add "xsnapd-1|xsnapd|1|ts|$XSNAPD_RX -n 1|"
	# the reference program, when a built copy is given (REFERENCE=DIR)
	[[ -z $REF_RX ]] || add "ref-bcast-1|reference|1|ts|$REF_RX -n 1|"
	add "xsnap-fanout-8|xsnap|8|ts|$XSNAP_RX -m fanout -n 8|"
	[[ -z $REF_RX ]] || add "ref-bcast-8|reference|8|ts|$REF_RX -n 8|"
	add "xsnapd-8|xsnapd|8|ts|$XSNAPD_RX -n 8|"
	add "afpacket-8|afpacket|8|ts|$BIN/bench_packet -i $IF -n 8|"
	add "udp-8|udp|8|ts|$BIN/bench_udp -i $IF -n 8|"
	# the engine per queue (one queue here): the cost of taking a batch off
	# the ring apart from logging it, next to xsnap-fanout-8
	add "xsnap-perqueue-8|xsnap|8|ts|$XSNAP_RX -m fanout -n 8 --per-queue|"
	for n in 2 4; do
		add "xsnap-fanout-$n|xsnap|$n|ts|$XSNAP_RX -m fanout -n $n|"
		add "xsnapd-$n|xsnapd|$n|ts|$XSNAPD_RX -n $n|"
		add "afpacket-$n|afpacket|$n|ts|$BIN/bench_packet -i $IF -n $n|"
		add "udp-$n|udp|$n|ts|$BIN/bench_udp -i $IF -n $n|"
	done
	add "afpacket-1|afpacket|1|ts|$BIN/bench_packet -i $IF -n 1|"
	add "udp-1|udp|1|ts|$BIN/bench_udp -i $IF -n 1|"
	add_afxdp_steer ts
	# confidential (private) views through xsnapd next to the shared view
	# and AF_PACKET, at 64 and 1500 bytes
	for n in 1 8; do
		add "xsnapd-priv-$n|xsnapd|$n|ts|$XSNAPD_RX -n $n @view=private|"
		add "xsnapd-priv-$n-1500|xsnapd|$n|ts|$XSNAPD_RX -n $n @view=private|-s 1500"
	done
	add "xsnapd-8-1500|xsnapd|8|ts|$XSNAPD_RX -n 8|-s 1500"
	add "xsnapd-8-4k|xsnapd|8|ts|$XSNAPD_RX -n 8 @huge=off|"
	add "afpacket-8-1500|afpacket|8|ts|$BIN/bench_packet -i $IF -n 8|-s 1500"
	for n in 2 4 8; do
		add "xsnap-tenants-$n|xsnap|$n|ts|$(xsnap_rx "$n") -m tenants -n $n|"
		add "xsnap-share-$n|xsnap|$n|ts|$XSNAP_RX -m share -n $n|"
	done
	add_lat "$LAT_LIGHT" ts
	add_lat "$LAT_MODERATE" ts
	add "snap|xsnap|1|t|$BIN/bench_snap -i $IF|-r 200000"
	add "cow-xsnapd|xsnapd|1|t|$BIN/bench_snap -i $IF --connect $DSOCK|-r 200000"
	add "send|xsnap|1|t|$BIN/bench_snap -i $IF --send|-r 1000"
	add "send-xsnapd|xsnapd|1|t|$BIN/bench_snap -i $IF --send --connect $DSOCK|-r 1000"
else
	add "xdp_drop|xdp_drop|1|t|$BIN/bench_xdpdrop -i $IF|"
	add_afxdp t
	add "afxdp-steer-rt|afxdp|1|t|$AFXDP_RX --steer --rt-prio $RT_PRIO|"
	add "udp-2|udp|2|t|$BIN/bench_udp -i $IF -n 2|"
	add "afpacket-2|afpacket|2|t|$BIN/bench_packet -i $IF -n 2|"
	add "xsnap-fanout-2|xsnap|2|ts|$XSNAP_RX -m fanout -n 2|"
	add "xsnap-inline-1|xsnap|1|t|$XSNAP_RX_INLINE -m fanout -n 1 --rt-prio $RT_PRIO|"
	add "xsnap-tenants-2|xsnap|2|t|$(xsnap_rx 2) -m tenants -n 2|"
	add "xsnap-share-2|xsnap|2|t|$XSNAP_RX -m share -n 2|"
	add "xsnapd-2|xsnapd|2|t|$XSNAPD_RX -n 2|"
	add "xsnapd-priv-2|xsnapd|2|t|$XSNAPD_RX -n 2 @view=private|"
	add_lat "$LAT_LIGHT" t
	add "snap|xsnap|1|t|$BIN/bench_snap -i $IF --reps 3|-r 200000"
fi

# --- issue 14: unmodified receivers under xsnap-run ----------------------------
# bench_udp is an ordinary UDP program (N sockets joined to the multicast
# group, blocking recvmmsg): under xsnap-run, on tenant t0 of the per-run
# xsnapd ("@xsnapd": bench.sh's own argument, starts it), each of its N
# sockets receives every datagram through xsnapd instead of the kernel.
# Next to udp-N (the same program on kernel sockets, the same stream).
XSNAPRUN_RX="$ROOT/tools/xsnap-run/xsnap-run -S $DSOCK -t t0 $BIN/bench_udp -i $IF"
if [[ -z $QUICK ]]; then
	for n in 1 8; do add "xsnaprun-udp-$n|xsnap-run|$n|ts|$XSNAPRUN_RX -n $n @xsnapd|"; done
fi
# --- end of the issue 14 block ----------------------------------------------------

((${#CASES[@]})) || die "--only '$ONLY' matches no case (see --help)"
if [[ $HUGEPAGES == auto && -n $QUICK ]]; then
	HP_NOTE="--quick"
elif [[ $HUGEPAGES == 0 || $HUGEPAGES == off ]]; then
	HP_NOTE="BENCH_HUGEPAGES=$HUGEPAGES"
elif [[ $HUGEPAGES == auto ]]; then
	hp_reserve "$(hugepages_needed)"
else
	hp_reserve "$HUGEPAGES"
fi
[[ -n $HP_FREE ]] || HP_FREE=$(hp_avail)
HP_TOTAL=$(hp_meminfo HugePages_Total)
if ((HP_WANT)); then
	echo "bench: hugepages: $HP_WANT x 2 MiB wanted free, $HP_FREE free; vm.nr_hugepages" \
		"${HP_OLD}${HP_SET:+ -> $HP_GOT (set back on exit)}" >&2
else
	echo "bench: hugepages: none reserved ($HP_NOTE); $HP_FREE x 2 MiB free of vm.nr_hugepages" \
		"$HP_TOTAL (used where the receivers find them)" >&2
fi
ncases=0
for c in "${CASES[@]}"; do
	IFS='|' read -r _ _ _ pls _ _ <<<"$c"
	ncases=$((ncases + ${#pls}))
done
echo "bench: $ncases cases x $RUNS runs, window ${WINDOW}s (+${WARMUP}s warm-up); lab $LAB_NAME;" \
	"generator on CPU $GEN_CPU, receivers on CPU $RX_CPU; kernel $KERNEL, $NCPU CPUs" >&2
if awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l > 1.0) }'; then
	echo "bench: warning: load average $LOAD_START before the start: other work on this" \
		"machine will show in the numbers (compare ratios, not absolute rates)" >&2
fi

failed=0
for ((run = 1; run <= RUNS; run++)); do
	for pl in $PLACEMENTS; do
		set_placement "$pl"
		for c in "${CASES[@]}"; do
			IFS='|' read -r id _ _ pls rargs gargs <<<"$c"
			[[ $pls == *${pl:0:1}* ]] || continue
			# shellcheck disable=SC2086 # word lists on purpose
			run_one "$id" "$run" $rargs -- $gargs || failed=$((failed + 1))
		done
	done
	echo "bench: round $run/$RUNS done ($SECONDS s)" >&2
done

# --- costs ----------------------------------------------------------------------
CLASSIFY=null
CLASSIFY_NOTE="n/a (build/bench/bench_classify not built)"
if [[ -x $BIN/bench_classify ]]; then
	cq=()
	[[ -n $QUICK ]] && cq=(--quick)
	if "$BIN/bench_classify" "${cq[@]}" -o "$TMP/classify.json" >"$TMP/classify.out" 2>&1 &&
		jq -e . "$TMP/classify.json" >/dev/null 2>&1; then
		CLASSIFY=$(jq -c . "$TMP/classify.json")
		CLASSIFY_NOTE="$(quote "$BIN/bench_classify" "${cq[@]}" -o FILE)"
	else
		CLASSIFY_NOTE="bench_classify failed: $(tail -1 "$TMP/classify.out")"
	fi
fi

lab_down
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- results ------------------------------------------------------------------
mkdir -p "$(dirname "$RESULTS")"
HP_JSON=$(jq -cn --arg mode "$HUGEPAGES" --argjson want "$HP_WANT" --argjson free "$HP_FREE" \
	--arg old "$HP_OLD" --arg got "$HP_GOT" --arg note "$HP_NOTE" --argjson total "$HP_TOTAL" \
	'{mode: $mode, wanted: $want, free_at_start: $free,
	  reserved: (if $want > 0 then ([$want, $free] | min) else 0 end),
	  nr_hugepages_before: (if $old == "" then $total else ($old | tonumber) end),
	  nr_hugepages_run: (if $got != "" then ($got | tonumber) elif $old != "" then ($old | tonumber)
		else $total end),
	  set_back_on_exit: ($got != ""), page_kb: 2048}
	+ if $note == "" then {} else {note: $note} end')
jq -n --slurpfile runs "$RUNLOG" --argjson classify "$CLASSIFY" --arg cnote "$CLASSIFY_NOTE" \
	--arg kernel "$KERNEL" --argjson cpus "$NCPU" --arg model "$CPU_MODEL" \
	--arg commit "$COMMIT" --arg date "$(date -u +%FT%TZ)" --argjson nruns "$RUNS" \
	--arg load0 "$LOAD_START" --arg load1 "$LOAD_END" --arg nice "$NICE" \
	--arg window "$WINDOW" --arg warmup "$WARMUP" --argjson quick "${QUICK:-0}" \
	--arg gencpu "$GEN_CPU" --arg rxcpu "$RX_CPU" --arg genmode "$GEN_MODE" \
	--argjson latlight "$LAT_LIGHT" --argjson latmoderate "$LAT_MODERATE" \
	--argjson xrt "$RT_PRIO" --argjson xquota "$XSNAP_QUOTA" --argjson xring "$XSNAP_RING" \
	--arg cases "$(printf '%s\n' "${CASES[@]}")" --argjson hugepages "$HP_JSON" \
	-f "$ROOT/scripts/bench-report.jq" >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
# every run's own report, one per line (what results.json is computed from)
cp "$RUNLOG" "${RESULTS%.json}.runs.jsonl"
jq -r -f "$ROOT/scripts/bench-table.jq" "$RESULTS" | tee "${RESULTS%.json}.txt"
echo "bench: results in $RESULTS; $failed failed run(s); $SECONDS s" >&2
((failed == 0))
