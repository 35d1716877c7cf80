#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# xsnapd against hostile clients: nothing a client does may stall the
# daemon or hurt another tenant (docs/design.md, Isolation 7).  In each test
# an attacker (build/tests/netns/xsnap_attack, uid/gid 65534 without
# capabilities) runs one attack while tenant beta (the victim) streams
# verified payloads, and the test asserts:
#   - the attack's own property (the attacker reports what it saw: "verdict
#     ok"; the test checks the daemon's side),
#   - root's `xsnapctl status` answers within 1 s during and after it,
#   - the victim lost and corrupted no frame (victim_check),
#   - SIGTERM ends the daemon cleanly within 1 s while the attack still
#     stands, after frame conservation was checked (d_stop_fast).
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"
# shellcheck source=../lib/xsnapd.sh
source "$LIB/xsnapd.sh"

ATTACK=$XS_BUILD/tests/netns/xsnap_attack
SCAN=$XS_BUILD/tests/netns/xsnap_scan
A_PID= A_LOG=

# a_start [--root] LOG ARGS...: start the attacker ($A_BIN, default
# xsnap_attack) as uid/gid 65534 with no capabilities (--root: as root);
# return once it created its ready file (the attack is in place) or exited.
# A_PID, A_LOG.
a_start() {
	local bin=${A_BIN:-$ATTACK}
	[[ -x $bin ]] || fail "build first: $bin missing"
	local rdy pre=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups --inh-caps=-all
		--bounding-set=-all)
	if [[ $1 == --root ]]; then
		pre=()
		shift
	fi
	A_LOG=$1
	shift
	rdy=$(mktemp -u /tmp/xsnap-ready.XXXXXX)
	: >"$A_LOG"
	lab_bg --log "$A_LOG" "$LAB_NS_RX" "${pre[@]}" "$bin" -S "$D_SOCK" -R "$rdy" "$@" \
		>/dev/null
	A_PID=$LAB_BG_PID
	wait_for 20 test -e "$rdy" -o ! -d "/proc/$A_PID" ||
		{ show "$A_LOG"; fail "the attacker did not get ready"; }
	rm -f "$rdy"
}

_a_judged() { grep -q ': verdict ' "$A_LOG" || ! lab_alive "$A_PID"; }

# a_verdict: wait until the attacker judged what it saw (it then holds on).
a_verdict() {
	wait_for "${1:-30}" _a_judged || { show "$A_LOG"; fail "the attacker reached no verdict"; }
	grep -q ': verdict ok' "$A_LOG" || { show "$A_LOG"; fail "the attacker's verdict: FAILED"; }
}

# a_stop: end the attack (SIGTERM); its exit status must be 0.
a_stop() {
	local rc=0
	c_stop "$A_PID" || rc=$?
	show "$A_LOG"
	assert_eq "$rc" 0 "the attacker's exit status"
}

# status_fast WHEN: root's `xsnapctl status` answers, within 1 s (given up
# after 5).
status_fast() {
	local t0 ms
	t0=$(_lab_now_us)
	timeout 5 "$XSNAPCTL" -S "$D_SOCK" status >/dev/null ||
		fail "root's status failed or hung $1"
	ms=$((($(_lab_now_us) - t0) / 1000))
	echo "root's xsnapctl status $1: $ms ms" >&2
	((ms < 1000)) || fail "root's status took $ms ms $1"
}

_gone() { [[ ! -d /proc/$1 || $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

# d_stop_fast: frames conserved; then SIGTERM while the attack still stands:
# a clean exit (status 0, socket removed) within 1 s.
d_stop_fast() {
	local t0 ms rc=0
	check_conservation
	t0=$(_lab_now_us)
	kill -TERM "$D_PID"
	wait_for 1 _gone "$D_PID" || { show "$D_LOG"; fail "xsnapd still runs 1 s after SIGTERM"; }
	ms=$((($(_lab_now_us) - t0) / 1000))
	echo "xsnapd exited $ms ms after SIGTERM" >&2
	wait "$D_PID" || rc=$?
	assert_eq "$rc" 0 "xsnapd's exit status after SIGTERM"
	[[ ! -e $D_SOCK ]] || fail "xsnapd left its socket behind"
}

# fd_passing EXPECT: the attacker passes a TCP socket whose last close would
# linger for a minute.
fd_passing() {
	local expect=$1
	victim_start beta 9001
	a_start "$D_DIR/attack.log" -m fdpass -e "$expect"
	status_fast "during the attack"
	a_verdict
	status_fast "after the attack"
	victim_check
	d_stop_fast
	a_stop
}

# E3: SO_PASSRIGHTS 0 on the listening socket (Linux 6.16+): the kernel
# refuses the attacker's sendmsg with EPERM; its connection is still served.
t_fd_passing_refused() {
	setup
	d_start
	grep -q 'descriptors from clients: refused by the kernel' "$D_LOG" ||
		skip "this kernel has no SO_PASSRIGHTS (Linux 6.16+)"
	configure
	fd_passing refused
	finish
}

# E3 without SO_PASSRIGHTS (XSNAPD_NO_PASSRIGHTS=1, as on a kernel before
# 6.16): the descriptor reaches the daemon; the message is a framing error
# that disconnects the attacker, and the closer thread, not the loop,
# closes the socket, abortively (its peer sees a reset at once, not the
# lingering close of a minute).
t_fd_passing_closer() {
	setup
	D_ENV=XSNAPD_NO_PASSRIGHTS=1 d_start
	grep -q 'descriptors from clients: disconnect' "$D_LOG" || fail "not in the fallback mode"
	configure
	fd_passing closed
	grep -q 'a message carries descriptors: disconnecting' "$D_LOG" ||
		fail "xsnapd did not log the disconnect"
	finish
}

# C8/E7: one uid floods the daemon with connections: its 17th is refused
# (EUSERS, the message names the limit, the daemon logs it), while another
# uid and root still connect.
t_conn_flood_one_uid() {
	daemon_up
	victim_start beta 9001
	a_start "$D_DIR/attack.log" -m connflood -n 16 \
		-e 'too many clients: uid 65534 has 16 connections to xsnapd, its limit'
	a_verdict
	status_fast "with uid 65534 at its limit"
	lab_exec "$LAB_NS_RX" setpriv --reuid=$((NOBODY - 1)) --regid="$NOBODY" --clear-groups \
		"$XSNAPCTL" -S "$D_SOCK" status >/dev/null || fail "another uid cannot connect"
	grep -q 'uid 65534 refused: too many clients: uid 65534 has 16 connections' "$D_LOG" ||
		fail "xsnapd did not log the refusal"
	victim_check
	status_fast "after the attack"
	d_stop_fast
	a_stop
	finish
}

# C8/E7: with no per-uid limit to stop it (--max-conns-per-uid 240), one
# uid gets every slot but the last 16: those are root's and the admin
# group's, so root still connects; root alone may take the last ones.
t_reserved_slots() {
	setup
	d_start --max-conns-per-uid 240
	configure
	victim_start beta 9001
	# the victim's consumer (root) holds one slot
	a_start "$D_DIR/attack.log" -m connflood -n 239 \
		-e 'the last 16 of xsnapd'"'"'s 256 connection slots are kept for root'
	a_verdict
	status_fast "with every unreserved slot taken"
	local pid=$A_PID log=$A_LOG
	a_start --root "$D_DIR/root.log" -m connflood -n 16 \
		-e 'too many clients: xsnapd serves at most 256 connections'
	a_verdict
	a_stop
	A_PID=$pid A_LOG=$log
	status_fast "after root gave back the reserved slots"
	victim_check
	d_stop_fast
	a_stop
	finish
}

# C8/E7: one uid opens client sockets (each costs the daemon 4 descriptors),
# 32 per connection, until refused: its limit (--max-socks-per-uid 48) stops
# it on its second connection; root still opens sockets.
t_socket_cap_per_uid() {
	setup
	d_start --max-socks-per-uid 48
	grep -q 'descriptors: RLIMIT_NOFILE [0-9]*, up to 1024 client sockets' "$D_LOG" ||
		{ show "$D_LOG"; fail "xsnapd did not size its sockets from RLIMIT_NOFILE"; }
	configure
	victim_start beta 9001
	a_start "$D_DIR/attack.log" -m sockflood -t alpha -n 48 \
		-e 'uid 65534 has 48 sockets open in xsnapd, its limit (xsnapd --max-socks-per-uid)'
	a_verdict
	assert_eq "$(tstat alpha sockets)" 48 "alpha's sockets in xsnapd"
	status_fast "with uid 65534 at its socket limit"
	c_start "$D_DIR/root.log" -t alpha -s 4
	c_stop "$C_PID" || { show "$D_DIR/root.log"; fail "root's consumer could not open sockets"; }
	victim_check
	d_stop_fast
	a_stop
	finish
}

_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
# utime + stime of PID, in clock ticks
_cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
_hammered() { grep -q 'fdexhaust: hammer' "$A_LOG"; }
_accepts_again() { ctl status >/dev/null && grep -q 'accepting connections again' "$D_LOG"; }

# C8/E4: the daemon runs out of descriptors (its limit lowered under it to
# what it uses plus 24): an attacker takes the rest with connections and
# sockets, then keeps connecting.  accept() fails with EMFILE with a
# connection pending: the loop must not spin on the readable listening
# socket (its CPU time is measured), the attacker's connections are
# refused with a reason (the spare descriptor takes them), root still gets
# its status, the episode is logged once, and accepting resumes when the
# attacker leaves.  A second attacker then holds the descriptors while
# the daemon is stopped.
t_fd_exhaustion() {
	daemon_up
	victim_start beta 9001 16000 2000
	local used lim c0 c1 t0 ms tck pct
	used=$(_fds "$D_PID")
	lim=$((used + 24))
	prlimit --pid "$D_PID" --nofile=$lim:$lim
	echo "xsnapd uses $used descriptors; RLIMIT_NOFILE lowered to $lim" >&2
	a_start "$D_DIR/attack.log" -m fdexhaust -t alpha -T 3
	c0=$(_cpu "$D_PID")
	t0=$(_lab_now_us)
	status_fast "while out of descriptors"
	wait_for 20 _hammered || { show "$A_LOG"; fail "the attacker did not finish its round"; }
	c1=$(_cpu "$D_PID")
	ms=$((($(_lab_now_us) - t0) / 1000))
	tck=$(getconf CLK_TCK)
	pct=$(((c1 - c0) * 1000 * 100 / tck / ms))
	echo "xsnapd CPU while out of descriptors: $((c1 - c0)) ticks in $ms ms ($pct %)" >&2
	((pct < 30)) || fail "xsnapd used $pct % of a CPU while out of descriptors: it spins"
	a_verdict
	assert_eq "$(grep -c 'accept: Too many open files: refusing connections' "$D_LOG")" 1 \
		"episodes logged"
	status_fast "after the attacker's round"
	a_stop
	# its connections closed, descriptors are free: the next accept ends
	# the episode
	wait_for 10 _accepts_again || fail "xsnapd did not say it accepts again"
	status_fast "after the attack"
	a_start "$D_DIR/attack2.log" -m fdexhaust -t alpha -T 0
	a_verdict
	victim_check
	d_stop_fast
	a_stop
	finish
}

_alpha_logged() { (($(tstat alpha rx_frames) >= $1)); }

# E1/E5: `xsnapctl tenant del` revokes at once.  The attacker, a consumer of
# its own tenant alpha, holds 50 frames and leaves 150 more in the log when
# root deletes alpha: its next recv fails with ENOENT without draining
# them, its handle is stale, and the daemon released all it held (frames
# conserved).  alpha's quota and slot are free at once: gamma, which fits
# in this UMEM only with alpha's quota back, is added right after in slot
# 0, with a log region of its own (another memfd), and its consumer gets
# exactly its own stream, in order, nothing of alpha's; and a pool of its
# own (another memfd: alpha's consumer still has alpha's mapped writable).
t_tenant_del_revokes() {
	setup
	d_start
	# 4096 frames: 2048 for the rings, 2048 for quotas (alpha and beta)
	configure --frames 4096
	victim_start beta 9001 12000 2000
	a_start "$D_DIR/attack.log" -m holddel -t alpha -n 50
	xs_gen -q --stream 1 --dport 9000 -n 200 -r 20000
	wait_for 10 _alpha_logged 200 || fail "alpha's frames did not reach its log"
	wait_for 10 grep -q 'holddel: holding 50 frames' "$A_LOG" ||
		{ show "$A_LOG"; fail "the attacker holds no frames"; }
	status_fast "before the delete"
	ctl tenant del alpha
	a_verdict 10
	grep -q 'tenant alpha: deleted, 1 client socket(s) revoked' "$D_LOG" ||
		fail "xsnapd did not revoke alpha's socket"
	check_conservation
	ctl tenant add gamma --quota 1024 --uid "$NOBODY" ||
		fail "alpha's quota was not freed at once"
	grep -q 'tenant gamma: added (slot 0,' "$D_LOG" || fail "alpha's slot 0 was not freed at once"
	ctl rule add gamma 'udp dst port 9000' --prio 10 >/dev/null
	local lg=$D_DIR/gamma.log pid=$A_PID log=$A_LOG ino_a ino_g
	a_start "$D_DIR/inode.log" -m loginode -t gamma
	a_verdict
	a_stop
	ino_a=$(sed -n 's/^holddel: log inode //p' "$log")
	ino_g=$(sed -n 's/^loginode: log inode \([0-9]*\);.*/\1/p' "$D_DIR/inode.log")
	echo "log regions: alpha's inode $ino_a, gamma's $ino_g" >&2
	[[ -n $ino_a && -n $ino_g && $ino_a != "$ino_g" ]] || fail "gamma got alpha's log region"
	# the attacker keeps its writable mapping of alpha's pool: gamma's is
	# another memfd, so nothing it writes reaches gamma
	ino_a=$(sed -n 's/^holddel: pool inode //p' "$log")
	ino_g=$(sed -n 's/^loginode: .*; pool inode \([0-9]*\)$/\1/p' "$D_DIR/inode.log")
	echo "pools: alpha's inode $ino_a, gamma's $ino_g" >&2
	[[ -n $ino_a && -n $ino_g && $ino_a != 0 && $ino_a != "$ino_g" ]] ||
		fail "gamma got alpha's pool"
	A_PID=$pid A_LOG=$log
	c_start "$lg" --as-nobody -t gamma
	xs_gen -q --stream 3 --dport 9000 -n 300 -r 20000
	wait_delivered gamma 300
	c_stop "$C_PID" || { show "$lg"; fail "gamma's consumer failed"; }
	show "$lg"
	assert_eq "$(field "$lg" frames)" 300 "gamma's frames (its own stream, nothing of alpha's)"
	assert_eq "$(field "$lg" seq_gaps)" 0 "gamma's sequence gaps"
	assert_eq "$(field "$lg" bad_payload)" 0 "gamma's payloads"
	assert_eq "$(field "$lg" first)" 0 "gamma's first payload"
	status_fast "after the delete"
	victim_check
	d_stop_fast
	a_stop
	finish
}

# nobody ARGS...: xsnapctl as uid/gid 65534, without capabilities.
nobody() {
	lab_exec "$LAB_NS_RX" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
		--inh-caps=-all --bounding-set=-all "$XSNAPCTL" -S "$D_SOCK" "$@"
}

_tenant_logged() { (($(tstat "$1" rx_frames) >= $2)); }

# E7: a client floods STATS (pipelined, as fast as its socket takes them).
# Its connection gets 50 at once, then 50 a second; it does not slow down
# anybody else: root, and the same uid on another connection, are answered
# within a second.
t_stats_flood() {
	daemon_up
	victim_start beta 9001 12000 2000
	a_start "$D_DIR/attack.log" -m statsflood -T 3
	status_fast "during the flood"
	local t0 ms answered took
	t0=$(_lab_now_us)
	nobody stats -j >/dev/null || fail "uid 65534's other connection was not answered"
	ms=$((($(_lab_now_us) - t0) / 1000))
	echo "uid 65534's stats on another connection during the flood: $ms ms" >&2
	((ms < 1000)) || fail "uid 65534's other connection waited $ms ms"
	a_verdict 20
	read -r answered took < <(sed -n 's/^statsflood: [0-9]* requests sent, \([0-9]*\) answered, 0 other replies in \([0-9]*\) ms$/\1 \2/p' "$A_LOG")
	[[ $answered =~ ^[0-9]+$ ]] || fail "no count from the attacker"
	echo "the flooder got $answered replies in $took ms (limit: 50 at once, then 50 a second)" >&2
	((answered <= 50 + 50 * took / 1000 + 5)) || fail "$answered replies in $took ms: not rate-limited"
	((answered >= 50 + 50 * took / 2000)) || fail "$answered replies in $took ms: starved"
	grep -q 'uid 65534: more than 50 requests a second: throttled' "$D_LOG" ||
		fail "xsnapd did not log the throttling"
	status_fast "after the flood"
	victim_check
	d_stop_fast
	a_stop
	finish
}

# E2: a client that is neither root nor in the admin group sees, of the
# tenants, only those it may consume (alpha: --uid 65534), with their rules,
# and totals summed over them; another tenant's stats are refused as if it
# did not exist.  Root sees both.
t_least_disclosure() {
	daemon_up
	victim_start beta 9001
	xs_gen -q --stream 1 --dport 9000 -n 300 -r 20000
	wait_for 10 _tenant_logged alpha 300 || fail "alpha's frames did not arrive"
	wait_for 10 _tenant_logged beta 1 || fail "beta's frames did not arrive"
	local st rc=0 out
	st=$(nobody status -j)
	assert_eq "$(jget "$st" '[t["name"] for t in j["tenants"]]')" "['alpha']" "tenants uid 65534 sees"
	assert_eq "$(jget "$st" '[r["tenant"] for r in j["rules"]]')" "['alpha']" "rules uid 65534 sees"
	assert_eq "$(jget "$st" 'len(j["interfaces"])')" 1 "interfaces uid 65534 sees"
	if nobody status | grep -q beta; then
		fail "beta shows in uid 65534's status text"
	fi
	st=$(nobody stats -j)
	assert_eq "$(jget "$st" 'list(j["tenants"])')" "['alpha']" "tenants in uid 65534's stats"
	assert_eq "$(jget "$st" 'j["total"]["rx_frames"]')" "$(jget "$st" 'j["tenants"]["alpha"]["rx_frames"]')" \
		"uid 65534's total rx_frames (alpha's only)"
	assert_eq "$(jget "$st" 'j["total"]["frames_total"]')" "$(tstat alpha frames_total)" \
		"interface-wide figures in uid 65534's total"
	out=$(nobody stats beta 2>&1) || rc=$?
	echo "  uid 65534: xsnapctl stats beta: $out" >&2
	assert_eq "$rc" 1 "uid 65534's stats of beta"
	grep -q 'no tenant beta' <<<"$out" || fail "beta's stats not refused as unknown"
	st=$(ctl stats -j)
	assert_eq "$(jget "$st" 'sorted(j["tenants"])')" "['alpha', 'beta']" "tenants root sees"
	(($(jget "$st" 'j["total"]["rx_frames"]') > 300)) || fail "root's total lacks beta's frames"
	status_fast "after the looks"
	victim_check
	d_stop_fast
	finish
}

# E2: a consumer writes lies into its control page (delivered 2^60, a
# release watermark at the end of time): its tenant's delivered figure is
# the daemon's (what its watermark passed, clipped to what was logged), and
# no other figure moves.
t_forged_counters() {
	daemon_up
	victim_start beta 9001
	a_start "$D_DIR/attack.log" -m forge -t alpha -n 300
	xs_gen -q --stream 1 --dport 9000 -n 300 -r 20000
	a_verdict 20
	local st
	st=$(ctl stats -j)
	assert_eq "$(jget "$st" 'j["tenants"]["alpha"]["delivered"]')" 300 "alpha's delivered"
	xs_gen -q --stream 1 --seq-start 300 --dport 9000 -n 200 -r 20000
	wait_for 10 _tenant_logged alpha 500 || fail "alpha's frames did not arrive"
	st=$(ctl stats -j)
	# the forged watermark passes everything logged since, and no more
	assert_eq "$(jget "$st" 'j["tenants"]["alpha"]["delivered"]')" 500 \
		"alpha's delivered after the forged watermark"
	assert_eq "$(jget "$st" 'j["total"]["delivered"] == sum(t["delivered"] for t in j["tenants"].values())')" \
		True "total delivered is the tenants' sum"
	status_fast "after the forgery"
	victim_check
	d_stop_fast
	a_stop
	finish
}

# E4: the notify-pipe attack: a consumer makes its end of the pipe blocking
# and one page small, never reads it and keeps saying it waits on it while
# its tenant's frames flow (one byte per engine run that logs some).  The
# daemon's end is its own, non-blocking open file: the pipe fills, and the
# daemon goes on.  Alpha's frames come at 5 000 a second (with the
# victim's, the rings hold about 150 ms of them: a host that stalls the
# daemon for less loses nothing; the victim's line shows the kernel's
# ring-full and fill-empty counts if it does).
t_notify_pipe_stall() {
	daemon_up
	victim_start beta 9001 12000 2000
	a_start "$D_DIR/attack.log" -m notifystall -t alpha -T 30
	local gen
	lab_bg "$LAB_NS_TX" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" --src "$LAB_IP_TX" \
		--dst "$LAB_IP_RX" -q --stream 1 --dport 9000 -n 300000 -r 5000 >/dev/null
	gen=$LAB_BG_PID
	status_fast "while the attacker's pipe fills"
	a_verdict 40
	status_fast "with the attacker's pipe full"
	xs_gen -q --stream 2 --dport 9000 -n 2000 -r 5000
	status_fast "after more of alpha's frames"
	lab_stop "$gen" 5 || true
	wait "$gen" 2>/dev/null || true
	victim_check
	d_stop_fast
	a_stop
	finish
}

# xsnap_scan's figures in LOG: _scans LOG: scans done; _found LOG K: scans
# that found marker K (1-based, in the order of its -s/-x options).
_scans() {
	local n
	n=$(sed -n 's/^scan \([0-9]*\) found.*/\1/p' "$1" | tail -n 1)
	echo "${n:-0}"
}
_found() {
	local f
	f=$(sed -n 's/^scan [0-9]* found //p' "$1" | tail -n 1 | awk -v k="$2" '{ print $k + 0 }')
	echo "${f:-0}"
}
_found_ge() { (($(_found "$1" "$2") >= $3)); }
_scans_ge() { (($(_scans "$1") >= $2)); }

# scan_more LOG N: wait until the scanner of LOG did N more scans.
scan_more() {
	local n
	n=$(_scans "$1")
	wait_for 10 _scans_ge "$1" $((${n:-0} + $2)) || { show "$1"; fail "the scanner stopped scanning"; }
}

# marker_frames STREAM SEQ0: 200 frames of 256 bytes of xsnap-gen stream
# STREAM (from SEQ0) to udp port 9002 on the first interface, and of stream
# STREAM+1 on the second: gamma's traffic, whose payloads carry the markers
# (gamma's consumer reads the first interface; on the second its frames
# stay in its log).
marker_frames() {
	xs_gen -q -s 256 --stream "$1" --seq-start "$2" --dport 9002 -n 200 -r 20000
	gen2 -q -s 256 --stream $(($1 + 1)) --seq-start "$2" --dport 9002 -n 200 -r 20000
}

# E1: confidentiality of private views.  alpha (uid 65534, the daemon's
# default private view) runs xsnap_scan on both attached interfaces: it
# maps every descriptor the daemon hands a socket of alpha, also through
# its own raw requests, and searches every mapping for gamma's payload
# markers (streams 7 and 8, one per interface) while gamma's traffic flows:
# none may be found, while its socket is open, after it closed its sockets
# and connection (SIGUSR1; it keeps the mappings), and after
# `xsnapctl tenant del alpha`.  The scanner's own traffic (streams 5, 6 to
# port 9000) must be found in its mappings each time it flows: the scan
# reads the memory the frames land in (and orders the phases).  Positive
# control: delta, on the shared view (--view shared) with the same uid,
# finds both of gamma's markers with the same scanner.
t_confidential_views() {
	setup
	second_pair
	d_start
	configure
	ctl attach "$IF2_RX"
	ctl tenant add gamma --quota 1024
	ctl tenant add delta --quota 512 --uid "$NOBODY" --view shared
	ctl rule add gamma 'udp dst port 9002' --prio 10 >/dev/null
	ctl rule add delta 'udp dst port 9003' --prio 10 >/dev/null
	local st
	st=$(ctl status -j)
	assert_eq "$(jget "$st" '[v["readers"] for v in j["views"] if v["kind"] == "shared"]')" \
		"[['delta']]" "readers of the shared receive region"
	victim_start beta 9001 12000 2000
	local glog=$D_DIR/gamma.log gpid dpid dlog
	c_start "$glog" -t gamma
	gpid=$C_PID
	A_BIN=$SCAN a_start "$D_DIR/delta-scan.log" -t delta -i "$LAB_IF_RX" -i "$IF2_RX" -s 7 -s 8
	dpid=$A_PID dlog=$A_LOG
	A_BIN=$SCAN a_start "$D_DIR/scan.log" -t alpha -i "$LAB_IF_RX" -i "$IF2_RX" \
		-s 7 -s 8 -s 5 -s 6
	status_fast "with the scanners running"

	# 1: sockets open
	marker_frames 7 0
	wait_for 10 _tenant_logged gamma 400 || fail "gamma's frames did not arrive"
	xs_gen -q -s 256 --stream 5 --dport 9000 -n 50 -r 20000
	wait_for 10 _found_ge "$A_LOG" 3 1 || { show "$A_LOG"; fail "alpha's scan missed its own frames"; }
	wait_for 10 _found_ge "$dlog" 1 1 || { show "$dlog"; fail "control: delta (shared) did not see gamma's marker 7"; }
	wait_for 10 _found_ge "$dlog" 2 1 || { show "$dlog"; fail "control: delta (shared) did not see gamma's marker 8"; }
	assert_eq "$(_found "$A_LOG" 1),$(_found "$A_LOG" 2)" 0,0 "scans in which alpha found gamma's markers (sockets open)"

	# 2: sockets and connection closed, mappings kept
	kill -USR1 "$A_PID"
	wait_for 10 grep -q 'closed its sockets' "$A_LOG" || { show "$A_LOG"; fail "the scanner did not close"; }
	marker_frames 7 200
	wait_for 10 _tenant_logged gamma 800 || fail "gamma's frames did not arrive"
	xs_gen -q -s 256 --stream 6 --dport 9000 -n 50 -r 20000
	wait_for 10 _found_ge "$A_LOG" 4 1 || { show "$A_LOG"; fail "alpha's scan missed its own later frames"; }
	assert_eq "$(_found "$A_LOG" 1),$(_found "$A_LOG" 2)" 0,0 "scans in which alpha found gamma's markers (sockets closed)"

	# 3: alpha deleted; its mappings still held
	ctl tenant del alpha
	marker_frames 7 400
	wait_for 10 _tenant_logged gamma 1200 || fail "gamma's frames did not arrive"
	wait_delivered gamma 600
	scan_more "$A_LOG" 5
	assert_eq "$(_found "$A_LOG" 1),$(_found "$A_LOG" 2)" 0,0 "scans in which alpha found gamma's markers (tenant deleted)"
	echo "alpha's scanner: $(tail -n 1 "$A_LOG"); delta's: $(tail -n 1 "$dlog")" >&2
	status_fast "after the scans"
	c_stop "$gpid" || { show "$glog"; fail "gamma's consumer failed"; }
	# its consumer's socket is on the first interface (the second
	# interface's frames stay in gamma's log there)
	assert_eq "$(field "$glog" frames)" 600 "gamma's frames"
	assert_eq "$(field "$glog" bad_payload)" 0 "gamma's bad payloads"
	victim_check
	d_stop_fast
	a_stop
	A_PID=$dpid A_LOG=$dlog
	a_stop
	finish
}

# text_has TEXT REGEX WHAT: fail unless a line of `xsnapctl status` TEXT
# matches REGEX.
text_has() { grep -q "$2" <<<"$1" || fail "status text: no line for $3"; }

# _same_chunks A B: the frames both consumer id files (xsnap_dclient -I)
# name, each in the same chunk in both; prints "common same".
_same_chunks() {
	awk 'NR == FNR { id[$1 " " $2] = $3; next }
	     ($1 " " $2) in id { n++; if (id[$1 " " $2] == $3) same++ }
	     END { print n + 0, same + 0 }' "$1" "$2"
}

# E1: a private view shared by a group of tenants (--view grp) is zero-copy
# inside the group: two tenants of the group with the same rule receive
# each frame in the same chunk of the group's region, which the engine
# filled once per frame (view_copies counts frames, not readers); a tenant
# on a private view of its own, with the same rule, gets its own copy.
# status says who reads each view.
t_group_view_fanout() {
	setup
	d_start
	ctl attach "$LAB_IF_RX"
	ctl tenant add g1 --quota 1024 --view grp
	ctl tenant add g2 --quota 1024 --view grp
	ctl tenant add solo --quota 1024
	local t
	for t in g1 g2 solo; do
		ctl rule add "$t" 'udp dst port 9000' --prio 10 >/dev/null
	done
	local st
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'sorted((v["kind"], v["view"], sorted(v["readers"])) for v in j["views"])')" \
		"[('group', 'grp', ['g1', 'g2']), ('private', 'solo', ['solo'])]" "views and their readers"
	st=$(ctl status)
	text_has "$st" '^  group grp: copies of its tenants.* read by: g1 g2$' "view grp read by g1 g2"
	text_has "$st" "^  private (solo's own): copies of its frames only, read by: solo$" \
		"solo's private view"
	local pids=() i
	for t in g1 g2 solo; do
		c_start "$D_DIR/$t.log" -t "$t" -I "$D_DIR/$t.ids"
		pids+=("$C_PID")
	done
	local c0
	c0=$(tstat g1 view_copies)
	xs_gen -q -s 256 --stream 4 --dport 9000 -n 500 -r 20000
	for t in g1 g2 solo; do
		wait_delivered "$t" 500
	done
	i=0
	for t in g1 g2 solo; do
		c_stop "${pids[i++]}" || { show "$D_DIR/$t.log"; fail "$t's consumer failed"; }
		assert_eq "$(field "$D_DIR/$t.log" frames)" 500 "$t's frames"
		assert_eq "$(field "$D_DIR/$t.log" seq_gaps)" 0 "$t's sequence gaps"
		assert_eq "$(field "$D_DIR/$t.log" bad_payload)" 0 "$t's bad payloads"
	done
	assert_eq "$(_same_chunks "$D_DIR/g1.ids" "$D_DIR/g2.ids")" "500 500" \
		"frames g1 and g2 both got, and of those in the same chunk"
	st=$(ctl stats -j)
	assert_eq "$(($(jget "$st" 'j["tenants"]["g1"]["view_copies"]') - c0))" 500 "copies into grp (one per frame)"
	assert_eq "$(jget "$st" 'j["tenants"]["g2"]["view_copies"] == j["tenants"]["g1"]["view_copies"]')" True \
		"g1 and g2 count the same copies (one view)"
	assert_eq "$(jget "$st" 'j["tenants"]["solo"]["view_copies"]')" 500 "copies into solo's own view"
	d_detach
	d_stop
	finish
}

# gen_on CPU ARGS...: xsnap-gen on the first pair, pinned to CPU: AF_PACKET
# on a veth picks the transmit queue, hence the peer's rx queue, from the
# sending CPU (test_daemon.sh multiqueue), so its frames arrive on rx queue
# CPU.
gen_on() {
	local cpu=$1
	shift
	lab_exec "$LAB_NS_TX" taskset -c "$cpu" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" \
		--src "$LAB_IP_TX" --dst "$LAB_IP_RX" "$@"
}

_rxq_xdp() {
	lab_exec "$LAB_NS_RX" ethtool -S "$LAB_IF_RX" | awk -v q="rx_queue_${1}_xdp_packets:" '$1 == q { print $2 }'
}

# E1 without a copy: queue groups.  A two-queue veth attached with
# --queue-groups 2 gives each queue receive memory of its own.  alpha (uid
# 65534) and gamma, both on the shared view and with the same rule, are
# pinned to groups 1 (queue 0) and 2 (queue 1).  alpha's frames (stream 5)
# are sent from CPU 0, so they arrive on queue 0; gamma's (stream 7) from
# CPU 1, on queue 1.  Each tenant receives exactly its own frames (the
# program tags by queue: XDP's per-tenant counts say so), nothing is copied
# (view_copies 0), and a scanner of each tenant, mapping every descriptor
# the daemon hands it, finds its own marker and never the other's, also
# after `tenant del alpha`.  A shared-view tenant pinned to no group is
# refused a socket, with the remedy.  status shows the groups and who reads
# each part of the receive region.
t_queue_groups() {
	setup --queues 2
	d_start
	ctl attach "$LAB_IF_RX" --queue-groups 2
	ctl tenant add alpha --quota 1024 --uid "$NOBODY" --view shared --queue-group 1
	ctl tenant add gamma --quota 1024 --view shared --queue-group 2
	ctl tenant add loose --quota 512 --uid "$NOBODY" --view shared
	ctl tenant add beta --quota 1024
	ctl rule add alpha 'udp dst port 9000' --prio 10 >/dev/null
	ctl rule add gamma 'udp dst port 9000' --prio 10 >/dev/null
	ctl rule add beta 'udp dst port 9001' --prio 10 >/dev/null
	local st l=$D_DIR/loose.log rc=0 apid alog gpid glog q0 q1
	st=$(ctl status -j)
	assert_eq "$(jget "$st" '(j["interfaces"][0]["queue_groups"], [q["group"] for q in j["interfaces"][0]["queues"]])')" \
		"(2, [1, 2])" "the interface's queue groups"
	assert_eq "$(jget "$st" 'sorted((str(v["queue_group"]), v["readers"]) for v in j["views"] if v["kind"] == "shared")')" \
		"[('1', ['alpha']), ('2', ['gamma']), ('None', ['loose'])]" "readers of each part of the receive region"
	st=$(ctl status)
	text_has "$st" '^  queue groups (receive memory of their own): 1: queue 0, 2: queue 1$' \
		"the queue groups"
	text_has "$st" '^  shared, queue group 1 (.*read by: alpha$' "queue group 1 read by alpha"
	# a group the interface does not have: refused, naming the range
	local out
	out=$(ctl tenant add nope --queue-group 3 2>&1) && fail "queue group 3 of 2 accepted"
	grep -q "queue group 3: $LAB_IF_RX has 2 (1..2" <<<"$out" || { echo "$out" >&2; fail "bad queue group: unclear error"; }
	# unpinned on a split interface: refused, naming the remedy
	c_start "$l" --as-nobody -t loose
	wait "$C_PID" || rc=$?
	show "$l"
	assert_eq "$rc" 5 "loose's consumer exit status (socket refused)"
	grep -q 'split into 2 groups: pin it to one' "$l" || fail "refusal does not name the remedy"

	victim_start beta 9001 4000 2000
	A_BIN=$SCAN a_start "$D_DIR/alpha-scan.log" -t alpha -s 5 -s 7
	apid=$A_PID alog=$A_LOG
	A_BIN=$SCAN a_start --root "$D_DIR/gamma-scan.log" -t gamma -s 7 -s 5
	gpid=$A_PID glog=$A_LOG
	status_fast "with the scanners running"
	gen_on 0 -q -s 256 --stream 5 --dport 9000 -n 300 -r 20000
	gen_on 1 -q -s 256 --stream 7 --dport 9000 -n 300 -r 20000
	wait_for 10 _tenant_logged gamma 300 || fail "gamma's frames did not arrive"
	wait_for 10 _found_ge "$alog" 1 1 || { show "$alog"; fail "alpha's scan missed its own frames"; }
	wait_for 10 _found_ge "$glog" 1 1 || { show "$glog"; fail "gamma's scan missed its own frames"; }
	scan_more "$alog" 5
	scan_more "$glog" 5
	assert_eq "$(_found "$alog" 2)" 0 "scans in which alpha found gamma's marker"
	assert_eq "$(_found "$glog" 2)" 0 "scans in which gamma found alpha's marker"
	q0=$(_rxq_xdp 0) q1=$(_rxq_xdp 1)
	echo "XDP frames per rx queue: 0: $q0, 1: $q1" >&2
	assert_ge "$q0" 300 "frames on queue 0"
	assert_ge "$q1" 300 "frames on queue 1"
	st=$(ctl stats -j)
	assert_eq "$(jget "$st" '[j["tenants"][t][k] for t in ("alpha", "gamma") for k in ("xdp_tenant_frames", "rx_frames", "view_copies")]')" \
		"[300, 300, 0, 300, 300, 0]" "alpha's and gamma's XDP tags, frames logged and copies"

	# alpha deleted, its scanner keeps its mappings: gamma's frames stay out
	ctl tenant del alpha
	gen_on 1 -q -s 256 --stream 7 --seq-start 300 --dport 9000 -n 300 -r 20000
	wait_for 10 _tenant_logged gamma 600 || fail "gamma's later frames did not arrive"
	scan_more "$alog" 5
	assert_eq "$(_found "$alog" 2)" 0 "scans in which alpha found gamma's marker (tenant deleted)"
	echo "alpha's scanner: $(tail -n 1 "$alog"); gamma's: $(tail -n 1 "$glog")" >&2
	status_fast "after the scans"
	victim_check
	d_stop_fast
	a_stop
	A_PID=$apid A_LOG=$alog
	a_stop
	finish
}

lab_main "$@"
