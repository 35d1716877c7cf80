#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# libxsnap-preload.so under xsnap-run (issue 14): ordinary programs run as
# an unprivileged user in the rx namespace receive, through xsnapd, the
# datagrams a kernel socket in the tx namespace sends to udp port 9000
# (tenant alpha's rule, configure of tests/lib/xsnapd.sh), each checked
# byte for byte: Python's socket module (tests/lib/udp_payloads.py:
# blocking recvfrom, poll, selectors/epoll), Debian's socat, netcat-openbsd
# and iperf3 (UDP test, TCP control), and tests/netns/preload_prog.c for
# the receive calls one by one (recvmmsg, MSG_PEEK/MSG_TRUNC, readv,
# control messages, non-blocking, SO_RCVTIMEO, epoll edge and level, dup,
# fork, exec).  Several programs on the port each get every datagram
# (fan-out); in share mode they split the flows.  Without xsnapd, with an
# unknown tenant, or when the daemon dies, a program falls back to its
# kernel socket with one line on stderr, and --strict makes that an error.
# Each test builds its own lab (and daemon) and removes them.
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
# Under SANITIZE=1 the programs of the build (preload_prog) and the shim are
# ASan + UBSan builds, whose runtimes must come first in LD_PRELOAD (else
# "ASan runtime does not come first"): preload them in the receivers and
# have xsnap-run load the sanitized shim, unless the caller chose P_ENV.
if [[ ${SANITIZE:-0} == 1 && -z ${P_ENV+set} ]]; then
	P_ENV="ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so):$(${CC:-cc} -print-file-name=libubsan.so)"
	export XSNAP_PRELOAD=${XSNAP_PRELOAD:-$PRELOAD}
fi

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
# lines_total N FILE...: the files hold N lines or more together
lines_total() { (($(cat "${@:2}" | wc -l) >= $1)); }
# udp_sockets PORT N: N UDP sockets or more are bound to PORT in the rx namespace
udp_sockets() { (($(ip netns exec "$LAB_NS_RX" ss -Huln "sport = :$1" | wc -l) >= $2)); }
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
	local n=200
	setup
	p_start fb "$n"
	send "$n"
	p_end fb "$P_PID"
	p_check fb "$n"
	assert_eq "$(grep -c '^xsnap-preload:' "$D_DIR/fb.log")" 1 "fallback lines on stderr"
	grep -q '^xsnap-preload: port 9000: kernel socket (xsnapd: ' "$D_DIR/fb.log" ||
		fail "the fallback line does not say why"
	xr
	strict_fails 9000 'xsnapd: '
	finish
}

# strict_fails PORT WHY: XR (the xsnap-run words) --strict with a receiver
# on PORT: the program fails, bind did not succeed, and stderr says
# "strict: bind fails (WHY...".
strict_fails() {
	local log=$D_DIR/strict.log rc=0
	lab_exec "$LAB_NS_RX" "${XR[@]}" --strict -- \
		"$XS_PYTHON" "$PAYLOADS" recv "$1" 1 /dev/null >"$log" 2>&1 || rc=$?
	show "$log"
	((rc != 0)) || fail "--strict: the program ran"
	grep -qF "xsnap-preload: port $1: strict: bind fails ($2" "$log" ||
		fail "--strict: no line saying why bind failed"
	! grep -q '^bound' "$log" || fail "--strict: bind succeeded"
}

# killed_case NAME [RECV OPTION]: xsnapd killed while the receiver NAME
# (udp_payloads.py recv, with the option) waits: the socket falls back to
# the kernel socket (one line), and datagrams sent after the kernel dropped
# the dead daemon's XDP program arrive through it; none is lost or changed.
killed_case() {
	local name=$1 n=100
	daemon_up
	P_OPT=${2:-} p_start "$name" $((2 * n))
	send "$n"
	wait_for 10 lines "$D_DIR/$name.out" "$n" || { show "$D_DIR/$name.log"; fail "first half not received"; }
	kill -KILL "$D_PID"
	wait "$D_PID" 2>/dev/null || true
	wait_for 10 grep -q '^xsnap-preload: port 9000: kernel socket from now on (xsnap: ' "$D_DIR/$name.log" ||
		{ show "$D_DIR/$name.log"; fail "no fallback line after the daemon died"; }
	wait_for 5 sh -c "! ip netns exec $LAB_NS_RX ip -d link show dev $LAB_IF_RX | grep -q prog/xdp" ||
		fail "an XDP program is left after the daemon died"
	send "$n" "$n"
	p_end "$name" "$P_PID"
	p_check "$name" $((2 * n))
	assert_eq "$(grep -c '^xsnap-preload:' "$D_DIR/$name.log")" 1 "fallback lines on stderr"
	# the next daemon removes the pins the killed one left
	d_start
	configure
	d_detach
	d_stop
	finish
}

# xsnapd killed while a blocking recvfrom waits.
t_preload_daemon_killed() { killed_case k; }

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
	local n=300
	command -v socat >/dev/null || skip "socat not installed"
	daemon_up
	raw_start socat 9000 socat -u UDP-RECV:9000 -
	send "$n"
	raw_check socat "$n"
	raw_stop "$P_PID"
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

# A mapped port that no rule of the tenant covers (udp 9002): the datagrams
# reach the kernel socket, and the mapped socket hands them over (no
# fallback line: the socket is mapped, its xsnap side just gets nothing).
t_preload_rules_not_covering() {
	local n=200
	daemon_up
	P_PORT=9002 p_start nr "$n"
	P_PORT=9002 send "$n"
	p_end nr "$P_PID"
	p_check nr "$n"
	! grep -q 'xsnap-preload:' "$D_DIR/nr.log" || fail "a fallback line for a mapped socket"
	assert_eq "$(tstat alpha delivered)" 0 "alpha's socket took nothing"
	d_detach
	d_stop
	finish
}

# On a covered port, datagrams of a local sender (127.0.0.1: never on the
# wire, so never steered) arrive through the kernel socket after those that
# came through xsnapd, in one stream, none lost.
t_preload_local_sender() {
	local n=150
	daemon_up
	p_start ls $((2 * n))
	send "$n"
	wait_for 10 lines "$D_DIR/ls.out" "$n" || { show "$D_DIR/ls.log"; fail "the wire's datagrams not received"; }
	lab_exec "$LAB_NS_RX" "$XS_PYTHON" "$PAYLOADS" send 127.0.0.1 9000 "$n" "$n" >/dev/null
	p_end ls "$P_PID"
	p_check ls $((2 * n))
	assert_eq "$(tstat alpha delivered)" "$n" "datagrams through xsnapd (the wire's)"
	d_detach
	d_stop
	finish
}

# fork after bind, a child that exits without receiving: it costs nothing
# (its socket is mapped lazily, at its first use), no line; the parent
# keeps receiving every datagram through xsnapd.
t_preload_fork() {
	local n=200
	daemon_up
	P_OPT=--fork p_start f "$n"
	send "$n"
	p_end f "$P_PID"
	p_check f "$n"
	assert_eq "$(grep -c '^xsnap-preload:' "$D_DIR/f.log")" 0 "lines of the shim on stderr"
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

# ---- tests/netns/preload_prog.c: the receive calls one by one ----

PROG=$XS_BUILD/tests/netns/preload_prog

# prog_case MODE N [PRELOAD_PROG OPTIONS...]: a lab and daemon; preload_prog
# MODE as nobody under xsnap-run receives N datagrams on port 9000 and
# checks each (count, order, every byte; what MODE checks besides: see the
# program), sent over IPv6 when the options name the rx end's IPv6 address
# (@DST6); it says "ok MODE N", printed no fallback line, and alpha's
# socket took exactly the N datagrams (they came through xsnapd).  In the
# options @SRC, @DST (@SRC6, @DST6) and @IF stand for the lab's tx and rx
# IPv4 (IPv6) addresses and rx interface.
prog_case() {
	local mode=$1 n=$2
	shift 2
	prog_start "$mode" "$n" "$@"
	if [[ " ${P_ARGS[*]} " == *" $LAB_IP6_RX "* ]]; then
		lab_exec "$LAB_NS_TX" "$XS_PYTHON" "$PAYLOADS" send "$LAB_IP6_RX" 9000 "$n" >/dev/null
	else
		# shellcheck disable=SC2086 # P_SEND: options of udp_payloads.py send
		send "$n" ${P_SEND:-}
	fi
	prog_end "$mode" "$n"
}

# prog_start MODE N [PRELOAD_PROG OPTIONS...]: prog_case's start: a lab and
# daemon, preload_prog MODE as nobody under xsnap-run (with the xsnap-run
# options $P_XR) until it said "bound".  P_PID, P_ARGS (the options with
# the lab's addresses).
prog_start() {
	local mode=$1 n=$2 a
	shift 2
	[[ -x $PROG ]] || fail "build first: $PROG missing"
	daemon_up
	P_ARGS=()
	for a in "$@"; do	# the lab's addresses, known now
		case $a in
		@SRC) P_ARGS+=("$LAB_IP_TX") ;;
		@DST) P_ARGS+=("$LAB_IP_RX") ;;
		@SRC6) P_ARGS+=("$LAB_IP6_TX") ;;
		@DST6) P_ARGS+=("$LAB_IP6_RX") ;;
		@IF) P_ARGS+=("$LAB_IF_RX") ;;
		*) P_ARGS+=("$a") ;;
		esac
	done
	xr
	# shellcheck disable=SC2086 # P_XR: xsnap-run options, words
	lab_bg --log "$D_DIR/$mode.log" "$LAB_NS_RX" "${XR[@]}" ${P_XR:-} -- \
		"$PROG" "$mode" 9000 "$n" "${P_ARGS[@]}" >/dev/null
	P_PID=$LAB_BG_PID
	wait_for 10 grep -q '^bound' "$D_DIR/$mode.log" || { show "$D_DIR/$mode.log"; fail "$mode did not bind"; }
}

# prog_end MODE N: preload_prog MODE ended with status 0 and "ok MODE N",
# printed no line of the shim, and alpha's sockets took $P_DELIVERED
# datagrams (default N: they came through xsnapd; "-": not looked at); the
# lab goes.
prog_end() {
	local mode=$1 n=$2 log=$D_DIR/$1.log
	p_end "$mode" "$P_PID"
	grep -q "^ok $mode $n\$" "$log" || fail "preload_prog $mode did not check every datagram"
	! grep -q 'xsnap-preload:' "$log" || fail "$mode: a line of the shim (fell back?)"
	[[ ${P_DELIVERED:-} == - ]] ||
		assert_eq "$(tstat alpha delivered)" "${P_DELIVERED:-$n}" "datagrams alpha's sockets took"
	[[ -n ${P_KEEP:-} ]] && return
	d_detach
	d_stop
	finish
}

# prog_end_keep MODE N: prog_end, the lab and daemon left up.
prog_end_keep() { P_KEEP=1 prog_end "$@"; }

# recvmmsg with MSG_WAITFORONE: every datagram once, in order, with its source.
t_preload_recvmmsg() { prog_case mmsg 300 -s @SRC; }

# MSG_PEEK (header, then MSG_PEEK|MSG_TRUNC: the full length), MSG_TRUNC
# into a short buffer (msg_flags), readv over two buffers.
t_preload_peek_trunc_readv() { prog_case peek 300; }

# IP_PKTINFO (set before bind: read back at bind) and SO_TIMESTAMPNS (after
# bind: followed by setsockopt): destination, ifindex, receive time; a
# short control buffer gives MSG_CTRUNC.
t_preload_cmsg_ipv4() { prog_case cmsg 200 -s @SRC -d @DST -i @IF; }

# An AF_INET6 socket on :: (dual stack) receiving IPv4 datagrams: the source
# and IPV6_PKTINFO's destination are v4-mapped, SO_TIMESTAMP in microseconds.
t_preload_cmsg_v4mapped() {
	prog_case cmsg 200 -6 -s @SRC -d @DST -i @IF
}

# IPv6 datagrams on an AF_INET6 socket: IPv6 source, IPV6_PKTINFO with the
# IPv6 destination and ifindex, SO_TIMESTAMP.
t_preload_cmsg_ipv6() {
	prog_case cmsg 200 -6 -s @SRC6 -d @DST6 -i @IF
}

# MSG_DONTWAIT and O_NONBLOCK give EAGAIN with nothing there (no hang);
# ppoll wakes for the datagrams, drained until EAGAIN.
t_preload_nonblock_ppoll() { prog_case nonblock 300; }

# SO_RCVTIMEO: a blocking receive with nothing sent returns EAGAIN after the
# timeout (set before bind, and changed after it).
t_preload_rcvtimeo() { prog_case timeo 200; }

# Edge-triggered epoll with a pipe in the same set: the pipe alone before
# any datagram, no second report of the socket without a read, every
# datagram by draining until EAGAIN, the pipe written half-way reported.
t_preload_epoll_edge() { prog_case epollet 400; }

# Level-triggered epoll, maxevents 1, one datagram per event, beside a pipe
# that is always readable: neither starves the other.
t_preload_epoll_level() { prog_case epolllt 300; }

# dup, F_DUPFD_CLOEXEC and dup2 copies share the xsnap socket (the original
# closed; a forked child closes its copies), each receives its third; after
# exec the copy without close-on-exec is there, the other and every
# descriptor of the shim are gone.
t_preload_dup_fork_exec() {
	prog_case dup 300 -s @SRC
}

# Four threads in blocking recv on one socket: every datagram reaches
# exactly one of them, intact.
t_preload_threads() { prog_case threads 400; }

# A child forked after bind receives on its inherited socket: its first
# receive opens its own connection and xsnap socket, and in fan-out mode
# parent and child each get all N datagrams, whole and in order.
t_preload_fork_child_receives() { P_DELIVERED=$((2 * 300)) prog_case fork 300; }

# A parent that binds, forks and never receives (a supervisor): its unused
# socket is given back at the fork, so the child gets all 1500 datagrams,
# more than alpha's quota (1024) that the parent's idle cursor would
# otherwise hold back.
t_preload_fork_parent_idle() { prog_case forkidle 1500; }

# The same with --share 7: parent and child split the flows (16 of them),
# each datagram once in all, both some (a pre-fork server).
t_preload_fork_share() { P_XR="--share 7" P_SEND="--flows 16" prog_case forkshare 320; }

# exec with the socket open (no close-on-exec): N/2 datagrams before, the
# new image maps the inherited socket at its first receive ("bound2") and
# gets the other N/2 through xsnapd.
t_preload_exec_inherited() {
	local n=200
	prog_start exec "$n"
	send $((n / 2))
	wait_for 10 grep -q '^bound2' "$D_DIR/exec.log" || { show "$D_DIR/exec.log"; fail "the new image did not receive"; }
	send $((n / 2)) $((n / 2))
	prog_end exec "$n"
}

# Three descriptors closed while a thread is blocked on each (recv, poll,
# epoll_wait): no use after free (run it under SANITIZE=1); the recv
# returns the datagram that came after the close, then EBADF; poll says
# POLLIN or POLLNVAL; epoll_wait reports nothing (the socket left the set).
# (How many sockets took the datagram depends on when poll woke.)
t_preload_close_while_blocked() { P_DELIVERED=- prog_case closerace 1; }

# epoll: two mapped sockets and a pipe registered with one epoll_data, all
# readable: three events, none merged into another.
t_preload_epoll_equal_data() { P_DELIVERED=2 prog_case epolldata 1; }

# EPOLLET: a datagram left unread, then a second one arriving is a new
# edge: epoll_wait reports the socket again (the kernel's rule).
t_preload_epoll_edge_new_arrival() {
	prog_start etnew 2
	send 1
	wait_for 10 grep -q '^edge1' "$D_DIR/etnew.log" || { show "$D_DIR/etnew.log"; fail "no first edge"; }
	send 1 1
	prog_end etnew 2
}

# The kernel's demultiplexing on one tenant (rules for 9000, 9004, 9005):
# 0.0.0.0:9000 gets only port 9000's datagrams, DST:9004 only 9004's,
# 127.0.0.1:9000 and [::]:9000 (v6only) nothing from the IPv4 wire, and
# 0.0.0.0:9005 connected to SRC:7000 only 7000's until connect(AF_UNSPEC),
# then 7001's too; each whole and in order (preload_prog demux, senders
# preload_prog send).  The skipped ones are counted: of the 5N frames every
# socket looked at, A and B took N, C 2N, D and E none: 21N skipped.
t_preload_demux() {
	local n=100
	prog_start demux "$n" -s @SRC -d @DST
	ctl rule add alpha 'udp dst port 9004' --prio 10 >/dev/null
	ctl rule add alpha 'udp dst port 9005' --prio 10 >/dev/null
	lab_exec "$LAB_NS_TX" "$PROG" send 9000 "$n" -d "$LAB_IP_RX" -P 1 >/dev/null
	wait_for 10 grep -q '^phase2' "$D_DIR/demux.log" || { show "$D_DIR/demux.log"; fail "phase 1 not received"; }
	lab_exec "$LAB_NS_TX" "$PROG" send 9000 "$n" -d "$LAB_IP_RX" -P 2 >/dev/null
	P_DELIVERED=$((5 * 5 * n)) prog_end_keep demux "$n"
	assert_eq "$(tstat alpha recvfrom_skipped)" $((21 * n)) "datagrams skipped as not the socket's"
	d_detach
	d_stop
	finish
}

# Python's selectors (epoll) with a non-blocking socket, unmodified.
t_preload_python_selectors() {
	local n=400
	daemon_up
	P_OPT=--selectors p_start sel "$n"
	send "$n"
	p_end sel "$P_PID"
	p_check sel "$n"
	! grep -q 'xsnap-preload:' "$D_DIR/sel.log" || fail "the receiver fell back"
	assert_eq "$(tstat alpha delivered)" "$n" "alpha's socket took every datagram"
	d_detach
	d_stop
	finish
}

# ---- unmodified Debian programs ----

# raw_start NAME PORT COMMAND...: as nobody in the rx namespace under
# xsnap-run, `COMMAND... >$D_DIR/NAME.out` (log NAME.log); wait until a
# UDP socket is bound to PORT.  P_PID.
raw_start() {
	local name=$1 port=$2 out log
	shift 2
	out=$D_DIR/$name.out log=$D_DIR/$name.log
	install -o "$NOBODY" -m 0644 /dev/null "$out"
	xr
	lab_bg --log "$log" "$LAB_NS_RX" "${XR[@]}" -- \
		sh -c 'out=$1; shift; exec "$@" >"$out"' sh "$out" "$@" >/dev/null
	P_PID=$LAB_BG_PID
	# the pid is the program's (setpriv, env, xsnap-run and sh exec it)
	wait_for 10 sh -c "ip netns exec $LAB_NS_RX ss -Hulnp 'sport = :$port' | grep -q 'pid=$P_PID,'" ||
		{ show "$log"; fail "$name did not bind"; }
}

# raw_check NAME N: NAME (started by raw_start) wrote the N payloads back
# to back, byte for byte, within 10 s; then it is stopped; it printed no
# fallback line.
raw_check() {
	local name=$1 n=$2 out=$D_DIR/$1.out size
	"$XS_PYTHON" "$PAYLOADS" expect-raw "$n" >"$D_DIR/expect"
	size=$(stat -c %s "$D_DIR/expect")
	wait_for 10 bytes "$out" "$size" || true
	cmp "$D_DIR/expect" "$out" >&2 || fail "$name wrote $(stat -c %s "$out") bytes, not the $size sent"
	echo "  $name: $n datagrams ($size bytes), byte-exact" >&2
	! grep -q 'xsnap-preload:' "$D_DIR/$name.log" || fail "$name fell back to the kernel socket"
}

# raw_stop PID: SIGTERM, reaped.
raw_stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# netcat-openbsd's `nc -u -l` (it peeks at the first datagram for its
# source, connects, then polls and reads) writes every payload.
t_preload_netcat() {
	local n=300
	command -v nc.openbsd >/dev/null || skip "netcat-openbsd not installed"
	daemon_up
	raw_start nc 9000 nc.openbsd -d -u -l 9000
	send "$n"
	raw_check nc "$n"
	raw_stop "$P_PID"
	assert_eq "$(tstat alpha delivered)" "$n" "alpha's socket took every datagram"
	d_detach
	d_stop
	finish
}

# Three unmodified receivers on one port (Python blocking recvfrom, socat,
# nc) each get every datagram: fan-out, which kernel sockets cannot give.
t_preload_three_programs_fanout() {
	local n=300 pp ps pn
	command -v socat >/dev/null || skip "socat not installed"
	command -v nc.openbsd >/dev/null || skip "netcat-openbsd not installed"
	daemon_up
	p_start py "$n"
	pp=$P_PID
	raw_start socat 9000 socat -u UDP-RECV:9000 -
	ps=$P_PID
	raw_start nc 9000 nc.openbsd -d -u -l 9000
	pn=$P_PID
	wait_for 10 udp_sockets 9000 3 ||
		fail "not three sockets on udp 9000"
	send "$n"
	p_end py "$pp"
	p_check py "$n"
	raw_check socat "$n"
	raw_check nc "$n"
	raw_stop "$ps"
	raw_stop "$pn"
	assert_eq "$(tstat alpha delivered)" $((3 * n)) "alpha's three sockets took every datagram each"
	d_detach
	d_stop
	finish
}

# Two receivers in share mode (--share 7) split 16 flows: together they got
# each datagram exactly once, each got some, and every flow stayed whole
# with one of them.
t_preload_share_split() {
	local n=480 flows=16 pa pb
	daemon_up
	p_start sa 0 --share 7
	pa=$P_PID
	p_start sb 0 --share 7
	pb=$P_PID
	lab_exec "$LAB_NS_TX" "$XS_PYTHON" "$PAYLOADS" send "$LAB_IP_RX" 9000 "$n" --flows "$flows" >/dev/null
	wait_delivered alpha "$n"
	wait_for 10 lines_total "$n" "$D_DIR/sa.out" "$D_DIR/sb.out" ||
		fail "the two took $(cat "$D_DIR/sa.out" "$D_DIR/sb.out" | wc -l) datagrams, not $n"
	raw_stop "$pa"
	raw_stop "$pb"
	assert_eq "$(tstat alpha delivered)" "$n" "datagrams handed to the two sockets"
	"$XS_PYTHON" "$PAYLOADS" expect "$n" | sort >"$D_DIR/expect"
	sort "$D_DIR/sa.out" "$D_DIR/sb.out" >"$D_DIR/got"
	cmp -s "$D_DIR/expect" "$D_DIR/got" || fail "the union is not each datagram once"
	(($(wc -l <"$D_DIR/sa.out") > 0 && $(wc -l <"$D_DIR/sb.out") > 0)) || fail "one receiver got nothing"
	"$XS_PYTHON" - "$D_DIR/sa.out" "$D_DIR/sb.out" "$flows" <<'PY' || fail "a flow was split"
import sys
flows = int(sys.argv[3])
owner = {}
for k, path in enumerate(sys.argv[1:3]):
    for line in open(path):
        i = int(bytes.fromhex(line.strip())[:6])
        f = i % flows
        if owner.setdefault(f, k) != k:
            sys.exit("flow %d in both" % f)
print("  share: %d flows, %d with the first receiver" % (len(owner), sum(1 for v in owner.values() if v == 0)), file=sys.stderr)
PY
	echo "  share: $(wc -l <"$D_DIR/sa.out") + $(wc -l <"$D_DIR/sb.out") datagrams" >&2
	d_detach
	d_stop
	finish
}

# iperf3 -s under xsnap-run receives a UDP test from iperf3 -u -c in the tx
# namespace: the TCP control connection keeps working (kernel), the UDP
# datagrams come through xsnapd (a rule for udp 5201), xsnapd delivers
# every datagram the client sent, and the server counts them in order,
# none lost.  iperf3's server stops counting when the client's end message
# comes over the TCP control connection: datagrams still on their way then
# (a few, more under the sanitizers) are neither counted nor lost, so the
# count may fall short of what was sent by such a tail (at most 1 %).
t_preload_iperf3() {
	local log out sent got lost
	command -v iperf3 >/dev/null || skip "iperf3 not installed"
	daemon_up
	ctl rule add alpha 'udp dst port 5201' --prio 10 >/dev/null
	log=$D_DIR/iperf3.log out=$D_DIR/iperf3.json
	install -o "$NOBODY" -m 0644 /dev/null "$out"
	xr
	lab_bg --log "$log" "$LAB_NS_RX" "${XR[@]}" -- \
		sh -c 'exec iperf3 -s -1 -J -p 5201 >"$1"' sh "$out" >/dev/null
	P_PID=$LAB_BG_PID
	wait_for 10 sh -c "ip netns exec $LAB_NS_RX ss -Htln 'sport = :5201' | grep -q ." ||
		{ show "$log"; fail "iperf3 -s did not listen"; }
	lab_exec "$LAB_NS_TX" timeout 30 iperf3 -c "$LAB_IP_RX" -p 5201 -u -b 20M -l 1200 -t 2 -J \
		>"$D_DIR/client.json" || { show "$D_DIR/client.json"; fail "the iperf3 client failed"; }
	wait_for 10 test ! -d "/proc/$P_PID" || fail "iperf3 -s -1 did not end after the test"
	wait "$P_PID" || { show "$log"; fail "iperf3 -s failed"; }
	show "$log"
	sent=$(jget "$(cat "$D_DIR/client.json")" "j['end']['sum']['packets']")
	got=$(jget "$(cat "$out")" "j['end']['sum']['packets']")
	lost=$(jget "$(cat "$out")" "j['end']['sum']['lost_packets']")
	echo "  iperf3: client sent $sent datagrams, server counted $got, lost $lost" >&2
	((sent > 1000)) || fail "the client sent only $sent datagrams"
	assert_ge "$got" $((sent - sent / 100)) "datagrams the server counted (a tail of 1 % may be in flight)"
	assert_ge "$sent" "$got" "datagrams the server counted (not more than were sent)"
	assert_eq "$lost" 0 "datagrams the server lost"
	! grep -q 'xsnap-preload:' "$log" || fail "iperf3 fell back to the kernel socket"
	assert_ge "$(tstat alpha delivered)" "$sent" "datagrams through xsnapd"
	d_detach
	d_stop
	finish
}

# --strict, xsnapd killed while a blocking recvfrom waits: the call fails
# (ECONNRESET: Python raises ConnectionResetError) within seconds, with one
# line saying so; no hang, no crash.
t_preload_daemon_killed_strict() {
	local n=100 rc=0 log
	daemon_up
	log=$D_DIR/sk.log
	p_start sk $((2 * n)) --strict
	send "$n"
	wait_for 10 lines "$D_DIR/sk.out" "$n" || { show "$log"; fail "first half not received"; }
	kill -KILL "$D_PID"
	wait "$D_PID" 2>/dev/null || true
	wait_for 10 test ! -d "/proc/$P_PID" || { show "$log"; fail "the receiver hangs"; }
	wait "$P_PID" || rc=$?
	show "$log"
	((rc == 1)) || fail "exit status $rc, not 1 (an exception)"
	grep -q '^xsnap-preload: port 9000: strict: receive fails (xsnap: ' "$log" ||
		fail "no line saying why the receive failed"
	grep -q 'ConnectionResetError' "$log" || fail "recvfrom did not fail with ECONNRESET"
	d_start
	configure
	d_detach
	d_stop
	finish
}

# xsnapd killed while a Python selectors (epoll) receiver waits: it wakes
# and falls back, and its epoll set watches the kernel socket again.
t_preload_daemon_killed_epoll() { killed_case ke --selectors; }

# --strict while xsnapd runs but the tenant does not exist: bind fails with
# the reason; without --strict the program receives on its kernel socket
# (the port is not steered for anyone) with one line.
t_preload_unknown_tenant() {
	local n=100
	daemon_up
	xr
	XR+=(-t nosuch)	# the last --tenant counts
	strict_fails 9003 'tenant nosuch: '
	install -o "$NOBODY" -m 0644 /dev/null "$D_DIR/ut.out"
	lab_bg --log "$D_DIR/ut.log" "$LAB_NS_RX" "${XR[@]}" -- \
		"$XS_PYTHON" "$PAYLOADS" recv 9003 "$n" "$D_DIR/ut.out" >/dev/null
	P_PID=$LAB_BG_PID
	wait_for 10 grep -q '^bound' "$D_DIR/ut.log" || { show "$D_DIR/ut.log"; fail "did not bind"; }
	P_PORT=9003 send "$n"
	p_end ut "$P_PID"
	p_check ut "$n"
	grep -q '^xsnap-preload: port 9003: kernel socket (tenant nosuch: ' "$D_DIR/ut.log" ||
		fail "no fallback line naming the tenant"
	d_detach
	d_stop
	finish
}

lab_main "$@"
