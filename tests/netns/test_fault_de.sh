#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Rows of the fault matrix (tests/matrix.txt, TESTING.md groups D and E)
# that no other script covers: environment and lifecycle faults around
# xsnapd, and tenants that misbehave towards the daemon.  Every test builds
# its own lab and daemon (tests/lib/xsnapd.sh) and removes both; lab_main
# checks afterwards that nothing is left attached, pinned or leaked.  Tests
# aimed at one tenant run a victim stream to the other one (victim_start /
# victim_check) and assert it lost and corrupted nothing.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"
# shellcheck source=../lib/xsnapd.sh
source "$LIB/xsnapd.sh"

xdp_progs() { lab_exec "$LAB_NS_RX" ip -d link show dev "$LAB_IF_RX" | grep -c 'prog/xdp' || true; }

# gen_on_cpu CPU ARGS...: xsnap-gen pinned to CPU (on veth the sending CPU
# picks the peer's rx queue, design.md "Multi-queue veth").
gen_on_cpu() {
	local cpu=$1
	shift
	lab_exec "$LAB_NS_TX" taskset -c "$cpu" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" \
		--src "$LAB_IP_TX" --dst "$LAB_IP_RX" -q "$@"
}

# D2: an in-process xsnap context holds the interface's bpf_link; the
# daemon's attach is refused with EBUSY naming the program, and the first
# owner keeps working.
t_d2_second_link_owner() {
	setup
	local lc=$D_DIR/consumer.log
	xs_consumer_start "$lc" -t a -r 'a:1:udp dst port 9000' -c a
	d_start
	ctl_err 1 'another XDP program \(id [0-9]+ "xsnap_steer", native mode\) is attached' \
		attach "$LAB_IF_RX"
	assert_eq "$(xdp_progs)" 1 "XDP programs on $LAB_IF_RX"
	ctl status | grep -q 'no interface attached' || fail "a half attach is left in status"
	xs_gen -q --stream 1 --dport 9000 -n 200 -r 20000
	xs_consumer_stop || { show "$lc"; fail "the first owner's consumer failed"; }
	assert_eq "$(xs_field "$lc" 'consumer 0' frames)" 200 "the first owner still receives"
	# once it is gone, the daemon attaches
	ctl attach "$LAB_IF_RX"
	d_detach
	d_stop
	finish
}

# D4: veth has no zero-copy AF_XDP (E4): required, it fails naming the
# remedy (and, where the kernel reports XDP features, Linux 6.3 on, the
# reason, before anything is attached); by default the daemon runs copy
# mode and says so everywhere, and why: the driver, or zerocopy off.
t_d4_zerocopy_veth() {
	setup
	d_start
	local st
	ctl_err 1 'zero-copy requested but the driver does not support it \(use zerocopy auto or off\)' \
		attach "$LAB_IF_RX" --zerocopy on
	if netdev_family; then
		ctl_err 1 'veth has no XSK zero-copy \(the XDP features the kernel reports' \
			attach "$LAB_IF_RX" --zerocopy on
	fi
	assert_eq "$(xdp_progs)" 0 "XDP programs after the refused attach"
	ctl attach "$LAB_IF_RX" --zerocopy auto
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["zerocopy"]')" False "status -j zerocopy"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["copy_reason"]')" "driver has no XSK zero-copy" \
		"status -j copy_reason (auto)"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["queues"][0]["zerocopy"]')" False "queue 0 zerocopy"
	ctl status | grep -q 'XDP, copy mode (driver has no XSK zero-copy)' ||
		fail "status text does not say copy mode for want of driver support"
	assert_eq "$(jget "$(ctl stats -j)" 'j["total"]["zerocopy"]')" 0 "stats -j zerocopy"
	d_detach
	ctl attach "$LAB_IF_RX" --zerocopy off
	assert_eq "$(jget "$(ctl status -j)" 'j["interfaces"][0]["copy_reason"]')" "zero-copy not requested" \
		"status -j copy_reason (off)"
	ctl status | grep -q 'XDP, copy mode (zero-copy not requested)' ||
		fail "status text does not say zero-copy was not requested"
	d_detach
	d_stop
	finish
}

# D5: a queue id beyond the interface's queues: the error gives the valid
# range (E5), on a two-queue veth too.
t_d5_queue_out_of_range() {
	setup --queues 2
	d_start
	ctl_err 1 'queues 2\.\.2 out of range: the interface has 2 rx queues \(0\.\.1\)' \
		attach "$LAB_IF_RX" --queues 2
	ctl_err 1 'queues 1\.\.4 out of range: the interface has 2 rx queues \(0\.\.1\)' \
		attach "$LAB_IF_RX" --queues 1-4
	assert_eq "$(xdp_progs)" 0 "XDP programs after the refused attaches"
	d_stop
	finish
}

_stats_no_socket() {
	(($(jget "$(ctl stats -j)" 'j["total"]["xdp"]["no_socket"]') >= $1))
}

# D6: only queue 0 of a two-queue veth bound; frames that land on queue 1
# are counted by the XDP program (no_socket) and stats warns about them,
# while queue 0's frames are delivered.
t_d6_unbound_queue() {
	setup --queues 2
	d_start
	configure --queues 0
	local la=$D_DIR/a.log pa out
	c_start "$la" -t alpha
	pa=$C_PID
	gen_on_cpu 1 --stream 1 --dport 9000 -n 300 -r 20000
	gen_on_cpu 0 --stream 2 --dport 9000 -n 200 -r 20000
	wait_delivered alpha 200
	wait_for 5 _stats_no_socket 300 || fail "frames on the unbound queue not counted"
	out=$(ctl stats)
	echo "$out" >&2
	grep -q '^warning: 300 frames matched a rule on an rx queue without an AF_XDP socket' \
		<<<"$out" || fail "stats does not warn about the unbound queue"
	c_stop "$pa" || { show "$la"; fail "consumer failed"; }
	assert_eq "$(field "$la" frames)" 200 "frames from the bound queue"
	d_detach
	d_stop
	finish
}

_ethtool_rx() {
	lab_exec "$LAB_NS_RX" ethtool -l "$LAB_IF_RX" | sed -n '/^Current/,$p' | awk '/^RX:/ { print $2 }'
}

# D7: shrinking the channels under bound AF_XDP sockets is refused by the
# kernel (E8); the daemon is unaffected; after detach the shrink works (once
# the kernel has released the buffer pools, within a moment).
t_d7_ethtool_shrink_bound() {
	setup --queues 2
	d_start
	configure
	local la=$D_DIR/a.log rc=0
	c_start "$la" -t alpha
	if lab_exec "$LAB_NS_RX" ethtool -L "$LAB_IF_RX" rx 1 tx 1 2>"$D_DIR/ethtool.err"; then
		fail "ethtool -L shrank the channels under bound sockets"
	fi
	show "$D_DIR/ethtool.err"
	assert_eq "$(_ethtool_rx)" 2 "rx channels after the refused shrink"
	kill -0 "$D_PID" || fail "xsnapd died"
	feed_alpha 300
	c_stop "$C_PID" || { show "$la"; fail "consumer failed"; }
	assert_eq "$(field "$la" frames)" 300 "frames after the refused shrink"
	d_detach
	# the kernel lets go of a queue's AF_XDP buffer pool in a work item
	# after the last socket closes (xp_release_deferred): the shrink is
	# refused until it ran, so wait for it, bounded
	wait_for 5 lab_exec "$LAB_NS_RX" ethtool -L "$LAB_IF_RX" rx 1 tx 1 2>"$D_DIR/ethtool.err" ||
		rc=$?
	show "$D_DIR/ethtool.err"
	assert_eq "$rc" 0 "ethtool -L within 5 s of detach"
	assert_eq "$(_ethtool_rx)" 1 "rx channels after detach and shrink"
	d_stop
	finish
}

_daemon_saw_removal() { grep -q "$LAB_IF_RX: interface removed" "$D_LOG"; }

# D10: the namespace at the other end of the veth is deleted with tenants
# live: the pair goes with it, and the daemon handles it as D9 (interface
# removed, consumers get ENETDOWN, daemon alive).  Then the daemon's own
# namespace loses its name: the daemon lives on and still serves.
t_d10_netns_deleted() {
	daemon_with_alpha
	local la=$A_LOG pa=$A_PID
	feed_alpha 200
	ip netns del "$LAB_NS_TX"
	wait_for 20 _daemon_saw_removal || fail "xsnapd did not notice the interface going"
	c_recv_fails "$pa" "$la" ENETDOWN 'Network is down' "after the namespace was deleted"
	kill -0 "$D_PID" || fail "xsnapd died"
	assert_eq "$(jget "$(ctl status -j)" 'j["interfaces"][0]["state"]')" gone "status -j state"
	check_conservation
	ip netns del "$LAB_NS_RX"
	ctl status >/dev/null || fail "xsnapd stopped serving when its namespace lost its name"
	d_detach
	d_stop
	finish
}

# _ctl_killed_at STEP ARGS...: xsnapctl ARGS, stopped by its test hook
# right after it sent request STEP (XSNAPCTL_TEST_STOP), then SIGKILLed:
# a CLI that dies at a known point of its conversation with the daemon.
_ctl_killed_at() {
	local step=$1 pid _stopped
	shift
	XSNAPCTL_TEST_STOP=$step "$XSNAPCTL" -S "$D_SOCK" "$@" >/dev/null 2>&1 &
	pid=$!
	_stopped() { [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == T ]]; }
	wait_for 10 _stopped || { kill -KILL "$pid" 2>/dev/null; fail "xsnapctl $*: not stopped after $step"; }
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
}

# D13: an attach that fails after the program was loaded (a tenant that
# does not fit the new interface's receive region, found while replaying
# the tenants) leaves nothing: no program, no pins, no status entry, and
# no BPF object (the leak check after the test).  The attach is the
# daemon's transaction, so a CLI killed mid-attach leaves no half state
# either: killed once connected (HELLO answered, ATTACH not sent), nothing
# is attached; killed with its ATTACH sent and the reply unread, the daemon
# completes the attach, which is then whole (one program, status, detach).
t_d13_attach_fails_after_load() {
	setup
	d_start
	ctl tenant add big --quota 4096 --view shared
	ctl_err 1 'does not fit' attach "$LAB_IF_RX" --frames 4096
	assert_eq "$(xdp_progs)" 0 "XDP programs after the failed attach"
	lab_invariants || fail "pins left after the failed attach"
	ctl status | grep -q 'no interface attached' || fail "a half attach is left in status"
	ctl tenant del big
	_ctl_killed_at hello attach "$LAB_IF_RX"
	assert_eq "$(xdp_progs)" 0 "XDP programs after a CLI killed before its ATTACH"
	ctl status | grep -q 'no interface attached' || fail "status after a CLI killed before its ATTACH"
	_ctl_killed_at attach attach "$LAB_IF_RX"
	# the daemon reads a dead client's queued request before its hang-up
	_one_prog() { (($(xdp_progs) == 1)); }
	wait_for 10 _one_prog || fail "no XDP program after a CLI killed with its ATTACH sent"
	ctl status | grep -q "attached via bpf_link [0-9]* (program" ||
		fail "status after a CLI killed with its ATTACH sent: $(ctl status | head -1)"
	d_detach
	assert_eq "$(xdp_progs)" 0 "XDP programs after the detach"
	lab_invariants || fail "the detach left a program or pins"
	d_stop
	finish
}

# D14: xsnapd under `ip netns exec` without bpffs (E13): attach fails with
# the remedy, and nothing is attached.
t_d14_bpffs_missing() {
	setup
	lab_bg --log "$D_LOG" "$LAB_NS_RX" sh -c 'umount /sys/fs/bpf && exec "$@"' sh \
		"$XSNAPD" -S "$D_SOCK" -v >/dev/null
	D_PID=$LAB_BG_PID
	wait_for 10 "$XSNAPCTL" -S "$D_SOCK" status >/dev/null 2>&1 ||
		{ show "$D_LOG"; fail "xsnapd did not start"; }
	ctl_err 1 "bpffs not mounted at /sys/fs/bpf/xsnap: run 'mount -t bpf bpf /sys/fs/bpf'" \
		attach "$LAB_IF_RX"
	assert_eq "$(xdp_progs)" 0 "XDP programs after the refused attach"
	d_stop
	finish
}

# D15: the libxdp dispatcher is unavailable here (E2: no freplace); xsnap
# does not use it: one program through a bpf_link, and it works.  Status
# reports what the daemon asks the kernel at the request, checked against
# what ip and bpftool observe: the program the interface runs (ours, so no
# dispatcher in front), our link's id; and when the link is detached behind
# the daemon's back, status says so.
t_d15_single_program_reported() {
	daemon_up
	local st la=$D_DIR/a.log prog link
	prog=$(lab_exec "$LAB_NS_RX" ip -d link show dev "$LAB_IF_RX" |
		sed -n 's/.*prog\/xdp id \([0-9]*\) name xsnap_steer.*/\1/p')
	[[ -n $prog ]] || fail "ip link does not show xsnap_steer attached"
	link=$(bpftool -j link show | jq -r --argjson p "$prog" \
		'.[] | select(.prog_id == $p and .type == "xdp") | .id')
	[[ $link =~ ^[0-9]+$ ]] || fail "bpftool shows no XDP link of program $prog: '$link'"
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["prog_id"]')" "$prog" "status -j prog_id"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["if_prog_id"]')" "$prog" "status -j if_prog_id"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["link_id"]')" "$link" "status -j link_id"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["attach"]')" bpf_link "status -j attach"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["dispatcher"]')" none "status -j dispatcher"
	ctl status | grep -qF "attached via bpf_link $link (program $prog, the interface's only XDP program: no libxdp dispatcher)" ||
		fail "status text: $(ctl status | head -1)"
	c_start "$la" -t alpha
	feed_alpha 200
	c_stop "$C_PID" || { show "$la"; fail "consumer failed"; }
	assert_eq "$(field "$la" frames)" 200 "frames in single-program mode"
	# the link detached behind the daemon's back: status must see it
	bpftool link detach id "$link" || fail "bpftool link detach id $link"
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["attach"]')" none "status -j attach, link detached"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["if_prog_id"]')" 0 \
		"status -j if_prog_id, link detached"
	ctl status | grep -q 'NO bpf_link of ours' ||
		fail "status text after the detach: $(ctl status | head -1)"
	d_detach
	d_stop
	finish
}

LAB_TIMEOUT_d16_reattach_cycles=300
_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# D16 and D18 through the daemon: detach and attach again at once, CYCLES
# (default 20; test_steer open_close_100_cycles does 100 in-process) times, with a consumer each time: the queue is re-bound
# right after close (EBUSY retried), and the daemon's descriptors and
# memory stay flat (TESTING.md 10.3, invariant 3).
t_d16_reattach_cycles() {
	daemon_up
	local i n=${CYCLES:-20} fd0 fd1 rss0 rss1 la=$D_DIR/a.log
	d_detach
	ctl attach "$LAB_IF_RX"
	fd0=$(_fds "$D_PID") rss0=$(_rss "$D_PID")
	for ((i = 1; i <= n; i++)); do
		c_start "$la" -t alpha
		c_stop "$C_PID" || { show "$la"; fail "cycle $i: consumer failed"; }
		d_detach
		ctl attach "$LAB_IF_RX" || fail "cycle $i: attach right after detach failed"
	done
	fd1=$(_fds "$D_PID") rss1=$(_rss "$D_PID")
	echo "xsnapd after $n detach/attach cycles: fds $fd0 -> $fd1, rss $rss0 -> $rss1 kB" >&2
	assert_eq "$fd1" "$fd0" "xsnapd descriptors after $n cycles"
	if [[ ${SANITIZE:-0} != 1 ]]; then
		# ASan keeps freed memory in quarantine: its leak check is the test there
		((rss1 - rss0 <= 4096)) || fail "xsnapd RSS grew by $((rss1 - rss0)) kB in $n cycles"
	fi
	record_figure open_close_cycles "$n"
	c_start "$la" -t alpha
	feed_alpha 200
	c_stop "$C_PID" || { show "$la"; fail "consumer after the cycles failed"; }
	assert_eq "$(field "$la" frames)" 200 "frames after the cycles"
	d_detach
	d_stop
	finish
}

# D17: raising the peer's MTU while our non-frags program is attached in
# native mode is refused by veth (E12); the state is unchanged; after
# detach the change goes through.
t_d17_mtu_change_attached() {
	daemon_up --mode native
	local la=$D_DIR/a.log
	if lab_exec "$LAB_NS_TX" ip link set dev "$LAB_IF_TX" mtu 9000 2>"$D_DIR/mtu.err"; then
		fail "the peer MTU went to 9000 under a native non-frags program"
	fi
	show "$D_DIR/mtu.err"
	grep -q 'mtu 1500 ' <(lab_exec "$LAB_NS_TX" ip link show dev "$LAB_IF_TX") ||
		fail "the peer MTU changed"
	ctl status | grep -q 'native XDP' || fail "no longer attached in native mode"
	c_start "$la" -t alpha
	feed_alpha 200
	c_stop "$C_PID" || { show "$la"; fail "consumer failed"; }
	assert_eq "$(field "$la" frames)" 200 "frames after the refused MTU change"
	d_detach
	lab_exec "$LAB_NS_TX" ip link set dev "$LAB_IF_TX" mtu 9000 ||
		fail "MTU 9000 refused after detach"
	d_stop
	finish
}

_alpha_drops() { (($(tstat alpha quota_drops) > 0)); }

# E4: stalled clients: connections that never say HELLO, and a consumer
# stopped (SIGSTOP) while it holds frames.  The daemon never waits on a
# client: others are served; the stopped tenant drops its own frames only
# (its quota); killed, all it held is reclaimed.  The victim stream (beta)
# is intact.  xsnapd has no idle timeout: a silent connection costs one of
# MAX_CONNS (256) slots until it closes.
t_e4_stalled_client() {
	daemon_up
	victim_start beta 9001
	local i la=$D_DIR/a.log pa
	local -a idle=()
	for i in 1 2 3 4 5 6 7 8; do
		c_start "$D_DIR/idle.$i.log" -m idle
		idle+=("$C_PID")
	done
	c_start "$la" -t alpha -m hold
	pa=$C_PID
	kill -STOP "$pa"
	xs_gen -q --stream 1 --dport 9000 -n 3000 -r 20000
	wait_for 5 _alpha_drops || fail "the stalled tenant did not drop"
	ctl status >/dev/null || fail "xsnapd does not serve with stalled clients"
	assert_eq "$(tstat alpha held)" 1024 "the stalled tenant holds its quota, no more"
	check_conservation
	kill -KILL "$pa"
	wait "$pa" 2>/dev/null || true
	record_figure consumer_kills 1
	wait_for 5 _no_sockets alpha || fail "the stalled consumer's socket was not reclaimed"
	for i in "${idle[@]}"; do
		c_stop "$i" || true
	done
	# a connection that never says HELLO is dropped after 5 s (its slot
	# comes back), and nothing else notices
	local r
	r=$(lab_exec "$LAB_NS_RX" /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.settimeout(20)
t = time.monotonic()
print("eof" if s.recv(1) == b"" else "data", round(time.monotonic() - t))' "$D_SOCK") ||
		fail "the silent connection was not closed within 20 s"
	echo "silent connection: $r" >&2
	[[ $r == "eof 5" || $r == "eof 6" ]] || fail "silent connection: '$r', want eof after 5 s"
	grep -q "no HELLO within 5000 ms, disconnected" "$D_LOG" || fail "xsnapd did not log the drop"
	ctl status >/dev/null || fail "xsnapd does not serve after dropping the silent client"
	victim_check
	check_conservation
	d_detach
	d_stop
	finish
}

_no_sockets() { (($(tstat "$1" sockets) == 0)); }

# E6: protocol version skew.  An older or newer client is refused with a
# message naming both versions; a client talking to a daemon of another
# version (a fake one here) fails to connect with EPROTONOSUPPORT.
t_e6_version_skew() {
	setup
	d_start
	local v out rc pv
	pv=$("$XSNAPD" -V | sed -n 's/.*(protocol \([0-9]*\),.*/\1/p')
	[[ $pv =~ ^[0-9]+$ ]] || fail "xsnapd -V names no protocol version"
	for v in 0 $((pv - 1)) $((pv + 1)); do
		rc=0
		out=$(lab_exec "$LAB_NS_RX" "$DCLIENT" -S "$D_SOCK" -m version -n "$v") || rc=$?
		echo "  $out" >&2
		assert_eq "$rc" 0 "client of protocol version $v refused"
		grep -q "protocol version $v not supported (xsnapd speaks $pv)" <<<"$out" ||
			fail "the refusal does not name both versions"
	done
	ctl status >/dev/null || fail "xsnapd stopped serving"
	# the reverse: a daemon that speaks the next version answers our HELLO
	local fake=$D_DIR/fake.sock fl=$D_DIR/fake.log
	lab_bg --log "$fl" "$LAB_NS_RX" "$XS_PYTHON" -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(20)
c, _ = s.accept()
req = c.recv(65536)
length, ver, op, status, nfds = struct.unpack("<IHHiI", req[:16])
v = int(sys.argv[2])
body = struct.pack("<III", v, 0, 0)
c.send(struct.pack("<IHHiI", 16 + len(body), v, op, 0, 0) + body)
c.recv(1)' "$fake" $((pv + 1)) >/dev/null
	local fp=$LAB_BG_PID
	wait_for 10 test -S "$fake" || fail "fake daemon did not start"
	rc=0
	out=$(lab_exec "$LAB_NS_RX" "$DCLIENT" -S "$fake" -t alpha) || rc=$?
	echo "  $out" >&2
	assert_eq "$rc" 4 "connect to a daemon of another version"
	grep -q 'connect failed: Protocol not supported' <<<"$out" ||
		fail "not refused with EPROTONOSUPPORT"
	lab_stop "$fp" 2 || true
	d_stop
	finish
}

# E7: one tenant floods the daemon: snapshots and sockets until refused
# (per-socket and per-connection limits, EMFILE), then stats requests as
# fast as answered (50 a second: test_hostile stats_flood measures the
# rate).  Tenants cannot add rules (control verbs need root or the admin
# group: test_daemon uid_refused).  The victim stream is intact.
t_e7_flooding_tenant() {
	daemon_up
	victim_start beta 9001 6000 2000
	local lf=$D_DIR/flood.log rc=0
	xs_gen -q --stream 1 --dport 9000 -n 200 -r 20000
	c_start "$lf" --as-nobody -t alpha -m flood -n 200
	wait "$C_PID" || rc=$?
	show "$lf"
	assert_eq "$rc" 0 "the flooding tenant met its limits"
	grep -q '^flood: 16 snapshots open, then: Too many open files' "$lf" ||
		fail "snapshot limit per socket"
	grep -q '^flood: 63 more sockets, then: Too many open files' "$lf" ||
		fail "socket limit per connection"
	kill -0 "$D_PID" || fail "xsnapd died"
	victim_check
	assert_eq "$(tstat alpha sockets)" 0 "the flooder's sockets closed"
	check_conservation
	d_detach
	d_stop
	finish
}

# E8: a tenant whose clients may send only "ip src RX and udp src port 9003"
# (xsnapctl tenant add --tx-allow).  Its unprivileged client reflects a
# received datagram (conforming: sent, and captured on the peer byte for
# byte) and a copy with another source address (refused with EPERM, counted
# in tx_refused, never on the wire); then it floods refused batches, which
# its rate limit holds to 50 a second; the victim tenant is untouched.
t_e8_spoofed_tx_refused() {
	command -v tcpdump >/dev/null || skip "tcpdump not installed"
	daemon_up
	victim_start beta 9001 2000 2000
	ctl tenant add tx1 --quota 256 --uid "$NOBODY" \
		--tx-allow "ip src $LAB_IP_RX and udp src port 9003"
	ctl rule add tx1 'udp dst port 9003' --prio 10 >/dev/null
	ctl_err 1 "transmit rule 'udp port 99x'" tenant add tx2 --tx-allow 'udp port 99x'
	local ls=$D_DIR/send.log cap=$D_DIR/e8.pcap pc hex _one
	lab_bg --log "$D_DIR/tcpdump.log" "$LAB_NS_TX" tcpdump -i "$LAB_IF_TX" -U -n -w "$cap" \
		udp >/dev/null
	pc=$LAB_BG_PID
	wait_for 10 grep -q 'listening on' "$D_DIR/tcpdump.log" || fail "tcpdump did not start"
	c_start "$ls" --as-nobody -t tx1 -m txpolicy
	xs_gen -q --stream 1 --dport 9003 -n 1 -r 1000
	c_wait "$C_PID" "$ls" "transmit client hangs" 15
	assert_eq "$C_RC" 0 "spoofed refused, conforming sent"
	grep -q '^txpolicy: spoofed source: Operation not permitted$' "$ls" ||
		fail "spoofed frame not refused with EPERM"
	hex=$(sed -n 's/^txpolicy: frame //p' "$ls")
	[[ -n $hex ]] || fail "no frame printed"
	_one() { (($(/usr/bin/python3 "$LIB/pcapcmp.py" count-equal "$cap" "$hex") == 1)); }
	wait_for 5 _one || fail "the conforming frame is not on the wire, byte for byte"
	lab_stop "$pc" 5 || true
	assert_eq "$(/usr/bin/python3 "$LIB/pcapcmp.py" count-src4 "$cap" 10.199.0.77)" 0 \
		"frames with the spoofed source on the wire"
	# the flood of refused batches that followed: each costs a whole
	# request of the connection's rate limit (50 at once, then 50 a
	# second), so about 50 + 50 * seconds were answered (10% slack)
	local fl refused ms
	fl=$(grep '^txpolicy: flood of 32-frame batches: ' "$ls") || fail "no flood line"
	refused=$(sed -n 's/.*: \([0-9]*\) refused, 0 other in \([0-9]*\) ms$/\1/p' <<<"$fl")
	ms=$(sed -n 's/.*: \([0-9]*\) refused, 0 other in \([0-9]*\) ms$/\2/p' <<<"$fl")
	[[ -n $refused && -n $ms ]] || fail "flood: $fl"
	((refused <= 60 + 55 * ms / 1000)) ||
		fail "$refused refused batches answered in $ms ms: not rate-limited"
	assert_eq "$(jget "$(ctl stats -j)" 'j["tenants"]["tx1"]["tx_refused"]')" \
		$((1 + 32 * refused)) "tx_refused"
	assert_eq "$(jget "$(ctl stats -j)" 'j["tenants"]["beta"]["tx_refused"]')" 0 \
		"the victim's tx_refused"
	victim_check
	check_conservation
	d_detach
	d_stop
	finish
}

lab_main "$@"
