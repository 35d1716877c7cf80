#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# libxsnap-preload.so under xsnap-run (issue 14): an ordinary program (the
# python3 socket module, tests/lib/udp_payloads.py) run as an unprivileged
# user in the rx namespace receives, through xsnapd, the datagrams a kernel
# socket in the tx namespace sends to udp port 9000 (tenant alpha's rule,
# configure of tests/lib/xsnapd.sh), byte for byte; two such programs on the
# port both get every datagram; without xsnapd the program falls back to
# its kernel socket with one line on stderr, and --strict makes that an
# error.  Each test builds its own lab (and daemon) and removes them.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"
# shellcheck source=../lib/xsnapd.sh
source "$LIB/xsnapd.sh"

XSNAP_RUN=$XS_ROOT/tools/xsnap-run/xsnap-run
PAYLOADS=$LIB/udp_payloads.py
PRELOAD=$XS_BUILD/libxsnap-preload.so
P_PID=
XR=()

# xr: XR = the words that run a command as nobody under xsnap-run with
# tenant alpha, this lab's daemon and the environment $P_ENV (words
# VAR=VALUE); the xsnap-run options and "--" follow.
xr() {
	# shellcheck disable=SC2206 # P_ENV: VAR=VALUE words on purpose
	XR=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups env ${P_ENV:-}
		"$XSNAP_RUN" -S "$D_SOCK" -t alpha)
}

# p_start NAME N [XSNAP-RUN OPTIONS...]: as nobody in the rx namespace, under
# xsnap-run against this lab's daemon socket, a receiver of N datagrams on
# port $P_PORT (default 9000) writing them to $D_DIR/NAME.out (log
# $D_DIR/NAME.log; P_OPT: an option of udp_payloads.py recv, e.g. --poll);
# wait until it bound.  P_PID.  $P_ENV (words VAR=VALUE) is the receiver's
# environment, e.g. to run build-san's library under ASan:
#   XSNAP_PRELOAD=build-san/libxsnap-preload.so P_ENV="ASAN_OPTIONS=detect_leaks=0
#   LD_PRELOAD=$(gcc -print-file-name=libasan.so)" bash tests/netns/test_preload.sh
p_start() {
	local name=$1 n=$2 out log
	shift 2
	out=$D_DIR/$name.out log=$D_DIR/$name.log
	[[ -f $PRELOAD ]] || fail "build first: $PRELOAD missing"
	install -o "$NOBODY" -m 0644 /dev/null "$out"
	xr
	# shellcheck disable=SC2086 # P_OPT: empty or one word
	lab_bg --log "$log" "$LAB_NS_RX" "${XR[@]}" "$@" -- \
		"$XS_PYTHON" "$PAYLOADS" recv "${P_PORT:-9000}" "$n" "$out" ${P_OPT:-} >/dev/null
	P_PID=$LAB_BG_PID
	wait_for 10 grep -q '^bound' "$log" || { show "$log"; fail "$name did not bind"; }
}

# p_end NAME PID: the receiver ends by itself within 20 s with status 0.
p_end() {
	local log=$D_DIR/$1.log rc=0
	wait_for 20 test ! -d "/proc/$2" || { show "$log"; fail "$1 hangs"; }
	wait "$2" || rc=$?
	show "$log"
	assert_eq "$rc" 0 "$1's exit status"
}

# p_check NAME N: NAME.out holds exactly the N datagrams sent, in order.
p_check() {
	"$XS_PYTHON" "$PAYLOADS" expect "$2" >"$D_DIR/expect"
	cmp -s "$D_DIR/expect" "$D_DIR/$1.out" ||
		fail "$1 received $(wc -l <"$D_DIR/$1.out") datagrams, not the $2 sent byte for byte"
	echo "  $1: $2 datagrams, byte-exact" >&2
}

# send N [FIRST]: datagrams FIRST..FIRST+N-1 to port $P_PORT (default 9000)
# of the rx end.
send() {
	lab_exec "$LAB_NS_TX" "$XS_PYTHON" "$PAYLOADS" send "$LAB_IP_RX" "${P_PORT:-9000}" "$@" >/dev/null
}

lines() { (($(wc -l <"$1") >= $2)); }
bytes() { (($(stat -c %s "$1") >= $2)); }

# One receiver, blocking recvfrom: every datagram through xsnapd, no
# fallback line.
t_preload_recv() {
	local n=500
	daemon_up
	p_start one "$n"
	send "$n"
	p_end one "$P_PID"
	p_check one "$n"
	! grep -q 'xsnap-preload:' "$D_DIR/one.log" || fail "the receiver fell back"
	assert_eq "$(tstat alpha delivered)" "$n" "alpha's sockets took every datagram"
	d_detach
	d_stop
	finish
}

# Two receivers on one port (one blocking, one waiting in poll): fan-out,
# both get every datagram.
t_preload_fanout() {
	local n=400 pa pb
	daemon_up
	p_start a "$n"
	pa=$P_PID
	P_OPT=--poll p_start b "$n"
	pb=$P_PID
	send "$n"
	p_end a "$pa"
	p_end b "$pb"
	p_check a "$n"
	p_check b "$n"
	assert_eq "$(tstat alpha delivered)" $((2 * n)) "alpha's two sockets took every datagram each"
	d_detach
	d_stop
	finish
}

# No xsnapd: the kernel socket with one line on stderr, and the datagrams
# still arrive; --strict: bind fails with a line that says so.
t_preload_no_daemon() {
	local n=200 rc=0 log
	setup
	p_start fb "$n"
	send "$n"
	p_end fb "$P_PID"
	p_check fb "$n"
	assert_eq "$(grep -c '^xsnap-preload:' "$D_DIR/fb.log")" 1 "fallback lines on stderr"
	grep -q '^xsnap-preload: port 9000: kernel socket (xsnapd: ' "$D_DIR/fb.log" ||
		fail "the fallback line does not say why"
	log=$D_DIR/strict.log
	xr
	lab_exec "$LAB_NS_RX" "${XR[@]}" --strict -- \
		"$XS_PYTHON" "$PAYLOADS" recv 9000 1 /dev/null >"$log" 2>&1 || rc=$?
	show "$log"
	((rc != 0)) || fail "--strict without xsnapd: the program ran"
	grep -q '^xsnap-preload: port 9000: strict: bind fails (xsnapd: ' "$log" ||
		fail "--strict: no line saying why bind failed"
	! grep -q '^bound' "$log" || fail "--strict: bind succeeded"
	finish
}

# xsnapd killed while the program receives: the socket falls back to the
# kernel socket (one line), and datagrams sent after the kernel dropped the
# dead daemon's XDP program arrive through it; none is lost or changed.
t_preload_daemon_killed() {
	local n=100
	daemon_up
	p_start k $((2 * n))
	send "$n"
	wait_for 10 lines "$D_DIR/k.out" "$n" || { show "$D_DIR/k.log"; fail "first half not received"; }
	kill -KILL "$D_PID"
	wait "$D_PID" 2>/dev/null || true
	wait_for 10 grep -q '^xsnap-preload: port 9000: kernel socket from now on (xsnap: ' "$D_DIR/k.log" ||
		{ show "$D_DIR/k.log"; fail "no fallback line after the daemon died"; }
	wait_for 5 sh -c "! ip netns exec $LAB_NS_RX ip -d link show dev $LAB_IF_RX | grep -q prog/xdp" ||
		fail "an XDP program is left after the daemon died"
	send "$n" "$n"
	p_end k "$P_PID"
	p_check k $((2 * n))
	assert_eq "$(grep -c '^xsnap-preload:' "$D_DIR/k.log")" 1 "fallback lines on stderr"
	# the next daemon removes the pins the killed one left
	d_start
	configure
	d_detach
	d_stop
	finish
}

# The receive path makes no syscall of its own when data waits: 300
# datagrams queued before a blocking receiver (under strace -f) starts
# reading; the syscalls the receiving loop made besides the program's own
# write(2) per datagram are counted and shown (asserted: fewer than one per
# ten datagrams, and no kernel recvfrom).
t_preload_no_syscall_when_waiting() {
	local n=300 out st per
	command -v strace >/dev/null || skip "strace not installed"
	[[ ${P_ENV:-} != *LD_PRELOAD=* ]] || skip "P_ENV preloads a runtime (a sanitizer's allocator maps memory per allocation)"
	daemon_up
	out=$D_DIR/s.out st=$D_DIR/strace
	install -o "$NOBODY" -m 0644 /dev/null "$out"
	xr
	lab_bg --log "$D_DIR/s.log" "$LAB_NS_RX" strace -f -qq -o "$st" \
		"${XR[@]}" -- \
		"$XS_PYTHON" "$PAYLOADS" recv 9000 "$n" "$out" --wait 3 >/dev/null
	P_PID=$LAB_BG_PID
	wait_for 10 grep -q '^bound' "$D_DIR/s.log" || { show "$D_DIR/s.log"; fail "did not bind"; }
	send "$n"
	p_end s "$P_PID"
	p_check s "$n"
	# the receive loop: from the first write of a datagram to the last
	awk '/write\([0-9]+, "[0-9a-f]+\\n"/ { on = 1 } on' "$st" |
		grep -v -E ' (write|exit_group|\+\+\+|---)' |
		sed -E 's/^[0-9]+ +//; s/\(.*//' | sort | uniq -c | sort -rn >"$D_DIR/calls"
	echo "  syscalls in the receive loop of $n waiting datagrams, besides write(2):" >&2
	show "$D_DIR/calls"
	per=$(awk '{ s += $1 } END { print s + 0 }' "$D_DIR/calls")
	! grep -qw recvfrom "$D_DIR/calls" || fail "the kernel socket was read"
	((per * 10 < n)) || fail "$per syscalls for $n waiting datagrams"
	d_detach
	d_stop
	finish
}

# socat -u UDP-RECV:9000 - (Debian's socat, unmodified) under xsnap-run
# writes every payload, byte for byte, taken through xsnapd.
t_preload_socat() {
	local n=300 out log size
	command -v socat >/dev/null || skip "socat not installed"
	daemon_up
	out=$D_DIR/socat.out log=$D_DIR/socat.log
	install -o "$NOBODY" -m 0644 /dev/null "$out"
	"$XS_PYTHON" "$PAYLOADS" expect-raw "$n" >"$D_DIR/expect"
	size=$(stat -c %s "$D_DIR/expect")
	xr
	lab_bg --log "$log" "$LAB_NS_RX" "${XR[@]}" -- \
		sh -c 'exec socat -u UDP-RECV:9000 - >"$1"' sh "$out" >/dev/null
	P_PID=$LAB_BG_PID
	wait_for 10 sh -c "ip netns exec $LAB_NS_RX ss -Huln 'sport = :9000' | grep -q ." ||
		{ show "$log"; fail "socat did not bind"; }
	send "$n"
	wait_for 10 bytes "$out" "$size" || true
	kill -TERM "$P_PID" 2>/dev/null || true
	wait "$P_PID" 2>/dev/null || true
	show "$log"
	cmp "$D_DIR/expect" "$out" >&2 || fail "socat wrote $(stat -c %s "$out") bytes, not the $size sent"
	echo "  socat: $n datagrams ($size bytes), byte-exact" >&2
	! grep -q 'xsnap-preload:' "$log" || fail "socat fell back to the kernel socket"
	assert_eq "$(tstat alpha delivered)" "$n" "alpha's socket took every datagram"
	d_detach
	d_stop
	finish
}

# A port outside --port stays a kernel socket (one line) and receives
# through the kernel when no rule covers it (udp 9002: no tenant's rule).
t_preload_port_not_listed() {
	local n=200
	daemon_up
	P_PORT=9002 p_start np "$n" --port 9000
	P_PORT=9002 send "$n"
	p_end np "$P_PID"
	p_check np "$n"
	assert_eq "$(grep -c '^xsnap-preload:' "$D_DIR/np.log")" 1 "lines on stderr"
	grep -q '^xsnap-preload: port 9002: kernel socket (not in XSNAP_PORTS)' "$D_DIR/np.log" ||
		fail "the line does not say why"
	assert_eq "$(tstat alpha delivered)" 0 "alpha's sockets took nothing"
	d_detach
	d_stop
	finish
}

# fork after bind: the child's copy of the socket is a kernel socket (one
# line), the parent keeps receiving every datagram through xsnapd.
t_preload_fork() {
	local n=200
	daemon_up
	P_OPT=--fork p_start f "$n"
	send "$n"
	p_end f "$P_PID"
	p_check f "$n"
	assert_eq "$(grep -c '^xsnap-preload: fork: the child' "$D_DIR/f.log")" 1 "fork lines on stderr"
	assert_eq "$(tstat alpha delivered)" "$n" "alpha's socket took every datagram"
	d_detach
	d_stop
	finish
}

# dup2 of another file onto a mapped socket's number: the number now
# reads that file (/dev/zero), not xsnap.
t_preload_dup2_over_mapped() {
	local out rc=0
	daemon_up
	xr
	out=$(lab_exec "$LAB_NS_RX" timeout 10 "${XR[@]}" -- "$XS_PYTHON" -c '
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
z = os.open("/dev/zero", os.O_RDONLY)
os.dup2(z, s.fileno())
print(os.read(s.fileno(), 4).hex())' 2>&1) || rc=$?
	echo "  read after dup2: $out (exit $rc)" >&2
	assert_eq "$rc" 0 "exit status"
	assert_eq "$out" 00000000 "what the number reads after dup2"
	d_detach
	d_stop
	finish
}

lab_main "$@"
