#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# xsnapctl dump and snapshot: a tenant's frames as pcap, through xsnapd.
# The tx namespace captures what xsnap-gen sends to tenant alpha (tcpdump,
# filter udp dst port 9000); what xsnapctl writes must be byte-identical to
# it, in order, and readable by tcpdump and tshark (also from a pipe), with
# nanosecond wall-clock timestamps.  Tenant beta's frames (port 9001) and
# unmatched ones (port 9002) are sent in between and must not appear.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"
# shellcheck source=../lib/xsnapd.sh
source "$LIB/xsnapd.sh"

PCAPCMP=$LIB/pcapcmp.py
CAP_PID=

# finish removes the daemon's directory; a failing test never gets there
# (lab_up chains this trap after its own)
trap '[[ -z ${D_DIR:-} ]] || rm -rf "$D_DIR"' EXIT

need_tools() {
	local t
	for t in tcpdump tshark editcap script; do
		command -v "$t" >/dev/null || skip "$t not installed"
	done
}

# Capture alpha's frames as they leave the tx namespace.
capture_start() {
	lab_bg --log "$D_DIR/tcpdump.log" "$LAB_NS_TX" \
		tcpdump -i "$LAB_IF_TX" -U -n -w "$D_DIR/sent.pcap" udp dst port 9000 >/dev/null
	CAP_PID=$LAB_BG_PID
	wait_for 10 grep -q 'listening on' "$D_DIR/tcpdump.log" || fail "tcpdump did not start"
}

# capture_stop N: wait until N frames were captured, stop tcpdump.
capture_stop() {
	wait_for 10 has_frames "$D_DIR/sent.pcap" "$1" ||
		fail "only $(frames_in "$D_DIR/sent.pcap") of $1 frames captured"
	lab_stop "$CAP_PID" 5 || true
}

frames_in() { /usr/bin/python3 -S "$PCAPCMP" count "$1" 2>/dev/null || echo 0; }

# has_frames FILE N: FILE holds at least N frames.
has_frames() { (($(frames_in "$1") >= $2)); }

alpha_sockets() {
	jget "$(ctl status -j)" '[t["sockets"] for t in j["tenants"] if t["name"] == "alpha"][0]'
}

# sockets_ge N: alpha has N sockets open (dumps started and subscribed).
sockets_ge() { (($(alpha_sockets) >= $1)); }

# Traffic for alpha ($1 frames in two halves) with beta's and unmatched
# frames in between.
send_mix() {
	local half=$(($1 / 2))
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 1 --dport 9000 -n "$half" -r 20000
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 2 --dport 9001 -n 100 -r 20000
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 3 --dport 9002 -n 50 -r 20000
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 1 --seq-start "$half" --dport 9000 -n "$half" -r 20000
}

# same_frames GOT N: GOT holds exactly N frames, nanosecond pcap, equal to
# the last N alpha sent; tshark reads N and sees only alpha's port.
same_frames() {
	local got=$1 n=$2 out
	assert_eq "$(frames_in "$got")" "$n" "frames in $got"
	out=$(/usr/bin/python3 -S "$PCAPCMP" tail "$D_DIR/sent.pcap" "$LAB_MAC_TX" "$got") ||
		fail "$got: frames differ from those sent: $out"
	echo "  $got: $out" >&2
	[[ $out == *"(nanosecond pcap)" ]] || fail "$got is not a nanosecond pcap"
	tshark -r "$got" -T fields -e udp.dstport >"$got.ports" 2>/dev/null || fail "tshark -r $got"
	assert_eq "$(wc -l <"$got.ports")" "$n" "frames tshark reads in $got"
	assert_eq "$(sort -u "$got.ports")" 9000 "UDP ports in $got (alpha's only)"
}

# check_times GOT T0 T1 STAMPS: GOT's timestamps increase, lie within
# [T0, T1] (wall clock, seconds), and are within 0.5 s of the send time the
# tx capture recorded for the same frame.  STAMPS is the attach's
# --timestamps: xdp stamps every frame, so they strictly increase; engine
# stamps a batch, so frames of one batch share a time (never decreasing, and
# a burst of the generator's spans several batches: not all alike).
check_times() {
	local got=$1
	tshark -r "$got" -T fields -e frame.time_epoch >"$got.t" 2>/dev/null
	tshark -r "$D_DIR/sent.pcap" -T fields -e frame.time_epoch >"$D_DIR/sent.t" 2>/dev/null
	/usr/bin/python3 -S - "$got.t" "$D_DIR/sent.t" "$2" "$3" "$4" <<'EOF' || fail "$got: timestamps"
import sys
from decimal import Decimal as D
got = [D(x) for x in open(sys.argv[1]).read().split()]
sent = [D(x) for x in open(sys.argv[2]).read().split()][-len(got):]
t0, t1 = D(sys.argv[3]), D(sys.argv[4])
strict = sys.argv[5] == "xdp"
assert got and all(len(str(x).split(".")[1]) == 9 for x in got), "not nanosecond"
bad = [i for i in range(1, len(got)) if got[i] < got[i - 1] or (strict and got[i] == got[i - 1])]
assert not bad, f"not increasing at frame {bad[0]}"
assert len(set(got)) > 1, "one time for every frame"
assert t0 <= got[0] and got[-1] <= t1, f"{got[0]}..{got[-1]} not within {t0}..{t1}"
skew = max(abs(g - s) for g, s in zip(got, sent))
assert skew < D("0.5"), f"receive and send times differ by {skew} s"
print(f"  {len(got)} timestamps increasing, within the test's run, max skew to send {skew} s",
      file=sys.stderr)
EOF
}


# A dump to a file (SIGINT) and one to stdout read by `tcpdump -r -`
# (SIGTERM): both byte-identical to what was sent, the pipe reader has every
# frame before the dump stops (flushed per batch), a one-line summary.
t_dump_file_and_pipe() {
	need_tools
	daemon_up
	local t0 t1 pf pp pr rc=0
	# the default: the engine stamps each batch
	ctl status | grep -q 'timestamps by the engine$' || fail "status: not engine timestamps"
	assert_eq "$(jget "$(ctl status -j)" 'j["interfaces"][0]["timestamps"]')" engine \
		"status -j timestamps"
	mkfifo "$D_DIR/fifo"
	# shellcheck disable=SC2016 # expanded by the inner sh
	lab_bg --log "$D_DIR/reader.log" "$LAB_NS_RX" sh -c 'exec "$@" <"$0"' "$D_DIR/fifo" \
		tcpdump -r - --time-stamp-precision=nano -U -w "$D_DIR/pipe.pcap" >/dev/null
	pr=$LAB_BG_PID
	# shellcheck disable=SC2016
	lab_bg --log "$D_DIR/dump-pipe.log" "$LAB_NS_RX" sh -c 'exec "$@" >"$0"' "$D_DIR/fifo" \
		"$XSNAPCTL" -S "$D_SOCK" dump alpha -w - >/dev/null
	pp=$LAB_BG_PID
	lab_bg --log "$D_DIR/dump-file.log" "$LAB_NS_RX" "$XSNAPCTL" -S "$D_SOCK" dump alpha \
		-w "$D_DIR/dump.pcap" >/dev/null
	pf=$LAB_BG_PID
	wait_for 10 sockets_ge 2 || { show "$D_DIR/dump-file.log"; fail "the dumps did not start"; }
	capture_start
	t0=$EPOCHREALTIME
	send_mix 300
	capture_stop 300
	wait_for 10 has_frames "$D_DIR/dump.pcap" 300 ||
		fail "dump file: $(frames_in "$D_DIR/dump.pcap") of 300 frames"
	wait_for 10 has_frames "$D_DIR/pipe.pcap" 300 ||
		fail "pipe reader: $(frames_in "$D_DIR/pipe.pcap") of 300 frames while the dump runs"
	t1=$EPOCHREALTIME
	lab_alive "$pp" || fail "the dump to stdout ended before it was stopped"
	kill -INT "$pf"
	kill -TERM "$pp"
	wait "$pf" || rc=$?
	assert_eq "$rc" 0 "exit status of the dump to a file after SIGINT"
	wait "$pp" || rc=$?
	assert_eq "$rc" 0 "exit status of the dump to stdout after SIGTERM"
	wait "$pr" || rc=$?
	show "$D_DIR/dump-file.log"
	show "$D_DIR/dump-pipe.log"
	show "$D_DIR/reader.log"
	assert_eq "$rc" 0 "tcpdump -r - exit status"
	grep -qx "xsnapctl: dump alpha: 300 frames written to $D_DIR/dump.pcap" \
		"$D_DIR/dump-file.log" || fail "summary of the dump to a file"
	grep -qx "xsnapctl: dump alpha: 300 frames written to stdout" "$D_DIR/dump-pipe.log" ||
		fail "summary of the dump to stdout"
	grep -q 'reading from file -' "$D_DIR/reader.log" || fail "tcpdump did not read stdin"
	same_frames "$D_DIR/dump.pcap" 300
	same_frames "$D_DIR/pipe.pcap" 300
	check_times "$D_DIR/dump.pcap" "$t0" "$t1" engine
	check_times "$D_DIR/pipe.pcap" "$t0" "$t1" engine
	assert_eq "$(alpha_sockets)" 0 "alpha's sockets after the dumps"
	ctl detach "$LAB_IF_RX"
	d_stop
	finish
}

# dump_pipe LOG READER ARGS...: `xsnapctl dump ARGS -w - | READER` (READER is
# shell code) in the background; with pipefail its status is xsnapctl's
# unless the reader fails.  Sets PIPE_PID.
dump_pipe() {
	local log=$1 reader=$2
	shift 2
	lab_bg --log "$log" "$LAB_NS_RX" bash -c \
		"set -o pipefail; \"\$0\" -S \"\$1\" dump \"\${@:2}\" -w - | $reader" \
		"$XSNAPCTL" "$D_SOCK" "$@" >/dev/null
	PIPE_PID=$LAB_BG_PID
}

# -c N: exactly the first N frames, to a file and through pipes into
# `tcpdump -r -` and `tshark -r -`; each dump ends by itself with status 0.
t_dump_count() {
	need_tools
	daemon_up
	local pf pd ps ph rc=0
	lab_bg --log "$D_DIR/count.log" "$LAB_NS_RX" "$XSNAPCTL" -S "$D_SOCK" dump alpha -c 100 \
		-w "$D_DIR/count.pcap" >/dev/null
	pf=$LAB_BG_PID
	dump_pipe "$D_DIR/tcpdump-pipe.log" "tcpdump -r - -w $(printf %q "$D_DIR/count-tcpdump.pcap")" \
		alpha -c 100
	pd=$PIPE_PID
	dump_pipe "$D_DIR/tshark-pipe.log" \
		"tshark -r - -T fields -e udp.dstport >$(printf %q "$D_DIR/tshark.txt")" alpha -c 100
	ps=$PIPE_PID
	# a reader that leaves after the header: the dump ends normally
	dump_pipe "$D_DIR/head.log" "head -c 24 >/dev/null" alpha
	ph=$PIPE_PID
	wait_for 10 sockets_ge 4 || { show "$D_DIR/count.log"; fail "the dumps did not start"; }
	capture_start
	send_mix 300
	capture_stop 300
	wait_for 10 test ! -d "/proc/$pf" -a ! -d "/proc/$pd" -a ! -d "/proc/$ps" ||
		fail "a dump with -c 100 did not end after 300 frames"
	wait_for 10 test ! -d "/proc/$ph" || fail "dump | head -c 24 did not end"
	wait "$ph" || rc=$?
	show "$D_DIR/head.log"
	assert_eq "$rc" 0 "exit status of dump | head -c 24"
	grep -q '^xsnapctl: dump alpha: [0-9]* frames written to stdout (the reader closed the pipe)$' \
		"$D_DIR/head.log" || fail "summary of dump | head -c 24"
	wait "$pf" || rc=$?
	show "$D_DIR/count.log"
	assert_eq "$rc" 0 "exit status of dump -c 100"
	wait "$pd" || rc=$?
	show "$D_DIR/tcpdump-pipe.log"
	assert_eq "$rc" 0 "exit status of dump -c 100 | tcpdump -r -"
	wait "$ps" || rc=$?
	show "$D_DIR/tshark-pipe.log"
	assert_eq "$rc" 0 "exit status of dump -c 100 | tshark -r -"
	grep -qx "xsnapctl: dump alpha: 100 frames written to $D_DIR/count.pcap" "$D_DIR/count.log" ||
		fail "summary of dump -c 100"
	# the first 100 frames sent
	editcap -F pcap -r "$D_DIR/sent.pcap" "$D_DIR/first.pcap" 1-100 2>/dev/null
	mv "$D_DIR/first.pcap" "$D_DIR/sent.pcap"
	same_frames "$D_DIR/count.pcap" 100
	assert_eq "$(frames_in "$D_DIR/count-tcpdump.pcap")" 100 "frames through tcpdump -r -"
	/usr/bin/python3 -S "$PCAPCMP" tail "$D_DIR/sent.pcap" "$LAB_MAC_TX" \
		"$D_DIR/count-tcpdump.pcap" >&2 || fail "frames through tcpdump -r - differ"
	assert_eq "$(wc -l <"$D_DIR/tshark.txt")" 100 "frames tshark -r - read"
	assert_eq "$(sort -u "$D_DIR/tshark.txt")" 9000 "ports tshark -r - saw"
	assert_eq "$(alpha_sockets)" 0 "alpha's sockets after the dumps"
	ctl detach "$LAB_IF_RX"
	d_stop
	finish
}

# snapshot --frames N and --last-ms MS: what alpha's log retains, written
# after the fact; --last-ms separates two bursts 3 s apart.  An unprivileged
# uid the tenant allows may take one too.  Attached with --timestamps xdp:
# every frame has its own time (the dump test has the engine's).
t_snapshot() {
	need_tools
	daemon_up --timestamps xdp
	ctl status | grep -q 'timestamps by the XDP program$' || fail "status: not xdp timestamps"
	assert_eq "$(jget "$(ctl status -j)" 'j["interfaces"][0]["timestamps"]')" xdp \
		"status -j timestamps"
	local t0 t1 a_end b_start now win rc=0
	capture_start
	t0=$EPOCHREALTIME
	send_mix 200
	a_end=$(date +%s%3N)
	# the gap --last-ms must tell apart: a time interval, not a wait for
	# a condition
	sleep 3
	b_start=$(date +%s%3N)
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 4 --dport 9000 -n 150 -r 20000
	xs_gen -q --stream 5 --dport 9001 -n 50 -r 20000
	capture_stop 350
	now=$(date +%s%3N)
	# a window from 1.5 s before the second burst: it holds all of it
	# unless xsnapctl takes 1.5 s to start, and none of the first burst
	win=$((now - b_start + 1500))
	((now - win > a_end)) || fail "the bursts are too close for a --last-ms window"
	ctl snapshot alpha --last-ms "$win" -w "$D_DIR/last.pcap" 2>"$D_DIR/last.log" || rc=$?
	show "$D_DIR/last.log"
	assert_eq "$rc" 0 "exit status of snapshot --last-ms $win"
	grep -qx "xsnapctl: snapshot alpha: 150 frames written to $D_DIR/last.pcap" \
		"$D_DIR/last.log" || fail "summary of snapshot --last-ms"
	same_frames "$D_DIR/last.pcap" 150
	ctl snapshot alpha --frames 120 -w "$D_DIR/frames.pcap"
	same_frames "$D_DIR/frames.pcap" 120
	# more than the log holds: clipped to all 350
	ctl snapshot alpha --frames 4096 -w "$D_DIR/all.pcap"
	t1=$EPOCHREALTIME
	same_frames "$D_DIR/all.pcap" 350
	check_times "$D_DIR/all.pcap" "$t0" "$t1" xdp
	# alpha allows uid 65534; stdout is a file the test opened
	setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups "$XSNAPCTL" -S "$D_SOCK" \
		snapshot alpha --frames 10 -w - >"$D_DIR/nobody.pcap" 2>"$D_DIR/nobody.log" ||
		{ show "$D_DIR/nobody.log"; fail "snapshot as alpha's uid"; }
	same_frames "$D_DIR/nobody.pcap" 10
	assert_eq "$(alpha_sockets)" 0 "alpha's sockets after the snapshots"
	ctl detach "$LAB_IF_RX"
	d_stop
	finish
}

# Two attached interfaces (second_pair, tests/lib/xsnapd.sh): dump and snapshot cover both (a socket on each)
# and write their frames in receive-time order.
t_two_interfaces() {
	need_tools
	setup
	second_pair
	d_start
	configure
	ctl attach "$IF2_RX"
	local pf c2 rc=0
	lab_bg --log "$D_DIR/dump.log" "$LAB_NS_RX" "$XSNAPCTL" -S "$D_SOCK" dump alpha \
		-w "$D_DIR/dump.pcap" >/dev/null
	pf=$LAB_BG_PID
	wait_for 10 sockets_ge 2 || { show "$D_DIR/dump.log"; fail "no socket on each interface"; }
	lab_bg --log "$D_DIR/tcpdump2.log" "$LAB_NS_TX" \
		tcpdump -i "$IF2_TX" -U -n -w "$D_DIR/sent2.pcap" udp dst port 9000 >/dev/null
	c2=$LAB_BG_PID
	wait_for 10 grep -q 'listening on' "$D_DIR/tcpdump2.log" || fail "tcpdump did not start"
	capture_start
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 1 --dport 9000 -n 100 -r 20000
	gen2 -q --stream 2 --dport 9000 -n 100 -r 20000
	gen2 -q --stream 3 --dport 9001 -n 50 -r 20000
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 1 --seq-start 100 --dport 9000 -n 50 -r 20000
	gen2 -q --stream 2 --seq-start 100 --dport 9000 -n 50 -r 20000
	wait_for 10 has_frames "$D_DIR/sent2.pcap" 150 || fail "second capture incomplete"
	lab_stop "$c2" 5 || true
	capture_stop 150
	mergecap -F pcap -w "$D_DIR/merged.pcap" "$D_DIR/sent.pcap" "$D_DIR/sent2.pcap"
	mv "$D_DIR/merged.pcap" "$D_DIR/sent.pcap"
	wait_for 10 has_frames "$D_DIR/dump.pcap" 300 ||
		fail "dump: $(frames_in "$D_DIR/dump.pcap") of 300 frames"
	kill -INT "$pf"
	wait "$pf" || rc=$?
	show "$D_DIR/dump.log"
	assert_eq "$rc" 0 "exit status of the dump after SIGINT"
	same_frames "$D_DIR/dump.pcap" 300
	ctl snapshot alpha --frames 120 -w "$D_DIR/frames.pcap"
	same_frames "$D_DIR/frames.pcap" 120
	ctl snapshot alpha --last-ms 60000 -w "$D_DIR/last.pcap"
	same_frames "$D_DIR/last.pcap" 300
	ctl snapshot alpha --frames 10 -i "$IF2_RX" -w "$D_DIR/if2.pcap"
	assert_eq "$(tshark -r "$D_DIR/if2.pcap" -T fields -e eth.dst 2>/dev/null | sort -u)" \
		"$MAC2_RX" "--iface: frames of that interface only"
	assert_eq "$(alpha_sockets)" 0 "alpha's sockets after the dumps"
	ctl detach "$IF2_RX"
	ctl detach "$LAB_IF_RX"
	d_stop
	finish
}

# Bad arguments exit 2 with a message, before anything is opened; failures
# (no daemon, unknown tenant or interface, refused uid, unwritable file)
# exit 1 and name cause and remedy.
t_errors() {
	need_tools
	setup
	ctl_err 1 'cannot connect to .*: .*is xsnapd running\?' dump alpha -w "$D_DIR/x.pcap"
	ctl_err 1 'is xsnapd running\?' snapshot alpha --frames 1 -w "$D_DIR/x.pcap"
	d_start
	configure
	local c
	for c in 0 -1 12x 99999999999999999999 ''; do
		ctl_err 2 "bad value '$c' for --count \(N, 1\.\." dump alpha -c "$c"
	done
	ctl_err 2 '--count needs a value' dump alpha -c
	for c in 0 -5 abc 4294967296; do
		ctl_err 2 "bad value '$c' for --last-ms \(MS, 1\.\." snapshot alpha --last-ms "$c" -w x
	done
	for c in 0 1048577 99999999999999999999 1e3; do
		ctl_err 2 "bad value '$c' for --frames \(N, 1\.\." snapshot alpha --frames "$c" -w x
	done
	ctl_err 2 'give one of --last-ms MS or --frames N' snapshot alpha -w x
	ctl_err 2 'give one of --last-ms MS or --frames N' snapshot alpha --frames 5 --last-ms 5 -w x
	ctl_err 2 'snapshot: missing -w FILE' snapshot alpha --frames 5
	ctl_err 2 'missing TENANT' dump
	ctl_err 2 "unexpected argument 'beta'" dump alpha beta
	ctl_err 2 'empty file name for -w' dump alpha -w ''
	# binary pcap is not written to a terminal
	local out rc=0
	out=$(script -qec "$XSNAPCTL -S $D_SOCK dump alpha" /dev/null) || rc=$?
	echo "  dump on a terminal: $out" >&2
	assert_eq "$rc" 2 "exit status of dump on a terminal"
	[[ $out == *'refusing to write binary pcap to a terminal: give -w FILE, or pipe it'* ]] ||
		fail "no refusal on a terminal"
	rc=0
	out=$(script -qec "$XSNAPCTL -S $D_SOCK snapshot alpha --frames 1 -w -" /dev/null) || rc=$?
	assert_eq "$rc" 2 "exit status of snapshot -w - on a terminal"
	ctl_err 1 'no tenant nosuch; xsnapctl tenant list' dump nosuch -w "$D_DIR/x.pcap"
	ctl_err 1 'no tenant nosuch' snapshot nosuch --frames 1 -w "$D_DIR/x.pcap"
	ctl_err 1 'nosuch0 is not attached; xsnapctl status' dump alpha -i nosuch0 -w "$D_DIR/x.pcap"
	ctl_err 1 "cannot write /nonexistent/x.pcap: No such file or directory; choose a writable path" \
		snapshot alpha --frames 1 -w /nonexistent/x.pcap
	ctl_err 1 'cannot write /nonexistent/x.pcap' dump alpha -w /nonexistent/x.pcap
	[[ ! -e $D_DIR/x.pcap ]] || fail "a failed command left a file"
	# capture files: a new one is 0600; a symbolic link is not followed; a
	# file another user left (in /tmp, say) is neither truncated nor filled
	ln -s "$D_DIR/target" "$D_DIR/link.pcap"
	ctl_err 1 "cannot write $D_DIR/link.pcap: .*symbolic link: not followed" \
		snapshot alpha --frames 1 -w "$D_DIR/link.pcap"
	[[ ! -e $D_DIR/target ]] || fail "the capture followed a symbolic link"
	echo "their bytes" >"$D_DIR/theirs.pcap"
	chown "$NOBODY" "$D_DIR/theirs.pcap"
	ctl_err 1 "cannot write $D_DIR/theirs.pcap: it exists and belongs to uid $NOBODY" \
		dump alpha -w "$D_DIR/theirs.pcap"
	assert_eq "$(cat "$D_DIR/theirs.pcap")" "their bytes" "another user's file, after the refusal"
	ctl snapshot alpha --frames 1 -w "$D_DIR/new.pcap" || true
	assert_eq "$(stat -c %a "$D_DIR/new.pcap" 2>&1)" 600 "mode of a new capture file"
	# beta allows only root and the admin group
	ctl_err 1 'not allowed to consume tenant beta.*; run it as root, in xsnapd.s admin group' \
		--as-nobody dump beta
	ctl_err 1 'uid 65534 is not allowed to consume tenant beta' \
		--as-nobody snapshot beta --frames 1 -w -
	[[ ! -s $D_DIR/stdout ]] || fail "a refused dump wrote to stdout"
	grep -q 'tenant beta: refused uid 65534' "$D_LOG" || fail "the daemon did not log the refusal"
	assert_eq "$(alpha_sockets)" 0 "alpha's sockets after the failures"
	ctl detach "$LAB_IF_RX"
	ctl_err 1 'no interface is attached; xsnapctl attach IFACE' dump alpha -w "$D_DIR/x.pcap"
	d_stop
	finish
}

lab_main "$@"
