#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The classifier on real interfaces: rules changing under a steady stream,
# attach modes (native, generic, auto) and frame sizes.  Each test builds
# its own lab (scripts/lib/lab.sh) and removes it, and checks that nothing of
# ours is left attached, pinned or allocated.
#
#   live_rule_changes         a stream of 20000 frames/s while tenants and
#                             rules come and go (tests/netns/classify_live.c
#                             checks every frame against the set in force)
#   lo_auto_falls_back        lo has no native XDP (TESTING.md E17): auto
#                             attaches in generic mode, says so, and works
#   lo_native_refused         mode native on lo fails with a clear message
#   mtu9000_native_refused    a veth peer MTU of 9000 refuses native XDP for
#                             our program (E12): the message says why and how
#   mtu9000_generic_too_big   generic mode takes MTU 9000; frames longer than
#                             a UMEM frame are passed, counted as too_big,
#                             never half delivered; the others are delivered
#   reasons_in_stats          per-reason counters reach xsnap_stats()
#   vlan_offload_on_refuses_vlan_rules
#                             receive VLAN offload left on (veth's default):
#                             vlan rules refused naming the ethtool command,
#                             other rules work; after the command, they match
#   vlan_outermost_tag        `vlan N` matches the outermost tag of a
#                             double-tagged (802.1ad + 802.1Q) frame
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"

LIVE=$XS_BUILD/tests/netns/classify_live
LOG=

setup() {
	[[ -x $XS_CONSUMER && -x $XS_GEN && -x $LIVE ]] ||
		fail "build first: $XS_CONSUMER, $XS_GEN, $LIVE"
	lab_leak_snapshot
	lab_up "$@"
	LOG=$(mktemp /tmp/xsnap-classify.XXXXXX)
}

# Remove the lab: lab_down checks that no XDP program (lo included) or pin
# is left in its namespaces.
finish() {
	rm -f "$LOG"
	lab_down
	lab_leak_check 5 || fail "BPF programs, maps, links or namespaces leaked"
}

show_log() { sed 's/^/    /' "$LOG" >&2; }

field() { xs_field "$LOG" "$1" "$2"; }

# Rules and tenants change every 120 ms while 20000 frames/s flow.
t_live_rule_changes() {
	setup
	local ready stop rc=0
	ready=$(mktemp -u /tmp/xsnap-ready.XXXXXX)
	stop=$(mktemp -u /tmp/xsnap-stop.XXXXXX)
	lab_bg --log "$LOG" "$LAB_NS_RX" "$LIVE" -i "$LAB_IF_RX" --dst "$LAB_IP_RX" \
		--stream 7 --change-ms 120 -R "$ready" -S "$stop" >/dev/null
	local pid=$LAB_BG_PID
	wait_for 20 test -e "$ready" -o ! -d "/proc/$pid" || fail "classify_live not ready"
	rm -f "$ready"
	[[ -d /proc/$pid ]] || { show_log; fail "classify_live exited early"; }
	# 4 s of traffic; the changes take about 2.5 s from the first frame
	xs_gen -q --stream 7 --dport 9000-9007 -n 80000 -r 20000
	touch "$stop"
	wait_for 30 test ! -d "/proc/$pid/fd" || fail "classify_live did not finish"
	wait "$pid" || rc=$?
	rm -f "$stop"
	show_log
	((rc == 0)) || fail "classify_live found frames classified against the rules (rc $rc)"
	grep -q '^witness: .* 0 disagree; .* 0 lost$' "$LOG" || fail "witness check not clean"
	# the whole stream was judged: its first and last frame reached the witness
	grep -q '^witness: seqs 0\.\.79999: ' "$LOG" || fail "the stream was not received whole"
	grep -Eq '^live: (1[5-9]|[2-9][0-9]) rule set changes' "$LOG" ||
		fail "fewer rule set changes than scheduled"
	# the deleted tenants got nothing classified after their deletion
	local t ok="0 classified after its deletion, 0 foreign, 0 bad;"
	ok+=" socket ended with ENOENT"
	for t in A B C B2; do
		grep -q "^tenant $t (slot [0-9]*, deleted): .* $ok" "$LOG" ||
			fail "tenant $t: frames after its deletion, or its socket did not end"
	done
	finish
}

# lo, in the lab's rx namespace: no native XDP there (E17).
t_lo_auto_falls_back() {
	setup
	xs_consumer_start "$LOG" -i lo -m auto -t a -r 'a:1:udp dst port 9000' -c a
	lab_exec "$LAB_NS_RX" ip -d link show dev lo | grep -q xdpgeneric ||
		fail "lo: not attached in generic mode"
	# frames sent into lo itself reach generic XDP on lo
	lab_exec "$LAB_NS_RX" "$XS_GEN" -i lo -q --dmac 00:00:00:00:00:00 --src 127.0.0.1 \
		--dst 127.0.0.1 --stream 1 --dport 9000 -n 200 -r 20000
	lab_exec "$LAB_NS_RX" "$XS_GEN" -i lo -q --dmac 00:00:00:00:00:00 --src 127.0.0.1 \
		--dst 127.0.0.1 --stream 2 --dport 9001 -n 50 -r 20000
	xs_consumer_stop || { show_log; fail "consumer checks failed"; }
	show_log
	local msg='native XDP unavailable (the driver does not support native XDP), falling back'
	grep -q "lo: $msg to generic mode" "$LOG" ||
		fail "the fallback was not reported"
	grep -q 'generic XDP' "$LOG" || fail "mode not reported as generic XDP"
	assert_eq "$(field 'consumer 0' frames)" 200 "frames delivered on lo"
	grep -Eq '^xdp: .*deliver 200( |$)' "$LOG" || fail "deliver counter"
	grep -Eq '^xdp: .*nomatch (5[0-9]|[6-9][0-9]|[1-9][0-9]{2,})( |$)' "$LOG" ||
		fail "nomatch counter"
	finish
}

t_lo_native_refused() {
	setup
	local rc=0
	lab_exec "$LAB_NS_RX" "$XS_CONSUMER" -i lo -m native -t a >"$LOG" 2>&1 || rc=$?
	show_log
	((rc != 0)) || fail "native mode on lo was accepted"
	grep -q 'lo: the driver does not support native XDP: .* (use mode skb or auto)' "$LOG" ||
		fail "no clear message for native mode on lo"
	finish
}

# E12: veth with a peer MTU of 9000 refuses native XDP for a program without
# multi-buffer support.
t_mtu9000_native_refused() {
	setup --mtu 9000
	local rc=0
	lab_exec "$LAB_NS_RX" "$XS_CONSUMER" -i "$LAB_IF_RX" -m native -t a >"$LOG" 2>&1 || rc=$?
	show_log
	((rc != 0)) || fail "native mode accepted with a peer MTU of 9000"
	local why="the MTU is too large for native XDP without multi-buffer support (on veth the"
	why+=" peer's MTU counts; native mode needs about 3500 or less)"
	local fix="lower the MTU (ip link set dev PEER mtu 1500) or use mode skb or auto"
	fix+=" (generic XDP)"
	grep -qF "$LAB_IF_RX: native XDP refused: $why; $fix" "$LOG" ||
		fail "the message does not say why and what to do"
	# the remedy works: with the peer's MTU lowered, native attaches
	lab_exec "$LAB_NS_TX" ip link set dev "$LAB_IF_TX" mtu 1500
	xs_consumer_start "$LOG" -m native -t a -r 'a:1:udp dst port 9000' -c a
	xs_gen -q --stream 1 --dport 9000 -n 100 -r 20000
	xs_consumer_stop || { show_log; fail "consumer checks failed"; }
	grep -q 'native XDP' "$LOG" || fail "not native after lowering the MTU"
	assert_eq "$(field 'consumer 0' frames)" 100 "frames in native mode"
	finish
}

# Generic mode at MTU 9000: rules apply to jumbo frames, but a frame longer
# than a UMEM frame is passed to the stack (too_big), not delivered in part.
t_mtu9000_generic_too_big() {
	setup --mtu 9000
	xs_consumer_start "$LOG" -m auto -t a -r 'a:1:udp dst port 9000' \
		-r 'a:1:udp dst port 9001 action drop' -c a
	grep -q 'falling back to generic mode' "$LOG" || fail "auto did not fall back"
	# 3840: 4096 less the kernel's headroom; 32 less (the metadata) where
	# the kernel refuses bpf_xdp_adjust_meta() and it travels in the frame
	grep -Eq 'MTU 9000: frames longer than (3840|3808) bytes do not fit a UMEM frame' "$LOG" ||
		fail "no warning about frames longer than a UMEM frame"
	xs_gen -q --stream 1 --dport 9000 -n 100 -r 20000 -s 1500
	xs_gen -q --stream 2 --dport 9000 -n 100 -r 20000 -s 3800
	xs_gen -q --stream 3 --dport 9000 -n 50 -r 20000 -s 5000
	xs_gen -q --stream 4 --dport 9001 -n 30 -r 20000 -s 8000
	xs_consumer_stop || { show_log; fail "consumer checks failed"; }
	show_log
	assert_eq "$(field 'consumer 0' frames)" 200 "frames that fit a UMEM frame"
	grep -Eq '^xdp: .*deliver 200( |$)' "$LOG" || fail "deliver counter"
	grep -Eq '^xdp: .*too_big 50( |$)' "$LOG" || fail "too_big counter"
	grep -Eq '^xdp: .*rule_drop 30( |$)' "$LOG" || fail "drop rules must apply to jumbo frames"
	finish
}

# xsnap-gen's pump mode (for kernels that refuse live frames): clones of a
# frame circling a veth pair of the tx namespace, stamped one by one.  Every
# frame the generator says it sent reaches the XDP program (deliver counter),
# the consumer finds no bad payload and no duplicate, and the loop stops with
# the generator (the counter stays put after it).  The pump floods: the
# consumer may lose frames in the kernel's rx ring or its quota, which it
# reports as a failure of its own; here only what the pump produced is
# judged.
t_gen_pump() {
	setup
	local out sent
	lab_exec "$LAB_NS_TX" ip link add xs-pump0 type veth peer name xs-pump1
	lab_exec "$LAB_NS_TX" ip link set xs-pump0 up
	lab_exec "$LAB_NS_TX" ip link set xs-pump1 up
	xs_consumer_start "$LOG" -t a -r 'a:1:udp dst port 9000' -c a
	out=$(xs_gen --mode pump --loop xs-pump0 --batch 16 --stream 5 --flows 8 -n 20000 -j) ||
		fail "xsnap-gen --mode pump failed"
	sent=$(sed -n 's/.*"sent":\([0-9]*\).*/\1/p' <<<"$out")
	[[ $sent =~ ^[0-9]+$ ]] && ((sent > 0 && sent <= 20000)) ||
		fail "pump: sent '$sent' (of 20000): $out"
	# paced packet-mode frames after the pump's: they alone may follow
	xs_gen -q --stream 6 --dport 9000 -n 10 -r 1000
	xs_consumer_stop || true	# judged below: losses under a flood are allowed
	grep -Eq '^consumer 0 .* frames [1-9][0-9]* bad_payload 0 foreign 0 .* dups 0 queues 1$' "$LOG" ||
		{ show_log; fail "bad payloads, duplicates or no frame at the consumer"; }
	grep -Eq '^frames: .* leaked 0 audit 0;' "$LOG" || { show_log; fail "frames leaked"; }
	grep -Eq "^xdp: .*deliver $((sent + 10))( |$)" "$LOG" ||
		{ show_log; fail "deliver counter is not the $sent pumped + 10 frames"; }
	grep -q '"mode":"pump"' <<<"$out" || fail "no pump mode in the report: $out"
	xs_gen --mode pump -n 1 2>/dev/null && fail "--mode pump without --loop accepted"
	xs_gen --mode pump --loop xs-pump0 -r 100 -n 1 2>/dev/null && fail "--rate accepted in pump mode"
	finish
}

# Per-reason counters reach xsnap_stats(): what the consumer prints as "xdp:".
t_reasons_in_stats() {
	setup
	xs_consumer_start "$LOG" -t a -r 'a:10:udp dst port 9000' \
		-r 'a:10:udp dst port 9001-9002 action drop' \
		-r 'a:10:udp dst port 9003 action pass' -c a
	xs_gen -q --stream 1 --dport 9000-9003 -n 400 -r 20000
	xs_gen -q --stream 2 --dport 9004 -n 100 -r 20000
	xs_gen -q --stream 3 --dport 9000 -n 20 -r 20000 --vlan 5
	lab_exec "$LAB_NS_TX" ping -c 2 -i 0.1 -W 1 "$LAB_IP_RX" >/dev/null || true
	xs_consumer_stop || { show_log; fail "consumer checks failed"; }
	show_log
	# the generator cycles 9000..9003: 100 frames each; 20 tagged ones to 9000
	grep -Eq '^xdp: .*deliver 120( |$)' "$LOG" || fail "deliver counter"
	grep -Eq '^xdp: .*rule_drop 200( |$)' "$LOG" || fail "rule_drop counter (a range rule)"
	grep -Eq '^xdp: .*rule_pass 100( |$)' "$LOG" || fail "rule_pass counter"
	grep -Eq '^xdp: .*nomatch 1[0-9][0-9]( |$)' "$LOG" || fail "nomatch counter"
	# tagged frames: this lab's veths strip nothing (rxvlan off); the tag is
	# parsed, and the frames match the port rule under it
	assert_eq "$(field 'consumer 0' frames)" 120 "frames delivered (untagged and tagged)"
	finish
}

# Receive VLAN offload on (veth's default, --vlan-offload): a device with
# it on takes the outer tag out of the frame before XDP, so vlan rules are
# refused with the command that turns it off; rules without a vlan term
# work (tagged frames match them too).  After the command (and, on veth,
# the peer's transmit offload off as the message says) a vlan rule is
# accepted and matches exactly its tag.
t_vlan_offload_on_refuses_vlan_rules() {
	setup --vlan-offload
	local rc=0 cmd="ethtool -K $LAB_IF_RX rxvlan off rx-vlan-stag-hw-parse off"
	lab_exec "$LAB_NS_RX" "$XS_CONSUMER" -i "$LAB_IF_RX" -t a -r 'a:1:vlan 100' -c a \
		>"$LOG" 2>&1 || rc=$?
	show_log
	((rc != 0)) || fail "a vlan rule was accepted with receive VLAN offload on"
	grep -qF "$LAB_IF_RX: receive VLAN offload is on (rx-vlan-offload, rx-vlan-stag-hw-parse)" \
		"$LOG" || fail "the refusal does not say which offload is on"
	grep -qF "vlan rules are refused until it is off: $cmd (on veth the peer's" "$LOG" ||
		fail "the refusal does not name the command"
	# a rule without a vlan term: accepted, the offload reported at attach
	xs_consumer_start "$LOG" -t a -r 'a:1:udp dst port 9000' -c a
	grep -qF "$LAB_IF_RX: receive VLAN offload is on" "$LOG" || fail "not reported at attach"
	xs_gen -q --stream 1 --dport 9000 -n 50 -r 20000
	xs_gen -q --stream 2 --dport 9000 -n 30 -r 20000 --vlan 100
	xs_consumer_stop || { show_log; fail "consumer checks failed"; }
	assert_eq "$(field 'consumer 0' frames)" 80 "frames of a rule without a vlan term"
	# the remedy the message names
	lab_exec "$LAB_NS_RX" $cmd
	lab_exec "$LAB_NS_TX" ethtool -K "$LAB_IF_TX" txvlan off tx-vlan-stag-hw-insert off
	xs_consumer_start "$LOG" -t a -r 'a:1:vlan 100' -c a
	! grep -q "receive VLAN offload is on" "$LOG" || fail "still reported on after $cmd"
	xs_gen -q --stream 3 --dport 9000 -n 40 -r 20000 --vlan 100
	xs_gen -q --stream 4 --dport 9000 -n 20 -r 20000 --vlan 101
	xs_gen -q --stream 5 --dport 9000 -n 20 -r 20000
	xs_consumer_stop || { show_log; fail "consumer checks failed"; }
	show_log
	assert_eq "$(field 'consumer 0' frames)" 40 "frames of vlan 100"
	finish
}

# `vlan N` matches the outermost tag (docs/design.md): of a double-tagged
# frame (802.1ad service tag, then 802.1Q) the service tag; the inner one,
# which the sender chose, matches nothing.  Rules without a vlan term
# match every frame whatever its tags.
t_vlan_outermost_tag() {
	setup
	xs_consumer_start "$LOG" -t outer -r 'outer:1:vlan 100' -t inner -r 'inner:1:vlan 200' \
		-t any -r 'any:1:udp dst port 9000' -c outer -c inner -c any
	xs_gen -q --stream 1 --dport 9000 -n 40 -r 20000 --svlan 100 --vlan 200
	xs_gen -q --stream 2 --dport 9000 -n 30 -r 20000 --vlan 200
	xs_gen -q --stream 3 --dport 9000 -n 20 -r 20000 --svlan 200 --vlan 100
	xs_consumer_stop || { show_log; fail "consumer checks failed"; }
	show_log
	assert_eq "$(field 'consumer 0' frames)" 40 "vlan 100: the double-tagged frames with outer 100"
	assert_eq "$(field 'consumer 1' frames)" 50 "vlan 200: single 200 and outer 200"
	assert_eq "$(field 'consumer 2' frames)" 90 "no vlan term: every frame"
	finish
}

lab_main "$@"
