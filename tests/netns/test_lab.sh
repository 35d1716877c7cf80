#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Tests of the veth lab itself (scripts/lib/lab.sh): every other netns test
# trusts it to give working, isolated namespaces and to leave nothing behind.
# Run by tests/run.sh as `bash test_lab.sh NAME`; `--list` lists the names.
# shellcheck disable=SC2317,SC2119 # t_* run via lab_main; lab_down takes no args

LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/harness.sh
source "$LIB/harness.sh"

# Nothing named after a lab namespace is left: no name, no process in it, and
# no network namespace with its inode (which would keep its veth alive).
assert_ns_gone() {
	local ns=$1 inode=$2
	[[ ! -e /run/netns/$ns ]] || fail "namespace $ns still exists"
	if lsns -t net -n -o NS 2>/dev/null | grep -qx "$inode"; then
		fail "namespace $ns (inode $inode) still alive, held by a process"
	fi
}

ns_inode() { stat -L -c %i "/run/netns/$1"; }

t_lab_ping() {
	lab_up
	lab_exec "$LAB_NS_TX" ping -n -q -c 2 -i 0.2 -W 2 "$LAB_IP_RX" >/dev/null ||
		fail "IPv4 ping $LAB_IP_TX -> $LAB_IP_RX failed"
	lab_exec "$LAB_NS_RX" ping -n -q -c 2 -i 0.2 -W 2 "$LAB_IP_TX" >/dev/null ||
		fail "IPv4 ping $LAB_IP_RX -> $LAB_IP_TX failed"
	lab_exec "$LAB_NS_TX" ping -6 -n -q -c 2 -i 0.2 -W 2 "$LAB_IP6_RX" >/dev/null ||
		fail "IPv6 ping $LAB_IP6_TX -> $LAB_IP6_RX failed"
	lab_exec "$LAB_NS_RX" ping -6 -n -q -c 2 -i 0.2 -W 2 "$LAB_IP6_TX" >/dev/null ||
		fail "IPv6 ping $LAB_IP6_RX -> $LAB_IP6_TX failed"
	# Static neighbours: nothing had to be resolved.
	ip -n "$LAB_NS_TX" neigh show "$LAB_IP_RX" dev "$LAB_IF_TX" |
		grep -q "lladdr $LAB_MAC_RX PERMANENT" || fail "no permanent tx neighbour"
	ip -n "$LAB_NS_RX" -6 neigh show "$LAB_IP6_TX" dev "$LAB_IF_RX" |
		grep -q "lladdr $LAB_MAC_TX PERMANENT" || fail "no permanent rx IPv6 neighbour"
	# No tentative (DAD) address, VLAN offload off.
	[[ -z $(ip -n "$LAB_NS_RX" -6 addr show dev "$LAB_IF_RX" tentative) ]] ||
		fail "tentative IPv6 address on $LAB_IF_RX"
	lab_exec "$LAB_NS_RX" ethtool -k "$LAB_IF_RX" | grep -q '^rx-vlan-offload: off' ||
		fail "rx vlan offload still on"
	lab_exec "$LAB_NS_RX" ethtool -k "$LAB_IF_RX" | grep -q '^rx-vlan-stag-hw-parse: off' ||
		fail "rx 802.1ad vlan offload still on"
	lab_down
}

t_lab_cleanup() {
	unset LAB_KEEP
	local out tx rx state bpffs pid itx irx
	# shellcheck disable=SC2016 # expanded in the subshell
	out=$(
		lab_up >&2
		pid=$(lab_bg "$LAB_NS_RX" sleep 1000)
		lab_exec "$LAB_NS_TX" true
		echo "$LAB_NS_TX $LAB_NS_RX $LAB_STATE $LAB_BPFFS_TX $pid" \
			"$(ns_inode "$LAB_NS_TX") $(ns_inode "$LAB_NS_RX")"
		lab_down
	)
	read -r tx rx state bpffs pid itx irx <<<"$out"
	[[ -n $irx ]] || fail "lab did not come up: '$out'"
	assert_ns_gone "$tx" "$itx"
	assert_ns_gone "$rx" "$irx"
	[[ ! -e $state ]] || fail "state file $state left"
	! mountpoint -q "$bpffs" || fail "bpffs $bpffs still mounted"
	! lab_alive "$pid" || fail "background process $pid still running"
	lab_down # idempotent, and nothing of ours is left to remove
}

# A script that brings a lab up and exits 1, or is killed by SIGTERM, leaves
# nothing behind, keeps its exit status, and still runs its own EXIT trap.
t_lab_trap() {
	unset LAB_KEEP
	local out rc tx rx state pid itx irx
	# shellcheck disable=SC2016 # expanded by the child
	local child='
		source "$1"
		trap "echo own-trap-ran >&2" EXIT
		lab_up || exit 9
		pid=$(lab_bg "$LAB_NS_TX" sleep 1000)
		echo "$LAB_NS_TX $LAB_NS_RX $LAB_STATE $pid $(stat -L -c %i /run/netns/$LAB_NS_TX)" \
			"$(stat -L -c %i /run/netns/$LAB_NS_RX)"
		[[ $2 == exit ]] && exit 1
		kill -TERM $$
		sleep 10
		exit 3'
	local how expect
	for how in exit term; do
		rc=0
		out=$(bash -c "$child" child "$LIB/../../scripts/lib/lab.sh" "$how" 2>"$TMPDIR_LAB/err") || rc=$?
		expect=1
		[[ $how == term ]] && expect=143
		assert_eq "$rc" "$expect" "exit status of a child that did '$how'"
		grep -q own-trap-ran "$TMPDIR_LAB/err" || fail "the child's own EXIT trap did not run"
		read -r tx rx state pid itx irx <<<"$out"
		[[ -n $irx ]] || fail "child lab did not come up: '$out' $(cat "$TMPDIR_LAB/err")"
		assert_ns_gone "$tx" "$itx"
		assert_ns_gone "$rx" "$irx"
		[[ ! -e $state ]] || fail "state file $state left"
		! lab_alive "$pid" || fail "background process $pid still running"
	done
}

t_lab_queues() {
	lab_up --queues 4
	local ifc n
	for ifc in "$LAB_NS_RX:$LAB_IF_RX" "$LAB_NS_TX:$LAB_IF_TX"; do
		n=$(lab_exec "${ifc%%:*}" ls "/sys/class/net/${ifc#*:}/queues" | grep -c '^rx-')
		assert_eq "$n" 4 "rx queues of ${ifc#*:}"
		n=$(lab_exec "${ifc%%:*}" ls "/sys/class/net/${ifc#*:}/queues" | grep -c '^tx-')
		assert_eq "$n" 4 "tx queues of ${ifc#*:}"
	done
	lab_exec "$LAB_NS_RX" ethtool -l "$LAB_IF_RX" |
		sed -n '/^Current/,$p' | grep -Eq '^RX:[[:space:]]+4$' ||
		fail "ethtool -l does not report 4 current RX channels"
	lab_down
	lab_up
	n=$(lab_exec "$LAB_NS_RX" ls "/sys/class/net/$LAB_IF_RX/queues" | grep -c '^rx-')
	assert_eq "$n" 1 "default rx queues"
	lab_down
}

# lab_bg runs in the namespace, logs, can be waited for, and lab_stop ends it.
t_lab_bg() {
	lab_up
	local log=$TMPDIR_LAB/bg.log rc=0 pid
	lab_bg --log "$log" "$LAB_NS_RX" sh -c 'ip -br link show dev xs-rx; exit 7' >/dev/null
	wait "$LAB_BG_PID" || rc=$?
	assert_eq "$rc" 7 "exit status of a lab_bg process"
	grep -q "^$LAB_IF_RX@" "$log" || fail "lab_bg did not run in $LAB_NS_RX: $(cat "$log")"
	pid=$(lab_bg "$LAB_NS_TX" sleep 1000)
	lab_alive "$pid" || fail "lab_bg process $pid not running"
	grep -q "^#@pid $pid " "$LAB_STATE" || fail "lab_bg pid $pid not recorded"
	lab_stop "$pid" || fail "sleep ignored SIGTERM"
	! lab_alive "$pid" || fail "lab_stop left $pid running"
	lab_down
}

# Pins made by one lab_exec are seen by the next one in the same namespace
# (the lab's own bpffs), not in the other namespace, and go with lab_down;
# lab_leak_check sees the pinned map while it exists.
t_lab_bpffs() {
	command -v bpftool >/dev/null || skip "bpftool not installed"
	command -v jq >/dev/null || skip "jq not installed"
	unset LAB_KEEP
	lab_leak_snapshot
	lab_up
	local pin=/sys/fs/bpf/xs_lab_test id
	lab_exec "$LAB_NS_RX" bpftool map create "$pin" type array key 4 value 4 entries 1 \
		name xs_lab_test
	id=$(lab_exec "$LAB_NS_RX" bpftool -j map show pinned "$pin" | jq .id) ||
		fail "pin not visible in a second lab_exec"
	[[ -e $LAB_BPFFS_RX/xs_lab_test ]] || fail "pin not visible at \$LAB_BPFFS_RX"
	if lab_exec "$LAB_NS_TX" test -e "$pin"; then
		fail "pin of the rx namespace visible in the tx namespace"
	fi
	if lab_leak_check 0.2 2>/dev/null; then
		fail "lab_leak_check missed pinned map $id"
	fi
	lab_down
	wait_for 5 bash -c "! bpftool map show id $id >/dev/null 2>&1" ||
		fail "pinned map $id not freed by lab_down"
	lab_leak_check || fail "lab_leak_check after lab_down"
}

# The invariants lab_down checks in a test (scripts/lib/lab.sh): an XDP
# program on any interface of the lab, a pin under xsnap/ in its bpffs; and
# record_figure's file format.
t_lab_invariants() {
	command -v bpftool >/dev/null || skip "bpftool not installed"
	unset LAB_KEEP
	lab_up
	lab_invariants || fail "a fresh lab breaks an invariant"
	local obj=${XSNAP_BUILD:-$LIB/../../build}/bpf/xsnap_gen.bpf.o
	[[ -f $obj ]] || skip "build first: $obj missing"
	lab_exec "$LAB_NS_TX" ip link set dev lo xdpgeneric obj "$obj" sec xdp.frags
	if lab_invariants 2>"$TMPDIR_LAB/inv"; then
		fail "lab_invariants missed an XDP program on lo"
	fi
	grep -q "XDP program left in namespace $LAB_NS_TX: lo:" "$TMPDIR_LAB/inv" ||
		fail "the report does not name the interface: $(cat "$TMPDIR_LAB/inv")"
	lab_exec "$LAB_NS_TX" ip link set dev lo xdpgeneric off
	lab_invariants || fail "still reported after the program was removed"
	lab_exec "$LAB_NS_RX" mkdir -p /sys/fs/bpf/xsnap/xs-rx
	lab_exec "$LAB_NS_RX" bpftool map create /sys/fs/bpf/xsnap/xs-rx/m type array key 4 \
		value 4 entries 1 name xs_inv_test
	if lab_invariants 2>"$TMPDIR_LAB/inv"; then
		fail "lab_invariants missed a pin under xsnap/"
	fi
	grep -q "pins left under $LAB_BPFFS_RX/xsnap" "$TMPDIR_LAB/inv" || fail "pin not named"
	# lab_down in a test fails on it, and still removes the lab
	local state=$LAB_STATE rc=0
	lab_down 2>/dev/null || rc=$?
	assert_eq "$rc" 1 "lab_down with a pin left"
	[[ ! -e $state ]] || fail "lab not removed"
	# figures: KEY VALUE lines in $XSNAP_FIGURES (the runner's file for the
	# run; a file of this test's own here), else in $OUTPUT/test-logs/
	local out=$TMPDIR_LAB/out
	(XSNAP_FIGURES=$out.txt record_figure test_figure 3 2>/dev/null &&
		XSNAP_FIGURES=$out.txt record_figure test_figure 4 2>/dev/null)
	assert_eq "$(cat "$out.txt")" $'test_figure 3\ntest_figure 4' "figures file"
	(unset XSNAP_FIGURES; OUTPUT=$out record_figure test_figure 5 2>/dev/null)
	assert_eq "$(cat "$out/test-logs/figures.txt")" 'test_figure 5' "figures file under OUTPUT"
	rc=0
	XSNAP_FIGURES=$out.txt record_figure 'Bad key' 1 2>/dev/null || rc=$?
	assert_eq "$rc" 2 "record_figure with a bad key"
}

TMPDIR_LAB=$(mktemp -d)
trap 'rm -rf "$TMPDIR_LAB"' EXIT
lab_main "$@"
