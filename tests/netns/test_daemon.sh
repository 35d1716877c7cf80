#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# xsnapd and xsnapctl end to end: the daemon runs in the lab's rx namespace,
# is driven only through xsnapctl, and serves consumer processes
# (build/tests/netns/xsnap_dclient) that connect with xsnap_connect() and
# receive through the shared-memory data path.  Each test builds its own lab
# and daemon and removes both.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"
# shellcheck source=../lib/xsnapd.sh
source "$LIB/xsnapd.sh"

# Two tenants, one consumer process each (alpha's unprivileged, with no
# capabilities); counts match what was sent and what xsnapctl reports.
t_two_tenants_cli() {
	daemon_up
	local la=$D_DIR/a.log lb=$D_DIR/b.log pa pb st
	c_start "$la" --as-nobody -t alpha
	pa=$C_PID
	c_start "$lb" -t beta -s 2
	pb=$C_PID
	grep -q 'CapEff:	0000000000000000' "/proc/$pa/status" || fail "alpha's consumer has capabilities"
	xs_gen -q --stream 1 --dport 9000 -n 2000 -r 20000
	xs_gen -q --stream 2 --dport 9001 -n 1500 -r 20000
	xs_gen -q --stream 3 --dport 9002 -n 100 -r 20000
	wait_delivered alpha 2000
	wait_delivered beta 3000
	st=$(ctl stats -j)
	c_stop "$pa" || { show "$la"; fail "alpha's consumer failed"; }
	c_stop "$pb" || { show "$lb"; fail "beta's consumer failed"; }
	show "$la"
	show "$lb"
	assert_eq "$(field "$la" frames)" 2000 "alpha consumer frames"
	assert_eq "$(field "$la" seq_gaps)" 0 "alpha consumer sequence gaps"
	assert_eq "$(field "$la" bad_payload)" 0 "alpha consumer payloads"
	assert_eq "$(field "$lb" frames)" 3000 "beta consumer frames (two sockets, fan-out)"
	assert_eq "$(jget "$st" 'j["tenants"]["alpha"]["rx_frames"]')" 2000 "stats -j alpha rx_frames"
	assert_eq "$(jget "$st" 'j["tenants"]["alpha"]["delivered"]')" 2000 "stats -j alpha delivered"
	assert_eq "$(jget "$st" 'j["tenants"]["beta"]["rx_frames"]')" 1500 "stats -j beta rx_frames"
	assert_eq "$(jget "$st" 'j["tenants"]["beta"]["delivered"]')" 3000 "stats -j beta delivered"
	assert_eq "$(jget "$st" 'j["tenants"]["alpha"]["quota_drops"]')" 0 "alpha quota drops"
	# status: text and JSON name the mechanism, mode, queues, tenants, rules
	ctl status | tee "$D_DIR/status" >&2
	grep -q "attached via bpf_link" "$D_DIR/status" || fail "status lacks the attach mechanism"
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["attach"]')" bpf_link "status -j attach"
	assert_eq "$(jget "$st" 'len(j["tenants"])')" 2 "status -j tenants"
	assert_eq "$(jget "$st" 'len(j["rules"])')" 2 "status -j rules"
	ctl stats --prometheus >"$D_DIR/prom"
	grep -q "^xsnap_rx_frames_total{interface=\"$LAB_IF_RX\",tenant=\"alpha\"} 2000\$" "$D_DIR/prom" ||
		fail "prometheus output lacks alpha's rx_frames"
	grep -q '^# TYPE xsnap_rx_frames_total counter$' "$D_DIR/prom" || fail "prometheus TYPE line"
	d_detach
	d_stop
	finish
}

# status names the classifier of the live rule set: the two tenants' exact
# port rules (one shape, 2 keys) get a specialised program; a rule with an
# address prefix puts the set on the general classifier; deleting it brings
# the specialised program back (3 keys: a third port).  Frames reach alpha
# under each.  A user outside the admin group is not told (the classifier
# follows from every tenant's rules).
t_status_classifier() {
	daemon_with_alpha
	local st id
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["classifier"]')" specialised "status -j classifier"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["specialised_keys"]')" 2 "status -j specialised_keys"
	ctl status | tee "$D_DIR/status" >&2
	grep -q 'rules: a program specialised for the live set (2 keys)' "$D_DIR/status" ||
		fail "status text does not name the specialised program"
	# it follows from every tenant's rules: not shown to other users
	st=$(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups "$XSNAPCTL" -S "$D_SOCK" \
		status -j) || fail "status -j as a non-admin"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["classifier"]')" None \
		"status -j classifier for a non-admin"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["specialised_keys"]')" None \
		"status -j specialised_keys for a non-admin"
	feed_alpha 300
	id=$(ctl rule add beta 'udp dst port 9002 and ip src 10.0.0.0/8')
	id=${id##* }
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["classifier"]')" general \
		"status -j classifier with an address rule"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["specialised_keys"]')" 0 \
		"status -j specialised_keys with an address rule"
	ctl status | tee "$D_DIR/status" >&2
	grep -q "rules: the general classifier (the live set is not of the specialised programs' shape)" \
		"$D_DIR/status" || fail "status text does not say why the general classifier serves"
	xs_gen -q --stream 1 --dport 9000 -n 300 -r 20000
	wait_delivered alpha 600
	ctl rule del "$id"
	ctl rule add beta 'udp dst port 9002' >/dev/null
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["classifier"]')" specialised \
		"status -j classifier after the address rule left"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["specialised_keys"]')" 3 \
		"status -j specialised_keys, three ports"
	xs_gen -q --stream 1 --dport 9000 -n 300 -r 20000
	wait_delivered alpha 900
	c_stop "$A_PID" || { show "$A_LOG"; fail "alpha's consumer failed"; }
	assert_eq "$(field "$A_LOG" frames)" 900 "alpha consumer frames under both classifiers"
	d_detach
	d_stop
	finish
}

# attach --multiprog: through libxdp (its dispatcher where the kernel has
# freplace, else alone); status says which, text and JSON; a client gets
# its frames; detach leaves no program on the interface.
t_attach_multiprog() {
	daemon_with_alpha --multiprog
	local st kind
	feed_alpha 500
	ctl status | tee "$D_DIR/status" >&2
	st=$(ctl status -j)
	kind=$(jget "$st" 'j["interfaces"][0]["attach"]')
	case $kind in
	libxdp)
		grep -q 'attached through libxdp, alone (no dispatcher' "$D_DIR/status" ||
			fail "status text does not say libxdp alone" ;;
	libxdp_dispatcher)
		grep -q 'attached through libxdp, program [0-9]* in its multi-program dispatcher' \
			"$D_DIR/status" || fail "status text does not name the dispatcher"
		assert_eq "$(jget "$st" 'j["interfaces"][0]["dispatcher"]')" xdp_dispatcher \
			"status -j dispatcher" ;;
	*) fail "status -j attach is '$kind', not libxdp or libxdp_dispatcher" ;;
	esac
	c_stop "$A_PID" || { show "$A_LOG"; fail "alpha's consumer failed"; }
	assert_eq "$(field "$A_LOG" frames)" 500 "alpha consumer frames through libxdp"
	d_detach
	lab_exec "$LAB_NS_RX" ip -d link show dev "$LAB_IF_RX" | grep -q 'prog/xdp' &&
		fail "a program is left on the interface after detach"
	d_stop
	finish
}

# huge_free: free pages of the hugetlb pool.
huge_free() { awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo; }
_huge_free_is() { [[ $(huge_free) == "$1" ]]; }

# The receive region on 2 MiB hugetlb pages (attach --hugepages): with the
# pool empty, "on" is refused with the count it needs and the sysctl to
# raise, and "auto" runs on 4 KiB pages and says so; with pages reserved,
# "auto" and "on" take exactly the region's pages, a consumer process maps
# them (2 MiB-aligned) and gets every frame, and detach gives every page
# back.  The test puts vm.nr_hugepages back however it ends (lab_hugepages).
t_attach_hugepages() {
	setup
	d_start
	local st free0 free1 mode
	lab_hugepages 0 || fail "could not empty the hugetlb pool"
	ctl_err 1 'needs 16 huge pages of 2 MiB, 0 free \(raise vm.nr_hugepages' \
		attach "$LAB_IF_RX" --frames 8192 --hugepages on
	ctl attach "$LAB_IF_RX" --frames 8192
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["hugepages"]')" False "status -j hugepages, pool empty"
	ctl status | grep -q '8192 frames on 4 KiB pages' || fail "status text does not say 4 KiB pages"
	ctl detach "$LAB_IF_RX"
	lab_hugepages 40 || skip "the kernel gave fewer than 40 huge pages (memory fragmented)"
	for mode in auto on; do
		free0=$(huge_free)
		configure --frames 8192 --hugepages "$mode"
		free1=$(huge_free)
		assert_eq "$((free0 - free1))" 16 "huge pages the region took (--hugepages $mode)"
		st=$(ctl status -j)
		assert_eq "$(jget "$st" 'j["interfaces"][0]["hugepages"]')" True "status -j hugepages ($mode)"
		ctl status | grep -q '8192 frames on 2 MiB pages' || fail "status text does not say 2 MiB pages"
		A_LOG=$D_DIR/a-$mode.log
		c_start "$A_LOG" -t alpha
		feed_alpha 2000
		c_stop "$C_PID" || { show "$A_LOG"; fail "alpha's consumer failed on huge pages"; }
		assert_eq "$(field "$A_LOG" frames)" 2000 "frames alpha's consumer read ($mode)"
		ctl tenant del alpha
		ctl tenant del beta
		d_detach
		# the kernel unpins a UMEM in a work item after its last socket
		wait_for 5 _huge_free_is "$free0" ||
			fail "huge pages free after detach ($mode): $(huge_free), not $free0"
	done
	d_stop
	finish
}

# xsnapd trusts its socket's directory only if root owns it and nobody
# else may write to it (another user could otherwise swap the socket for a
# link before it is chowned, or serve a fake daemon there): refused when
# writable by others, owned by another user, or a symbolic link, with the
# reason; the socket it makes is born with its mode (0660 and the -G group).
t_socket_dir_trust() {
	setup
	local dir rc out re
	for dir in open theirs link; do
		case $dir in
		open) mkdir -m 0777 "$D_DIR/open" ;;
		theirs) mkdir -m 0755 "$D_DIR/theirs" && chown "$NOBODY" "$D_DIR/theirs" ;;
		link) mkdir -m 0755 "$D_DIR/real" && ln -s real "$D_DIR/link" ;;
		esac
		rc=0
		out=$(timeout 10 ip netns exec "$LAB_NS_RX" "$XSNAPD" -S "$D_DIR/$dir/x.sock" 2>&1) || rc=$?
		echo "  xsnapd -S $D_DIR/$dir/x.sock: exit $rc: $out" >&2
		((rc != 0 && rc != 124)) || fail "xsnapd accepted the socket directory $dir (exit $rc)"
		[[ ! -e $D_DIR/$dir/x.sock && ! -e $D_DIR/real/x.sock ]] || fail "a socket was made in $dir"
		case $dir in
		open) re="refusing a socket directory owned by uid 0 with mode 0777" ;;
		theirs) re="refusing a socket directory owned by uid $NOBODY with mode 0755" ;;
		link) re="must be a directory, not a symbolic link" ;;
		esac
		grep -q "$re" <<<"$out" || fail "xsnapd -S in $dir: the reason is not given"
	done
	d_start
	assert_eq "$(stat -c '%a %g %F' "$D_SOCK")" "660 $NOBODY socket" "the socket's mode, group and type"
	d_stop
	finish
}

# STATUS and the verbs built on it (status, tenant list, rule list, dump,
# snapshot) with more rules than one 64 KiB message holds: the daemon sends
# them in pages and xsnapctl asks until it has them all.
LAB_TIMEOUT_many_rules=600
t_many_rules() {
	daemon_up
	# 10 000 rules; under ASan (SANITIZE=1) each of the 10 000 classifier
	# compilations is several times slower: 2 000 still need two pages
	local n=${XS_MANY_RULES:-10000} i st=$D_DIR/rules.json
	[[ ${SANITIZE:-0} == 1 && -z ${XS_MANY_RULES:-} ]] && n=2000
	# jf EXPR: EXPR over the JSON in $st (too long for an argument)
	jf() { "$XS_PYTHON" -S -c 'import json,sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$st" "$1"; }
	for ((i = 1; i <= n; i++)); do
		echo "rule add alpha 'udp dst port $((10000 + i)) and ip src 10.$((i / 256 % 256)).$((i % 256)).0/24'"
	done | while read -r line; do eval "ctl $line" >/dev/null || exit 1; done ||
		fail "adding $n rules failed"
	ctl rule list -j >"$st"
	assert_eq "$(jf 'len(j)')" $((n + 2)) "rules listed"
	assert_eq "$(jf 'len(set(r["id"] for r in j))')" $((n + 2)) "distinct rule ids listed"
	assert_eq "$(jf "[r['match'] for r in j][-1]")" \
		"udp dst port $((10000 + n)) and ip src 10.$((n / 256 % 256)).$((n % 256)).0/24" "the last rule"
	assert_eq "$(ctl status | grep -c "^  [0-9]")" $((n + 2)) "rules in status text"
	assert_eq "$(jget "$(ctl tenant list -j)" 'len(j)')" 2 "tenants listed"
	ctl snapshot alpha --frames 1 -w "$D_DIR/s.pcap" >/dev/null || fail "snapshot with $n rules"
	d_stop
	finish
}

# Rule slots: a rule deleted leaves a hole that the next rule added fills
# (the lowest first), the rules are listed in slot order, deleting a tenant
# frees its rules' slots, and no request walks the whole rule table (16 384
# slots, 18 MiB, untouched past the last rule in use): statuses of a
# daemon with a few rules cost it little CPU time, where a walk of the
# table costs ~3 ms of CPU time each time (and a page fault per page of
# it, ~4 500, the first time).
XS_HZ=$(getconf CLK_TCK)
_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$D_PID/stat"; }
t_rule_slots() {
	daemon_up	# alpha's rule (9000) in slot 0, beta's (9001) in slot 1
	local a b c f0 f1
	# rule ids, in the order `rule list` gives them (slot order)
	list() { jget "$(ctl rule list -j)" '" ".join(str(r["id"]) for r in j)'; }
	_rid() { local out; out=$(ctl rule add "$@") || return 1; echo "${out##* }"; }
	a=$(_rid alpha 'udp dst port 9100') || fail "rule add"
	b=$(_rid beta 'udp dst port 9101') || fail "rule add"
	c=$(_rid alpha 'udp dst port 9102') || fail "rule add"
	local r0 r1
	read -r r0 r1 _ < <(list)
	assert_eq "$(list)" "$r0 $r1 $a $b $c" "rules in slot order"
	ctl rule del "$b"
	ctl rule del "$c"
	assert_eq "$(list)" "$r0 $r1 $a" "rules after deleting the last two"
	ctl rule del "$r0"
	b=$(_rid beta 'udp dst port 9103') || fail "rule add into the hole"
	assert_eq "$(list)" "$b $r1 $a" "a new rule takes the lowest free slot"
	c=$(_rid beta 'udp dst port 9104') || fail "rule add past the last"
	assert_eq "$(list)" "$b $r1 $a $c" "then the slot after the last"
	ctl tenant del beta
	assert_eq "$(list)" "$a" "alpha's rule alone after beta's deletion"
	ctl tenant add beta --quota 1024
	b=$(_rid beta 'udp dst port 9001') || fail "rule add after the tenant's deletion"
	assert_eq "$(list)" "$b $a" "beta's new rule in the first free slot"
	# the frames still go where the rules say
	local cl
	cl=$D_DIR/beta.log
	c_start "$cl" -t beta
	xs_gen -q --stream 1 --dport 9001 -n 200 -r 20000
	wait_delivered beta 200
	c_stop "$C_PID" || { show "$cl"; fail "beta's consumer failed"; }
	assert_eq "$(field "$cl" frames)" 200 "frames beta received"
	assert_eq "$(field "$cl" seq_gaps)" 0 "gaps in beta's stream"
	# statuses walk the rules in use only: 50 of them cost xsnapd well
	# under 60 ms of CPU time (a walk of the whole table: ~3 ms each)
	f0=$(_cpu_ticks)
	for _ in $(seq 50); do ctl status >/dev/null; done
	f1=$(_cpu_ticks)
	echo "xsnapd's CPU time over 50 statuses: $((f1 - f0)) ticks of $XS_HZ Hz" >&2
	(((f1 - f0) * 1000 / XS_HZ < 60)) ||
		fail "50 statuses cost xsnapd $(((f1 - f0) * 1000 / XS_HZ)) ms of CPU time"
	d_stop
	finish
}

t_uid_refused() {
	daemon_up
	local l=$D_DIR/c.log rc=0
	# beta allows only root/admin: uid 65534 is refused
	c_start "$l" --as-nobody -t beta
	wait "$C_PID" || rc=$?
	show "$l"
	assert_eq "$rc" 5 "consumer exit status (socket refused)"
	grep -q 'socket failed: Permission denied' "$l" || fail "not refused with EACCES"
	grep -q 'tenant beta: refused uid 65534' "$D_LOG" || fail "daemon did not log the refusal"
	# control verbs (and the audit, which holds the engine's locks) need
	# root or the admin group
	local verb
	for verb in "tenant del alpha" audit; do
		rc=0
		# shellcheck disable=SC2086 # the verb's words
		ip netns exec "$LAB_NS_RX" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
			"$XSNAPCTL" -S "$D_SOCK" $verb 2>"$l" || rc=$?
		show "$l"
		assert_eq "$rc" 1 "xsnapctl $verb: exit status as non-admin"
		grep -q 'needs root or the admin group' "$l" || fail "xsnapctl $verb: no EPERM message"
	done
	ctl audit | grep -q "^$LAB_IF_RX: consistent (" || fail "root's audit: not consistent"
	d_stop
	finish
}

# Errors name their cause and remedy; usage errors exit 2.
t_cli_errors() {
	setup
	ctl_err 1 'cannot connect to .*xsnapd.sock: .*is xsnapd running\?' status
	d_start
	ctl_err 2 'unknown command' frobnicate
	ctl_err 2 "bad value '12x' for --quota" tenant add a --quota 12x
	ctl_err 2 'bad --queues' attach "$LAB_IF_RX" --queues 3-1
	ctl_err 2 "bad value 'now' for --timestamps \(engine\|xdp\)" attach "$LAB_IF_RX" --timestamps now
	ctl_err 2 'missing TENANT' rule add a
	ctl_err 1 'queues 3\.\.3 out of range: the interface has 1 rx queue \(0\.\.0\)' \
		attach "$LAB_IF_RX" --queues 3
	ctl_err 1 'zero-copy requested but the driver does not support it \(use zerocopy auto or off\)' \
		attach "$LAB_IF_RX" --zerocopy on
	ctl_err 1 'nosuch0: no such interface' attach nosuch0
	# refused with nothing attached too (not only at the next attach)
	ctl_err 1 "bad name 'q\"t\\\\x': 1\.\.31 characters of A-Z a-z 0-9 _ \. -" tenant add 'q"t\x'
	if lab_exec "$LAB_NS_RX" ip link set dev "$LAB_IF_RX" xdpgeneric \
		obj "$XS_BUILD/bpf/xsnap_gen.bpf.o" sec xdp.frags; then
		ctl_err 1 'another XDP program \(id [0-9]+ "xsnap_gen", generic mode\) is attached' \
			attach "$LAB_IF_RX"
		lab_exec "$LAB_NS_RX" ip link set dev "$LAB_IF_RX" xdpgeneric off
	fi
	ctl attach "$LAB_IF_RX"
	ctl_err 1 'is already attached' attach "$LAB_IF_RX"
	ctl tenant add a
	ctl_err 1 "got 'prot' \(word 3\)" rule add a 'udp dst prot 1'
	ctl_err 1 'no tenant b' rule add b 'udp dst port 1'
	ctl_err 1 'tenant a exists' tenant add a
	ctl_err 1 'does not fit' tenant add big --quota 8192 --view shared
	# a private view holds as many frames as the receive region: no more
	ctl_err 1 'exceeds the' tenant add big --quota 16384
	ctl_err 1 "bad view 'no room'" tenant add v --view 'no room'
	ctl_err 1 'no rule 99' rule del 99
	# an action written in the match is the rule's action (listed as such),
	# and never beside a different --action
	local id
	id=$(ctl rule add a 'udp dst port 7 action drop')
	id=${id##* }
	assert_eq "$(jget "$(ctl rule list -j)" "[(r['match'], r['action']) for r in j if r['id'] == $id]")" \
		"[('udp dst port 7', 'drop')]" "rule list of a rule with 'action drop' in its match"
	ctl_err 1 "two actions, one in the match and --action pass" \
		rule add a 'udp dst port 8 action drop' --action pass
	ctl rule del "$id"
	local out
	out=$(ctl -j rule del 99 || true)
	assert_eq "$(jget "$out" 'j["errno"]')" 2 "JSON error errno"
	ctl help >/dev/null
	ctl tenant add --help | grep -q -- '--quota FRAMES' || fail "tenant add --help"
	d_detach
	d_stop
	finish
}

# Snapshots through the daemon: the last K frames, pinned and read from the
# shared log.
t_snapshot_connected() {
	daemon_up
	local ls=$D_DIR/s.log st
	c_start "$ls" --as-nobody -t alpha -m snap -n 500 -k 100
	xs_gen -q --stream 1 --dport 9000 -n 500 -r 20000
	c_wait "$C_PID" "$ls" "snapshot client hangs"
	assert_eq "$C_RC" 0 "snapshot client"
	grep -q 'snapshot frames 100 len 100 last 500 newest 500 gaps 0' "$ls" ||
		fail "snapshot does not hold the 100 newest frames"
	st=$(ctl stats -j)
	assert_ge "$(jget "$st" 'j["tenants"]["alpha"]["snapshots"]')" 2 "snapshots counted"
	assert_eq "$(jget "$st" 'j["tenants"]["alpha"]["sockets"]')" 0 "socket and snapshot closed"
	check_conservation "$st"
	d_stop
	finish
}

# Type=notify: READY=1 on $NOTIFY_SOCKET once the daemon serves.
t_sd_notify_ready() {
	setup
	local n=$D_DIR/notify out=$D_DIR/notify.out py
	"$XS_PYTHON" -S -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
print(s.recv(256).decode())' "$n" >"$out" &
	py=$!
	wait_for 5 test -S "$n" || fail "notify listener did not start"
	lab_bg --log "$D_LOG" "$LAB_NS_RX" env NOTIFY_SOCKET="$n" "$XSNAPD" -S "$D_SOCK" >/dev/null
	D_PID=$LAB_BG_PID
	wait "$py" || fail "no notification within 10 s"
	assert_eq "$(cat "$out")" "READY=1" "notification"
	ctl status >/dev/null || fail "not serving after READY=1"
	d_stop
	finish
}

# The tenant limit (xsnapd --max-tenants) is the same with and without an
# interface attached: tenants accepted before an attach are replayed on it,
# the one past the limit is refused either way, and a freed place can be
# taken again.  Before, a daemon with no interface took 32 and the next
# attach failed replaying the 9th.
t_tenant_limit() {
	setup
	d_start --max-tenants 3
	local i
	for i in 1 2 3; do ctl tenant add "t$i" --quota 256 >/dev/null; done
	ctl_err 1 'tenant add t4: 3 tenants already \(xsnapd --max-tenants, at most 32\)' \
		tenant add t4 --quota 256
	ctl attach "$LAB_IF_RX"
	assert_eq "$(jget "$(ctl status -j)" 'len(j["tenants"])')" 3 "tenants after the attach"
	ctl_err 1 '3 tenants already' tenant add t4 --quota 256
	ctl tenant del t2
	ctl tenant add t4 --quota 256 >/dev/null
	assert_eq "$(jget "$(ctl status -j)" 'sorted(t["name"] for t in j["tenants"])')" \
		"['t1', 't3', 't4']" "tenants after a delete and an add"
	d_detach
	d_stop
	"$XSNAPD" --max-tenants 33 -S "$D_DIR/x.sock" 2>"$D_DIR/err" && fail "--max-tenants 33 accepted"
	grep -q -- "--max-tenants '33': a number, 1..32" "$D_DIR/err" || fail "--max-tenants 33: $(cat "$D_DIR/err")"
	finish
}

# STATS over two attached interfaces: counts add up (frames_total is the
# sum of both regions), but zerocopy and xdp_mode are states: both veths
# run native XDP in copy mode, so the total says native (1) and not
# zero-copy (0).  Before, both were sums: xdp_mode 2, which reads as
# generic.
t_stats_two_interfaces() {
	setup
	second_pair
	d_start
	ctl attach "$LAB_IF_RX" --frames 4096
	ctl attach "$IF2_RX" --frames 8192
	local st
	st=$(ctl status -j)
	assert_eq "$(jget "$st" '[i["xdp_mode"] for i in j["interfaces"]]')" "['native', 'native']" \
		"per-interface XDP modes"
	st=$(ctl stats -j)
	assert_eq "$(jget "$st" 'j["total"]["xdp_mode"]')" 1 "total xdp_mode (native)"
	assert_eq "$(jget "$st" 'j["total"]["zerocopy"]')" 0 "total zerocopy (copy mode)"
	assert_eq "$(jget "$st" 'j["total"]["frames_total"]')" 12288 "total frames_total"
	# Prometheus: each interface's figures apart, once each
	ctl stats --prometheus >"$D_DIR/prom"
	assert_eq "$(_sample "$D_DIR/prom" "xsnap_region_frames{interface=\"$LAB_IF_RX\"}")" 4096 \
		"region frames of $LAB_IF_RX"
	assert_eq "$(_sample "$D_DIR/prom" "xsnap_region_frames{interface=\"$IF2_RX\"}")" 8192 \
		"region frames of $IF2_RX"
	assert_eq "$(grep -c '^xsnap_region_frames{' "$D_DIR/prom")" 2 "xsnap_region_frames samples"
	assert_eq "$(grep -c '^xsnap_xdp_mode{.*mode="native"} 1$' "$D_DIR/prom")" 2 "native, both"
	d_detach "$IF2_RX"
	d_detach
	d_stop
	finish
}

# _sample FILE SERIES: the value of SERIES (name{labels}) in FILE, "" if
# absent.
_sample() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# _prom_ok FILE: the text format as promtool reads it (names, HELP, TYPE,
# counters ending in _total), and what promtool 2.42 does not check: no
# series twice, every sample after its family's # HELP and # TYPE.
_prom_ok() {
	local out
	if command -v promtool >/dev/null; then
		out=$(promtool check metrics <"$1" 2>&1) || fail "promtool check metrics: $out"
	else
		echo "promtool not installed (Debian package prometheus): format checked by awk only" >&2
	fi
	out=$(awk '/^#/ { if ($2 == "HELP") help[$3] = 1; if ($2 == "TYPE") type[$3] = 1; next }
		{ f = $1; sub(/\{.*/, "", f)
		  if (!help[f] || !type[f]) print "no HELP/TYPE before " $1
		  if (seen[$1]++) print "twice: " $1 }' "$1")
	[[ -z $out ]] || fail "$out"
}

# xsnapd --metrics ADDR:PORT: GET /metrics answers the Prometheus text
# format 0.0.4, which promtool accepts; a tenant's figures, labelled by
# interface and tenant, move with its traffic and delivered equals what
# its consumer received; interface-wide figures come once per interface,
# never per tenant; xsnapctl stats --prometheus writes the same series.
# Other paths get 404, other methods 405.  Scrapers that hang (silent, a
# request dripping in, a 64 KiB head) neither stall a scrape meanwhile nor
# keep their connection past 5 s; with all 8 slots taken one more gets
# 503.  [::1]:PORT serves over IPv6, :PORT over both; without --metrics
# nothing listens.
t_metrics_endpoint() {
	command -v curl >/dev/null || skip "curl not installed"
	setup
	local port=9476 p=$D_DIR/scrape la=$D_DIR/a.log pa n code bytes if=$LAB_IF_RX out
	local url=http://127.0.0.1:9476/metrics
	_scrape() { lab_exec "$LAB_NS_RX" curl -sS --max-time 5 -D "$p.head" -o "$p" "$url"; }
	# the status code, 000 if there was no answer
	_code() { lab_exec "$LAB_NS_RX" curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@" || true; }
	d_start --metrics "127.0.0.1:$port"
	configure
	c_start "$la" -t alpha
	pa=$C_PID
	xs_gen -q --stream 1 --dport 9000 -n 2000 -r 20000
	xs_gen -q --stream 2 --dport 9001 -n 300 -r 20000
	wait_delivered alpha 2000
	c_stop "$pa" || { show "$la"; fail "alpha's consumer failed"; }
	_scrape || fail "scrape failed"
	head -n 4 "$p.head" >&2
	grep -q '^HTTP/1.1 200 OK' "$p.head" || fail "status: $(head -n 1 "$p.head")"
	grep -qi '^content-type: text/plain; version=0.0.4' "$p.head" || fail "content type"
	_prom_ok "$p"
	grep -E '^(# [A-Z]+ )?xsnap_(rx_frames_total|region_frames|zerocopy|xdp_mode)[ {]|reason="deliver"' \
		"$p" | head -n 12 >&2
	assert_eq "$(_sample "$p" "xsnap_rx_frames_total{interface=\"$if\",tenant=\"alpha\"}")" 2000 \
		"alpha's rx_frames"
	assert_eq "$(_sample "$p" "xsnap_delivered_total{interface=\"$if\",tenant=\"alpha\"}")" \
		"$(field "$la" frames)" "alpha's delivered = what its consumer received"
	assert_eq "$(_sample "$p" "xsnap_xdp_tenant_frames_total{interface=\"$if\",tenant=\"alpha\"}")" \
		2000 "alpha's frames at XDP"
	assert_eq "$(_sample "$p" "xsnap_rx_frames_total{interface=\"$if\",tenant=\"beta\"}")" 300 \
		"beta's rx_frames"
	assert_eq "$(_sample "$p" "xsnap_xdp_mode{interface=\"$if\",mode=\"native\"}")" 1 "xdp_mode native"
	assert_eq "$(_sample "$p" "xsnap_xdp_mode{interface=\"$if\",mode=\"generic\"}")" 0 "xdp_mode generic"
	assert_eq "$(_sample "$p" "xsnap_zerocopy{interface=\"$if\"}")" 0 "zerocopy (veth: copy mode)"
	assert_ge "$(_sample "$p" "xsnap_xdp_frames_total{interface=\"$if\",reason=\"deliver\"}")" 2300 \
		"XDP deliver verdicts"
	# interface-wide: one sample per interface (per reason, per mode), no tenant label
	for n in region_frames region_frames_free zerocopy kernel_rx_dropped_total \
		kernel_fill_empty_total kernel_rx_ring_full_total; do
		assert_eq "$(grep -c "^xsnap_$n{" "$p")" 1 "samples of xsnap_$n"
		grep -q "^xsnap_$n{interface=\"$if\"} " "$p" || fail "xsnap_$n: labels"
	done
	assert_eq "$(grep -c '^xsnap_xdp_frames_total{.*reason="deliver"' "$p")" 1 "deliver samples"
	! grep -E '^xsnap_(region_|kernel_|zerocopy|xdp_mode|xdp_frames)[^ ]*tenant=' "$p" ||
		fail "interface-wide figures labelled by tenant"
	# moves with traffic (no consumer now: the log keeps them)
	xs_gen -q --stream 1 --seq-start 2000 --dport 9000 -n 500 -r 20000
	_rx2500() { _scrape && [[ $(_sample "$p" "xsnap_rx_frames_total{interface=\"$if\",tenant=\"alpha\"}") == 2500 ]]; }
	wait_for 10 _rx2500 || fail "alpha's rx_frames after 500 more: $(grep 'rx_frames_total.*alpha' "$p")"
	# the CLI's textfile output: the same series, from the same formatter
	ctl stats --prometheus >"$D_DIR/cli"
	_prom_ok "$D_DIR/cli"
	assert_eq "$(awk '{ print $1 }' "$D_DIR/cli")" "$(awk '{ print $1 }' "$p")" \
		"series of xsnapctl stats --prometheus and of the endpoint"
	grep -q "^xsnap_rx_frames_total{interface=\"$if\",tenant=\"alpha\"} 2500\$" "$D_DIR/cli" ||
		fail "xsnapctl stats --prometheus: alpha's rx_frames"
	ctl stats --prometheus beta >"$D_DIR/cli"
	assert_eq "$(grep -o 'tenant="[a-z]*"' "$D_DIR/cli" | sort -u)" 'tenant="beta"' \
		"tenants in xsnapctl stats --prometheus beta"
	assert_eq "$(_code "http://127.0.0.1:$port/")" 404 "GET /"
	assert_eq "$(_code "http://127.0.0.1:$port/metricsx")" 404 "GET /metricsx"
	assert_eq "$(_code -X POST "$url")" 405 "POST /metrics"
	assert_eq "$(_code -X DELETE "$url")" 405 "DELETE /metrics"
	assert_eq "$(_code -I "$url")" 200 "HEAD /metrics"
	# hostile scrapers
	out=$(lab_exec "$LAB_NS_RX" "$XS_PYTHON" -S "$LIB/scrape_abuse.py" hang 127.0.0.1 "$port")
	echo "$out" | sed 's/^/    /' >&2
	grep -q '^huge 431$' <<<"$out" || fail "a 64 KiB request head: not 431"
	read -r _ code n bytes < <(grep '^scrape ' <<<"$out")
	assert_eq "$code" 200 "a scrape while others hang"
	((n < 1000)) || fail "a scrape while others hang took $n ms"
	assert_ge "$bytes" 1000 "bytes of that scrape"
	assert_eq "$(grep -c '^closed ' <<<"$out")" 3 "hanging connections reported"
	while read -r _ _ n; do
		[[ $n != never ]] && ((n >= 4500 && n < 8000)) ||
			fail "a hanging connection closed after $n ms, not about 5000"
	done < <(grep '^closed ' <<<"$out")
	out=$(lab_exec "$LAB_NS_RX" "$XS_PYTHON" -S "$LIB/scrape_abuse.py" limit 127.0.0.1 "$port" 8)
	echo "$out" | sed 's/^/    /' >&2
	grep -q '^over 503$' <<<"$out" || fail "a 9th connection: not 503"
	grep -q '^after 200$' <<<"$out" || fail "no scrape once the 8 closed"
	kill -0 "$D_PID" || fail "xsnapd died"
	ctl status >/dev/null || fail "xsnapd does not answer after the abuse"
	d_detach
	d_stop
	# IPv6, in brackets
	d_start --metrics "[::1]:$port"
	assert_eq "$(_code -g "http://[::1]:$port/metrics")" 200 "GET over IPv6"
	assert_eq "$(_code "$url")" 000 "127.0.0.1 with --metrics [::1]:PORT"
	d_stop
	# :PORT, every address of both families
	d_start --metrics ":$port"
	assert_eq "$(_code -g "http://[::1]:$port/metrics")" 200 "GET over IPv6 with :PORT"
	assert_eq "$(_code "$url")" 200 "GET over IPv4 with :PORT"
	d_stop
	# off by default
	d_start
	assert_eq "$(_code "$url")" 000 "a scrape without --metrics"
	assert_eq "$(lab_exec "$LAB_NS_RX" ss -Htln | wc -l)" 0 "TCP listeners without --metrics"
	d_stop
	finish
}

# bash completion (scripts/xsnapctl.bash-completion, installed by make
# install): commands, subcommands, each command's options as its help lists
# them, option values, interfaces, and tenant names asked of the daemon
# named by -S.
t_cli_completion() {
	daemon_up
	local got
	# shellcheck source=../../scripts/xsnapctl.bash-completion
	source "$LIB/../../scripts/xsnapctl.bash-completion"
	_comp() {
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_xsnapctl
		echo "${COMPREPLY[*]}"
	}
	assert_eq "$(_comp "$XSNAPCTL" '')" "attach detach status tenant rule stats dump snapshot audit help" "commands"
	assert_eq "$(_comp "$XSNAPCTL" tenant '')" "add del list" "tenant subcommands"
	assert_eq "$(_comp "$XSNAPCTL" attach x --mode '')" "auto native skb" "--mode values"
	assert_eq "$(_comp "$XSNAPCTL" rule add t udp --action d)" "deliver drop" "--action values"
	got=$(_comp "$XSNAPCTL" attach x --)
	[[ " $got " == *" --queue-groups "* && " $got " == *" --timestamps "* ]] ||
		fail "attach options: $got"
	assert_eq "$(_comp "$XSNAPCTL" -S "$D_SOCK" stats '')" "alpha beta" "tenant names for stats"
	assert_eq "$(_comp "$XSNAPCTL" -S "$D_SOCK" tenant del a)" "alpha" "tenant names for tenant del"
	assert_eq "$(lab_exec "$LAB_NS_RX" bash -c 'source "$1"; COMP_WORDS=(xsnapctl attach xs-r); COMP_CWORD=2; _xsnapctl; echo "${COMPREPLY[*]}"' \
		sh "$LIB/../../scripts/xsnapctl.bash-completion")" "$LAB_IF_RX" "interface names"
	d_stop
	finish
}

# The systemd units (scripts/xsnapd.service, xsnapd.socket) pass
# systemd-analyze verify with the daemon's path substituted, as make
# install does; and socket activation works: systemd-socket-activate holds
# the listening socket (PID 1 here is not systemd), starts xsnapd on the
# first connection with LISTEN_FDS, and that client, root and the socket
# group's member are served while another uid is refused by the socket's
# mode.
t_units_and_activation() {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
	setup
	local u=$D_DIR/units sock=$D_DIR/act/xsnapd.sock pid out rc=0
	mkdir -p "$u/man/man8" "$D_DIR/act"
	chmod 0755 "$D_DIR" "$D_DIR/act"
	sed "s|/usr/local/sbin/xsnapd|$XSNAPD|" "$LIB/../../scripts/xsnapd.service" >"$u/xsnapd.service"
	cp "$LIB/../../scripts/xsnapd.socket" "$u/"
	cp "$LIB/../../docs/xsnapd.8" "$u/man/man8/"
	MANPATH=$u/man systemd-analyze verify "$u/xsnapd.service" "$u/xsnapd.socket" ||
		fail "systemd-analyze verify"
	lab_bg --log "$D_LOG" "$LAB_NS_RX" systemd-socket-activate --seqpacket -l "$sock" \
		"$XSNAPD" -S "$sock" -G "$NOBODY" -v >/dev/null
	pid=$LAB_BG_PID
	wait_for 10 test -S "$sock" || fail "systemd-socket-activate did not listen"
	chgrp "$NOBODY" "$sock"
	chmod 0660 "$sock"
	# the first connection starts the daemon, which takes the socket
	out=$("$XSNAPCTL" -S "$sock" status 2>&1) || { show "$D_LOG"; fail "status: $out"; }
	[[ $out == "no interface attached"* ]] || fail "status: $out"
	grep -q 'xsnapd' "/proc/$pid/cmdline" || fail "pid $pid is not xsnapd: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
	"$XSNAPCTL" -S "$sock" attach "$LAB_IF_RX" || fail "attach through the activated daemon"
	# a member of the socket's group is served, anyone else refused
	setpriv --reuid=65533 --regid="$NOBODY" --clear-groups "$XSNAPCTL" -S "$sock" status \
		>/dev/null || fail "a member of the socket group was refused"
	setpriv --reuid=65533 --regid=65533 --clear-groups "$XSNAPCTL" -S "$sock" status \
		>/dev/null 2>&1 && fail "a uid outside the socket group was served"
	"$XSNAPCTL" -S "$sock" detach "$LAB_IF_RX"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	assert_eq "$rc" 0 "xsnapd's exit status on SIGTERM"
	finish
}

# Deleting a tenant under a connected consumer that took everything: its
# next recv fails with ENOENT (revoked; test_hostile tenant_del_revokes has
# one that still has frames to read).
t_tenant_del_live() {
	daemon_with_alpha
	local la=$A_LOG pa=$A_PID
	feed_alpha 300
	ctl tenant del alpha
	c_recv_fails "$pa" "$la" ENOENT 'No such file or directory' "after its tenant was deleted"
	assert_eq "$(field "$la" frames)" 300 "frames drained before ENOENT"
	[[ $(ctl rule list) == *"beta"* && $(ctl rule list) != *"alpha"* ]] ||
		fail "alpha's rules were not removed"
	check_conservation
	d_detach
	d_stop
	finish
}

# xs_gen_bg ARGS...: xsnap-gen in the background (sets GEN_PID).
xs_gen_bg() {
	lab_bg "$LAB_NS_TX" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" \
		--src "$LAB_IP_TX" --dst "$LAB_IP_RX" "$@" >/dev/null
	GEN_PID=$LAB_BG_PID
}

_no_sockets() { (($(tstat "$1" sockets) == 0)); }

# 100 kills take 30-60 s on a busy 2-core machine, more under ASan
LAB_TIMEOUT_consumer_kill9_reclaimed=400

# kill -9 of a consumer that holds frames, KILLS (default 100) times under
# traffic: the daemon reclaims what each held, frames stay conserved, and the
# other tenant's stream (the victim) loses and corrupts nothing.
t_consumer_kill9_reclaimed() {
	daemon_up
	local lb=$D_DIR/b.log gb i kills=${KILLS:-100} n
	victim_start alpha 9000 1000000 2000
	# beta's load for as long as the kills take
	xs_gen_bg -q --stream 2 --dport 9001 -n 1000000 -r 2000
	gb=$GEN_PID
	# each killed once it holds frames (ready after its first frame, -F);
	# one at a time: a holder fills its tenant's log, a second one would
	# starve (C2/C3: a stalled tenant drops its own frames)
	for ((i = 1; i <= kills; i++)); do
		c_start "$lb.k" -t beta -m hold -s 2 -F
		kill -KILL "$C_PID"
		wait "$C_PID" 2>/dev/null || true
		kill -0 "$D_PID" || fail "xsnapd died at kill $i"
	done
	lab_stop "$gb" 5 || true
	wait "$gb" 2>/dev/null || true
	wait_for 5 _no_sockets beta || fail "beta sockets left after the kills"
	check_conservation
	n=$(grep -c 'socket(s) reclaimed' "$D_LOG" || true)
	assert_ge "$n" "$kills" "connections reclaimed by the daemon"
	victim_check --stop
	# beta's log was released by the dead consumers: a new consumer gets
	# every frame that reaches XDP for beta, in order, without quota drops
	victim_start beta 9001 3000 2000
	victim_check
	check_conservation
	record_figure consumer_kills "$kills"
	d_detach
	d_stop
	finish
}

# E5: a client killed while its snapshot pins frames of its tenant's log.
# The daemon closes the snapshot with the connection, so the log evicts
# past the pinned range again: a new consumer of the tenant then gets 3 000
# frames through a 1 024-frame log without a quota drop (with the pin
# left, eviction would stop at it and the log would drop), and every
# chunk's references match their holders (check_conservation: the audit).
t_e5_dead_client_snapshot_released() {
	daemon_up
	local lh=$D_DIR/h.log _held
	c_start "$lh" -t beta -m snaphold -n 500 -k 500
	xs_gen -q --stream 2 --dport 9001 -n 500 -r 20000
	_held() { grep -q '^snapshot held 500$' "$lh"; }
	wait_for 10 _held || { show "$lh"; fail "the client did not take its snapshot"; }
	kill -KILL "$C_PID"
	wait "$C_PID" 2>/dev/null || true
	wait_for 5 _no_sockets beta || fail "beta's socket left after the kill"
	check_conservation
	victim_start beta 9001 3000 2000
	victim_check
	check_conservation
	d_detach
	d_stop
	finish
}

# A frame handle kept by an unprivileged client after it released the frame
# is refused by cow, commit, send and release (ESTALE, counted), right away
# and once its view holds a later frame (alpha's quota is 1 024: seq + 1 024
# reuses it); the frame that reused the view is untouched.
t_stale_frame_handle() {
	daemon_up
	local ls=$D_DIR/stale.log
	c_start "$ls" --as-nobody -t alpha -m stale -k 1024
	xs_gen -q --stream 1 --dport 9000 -n 1100 -r 20000
	c_wait "$C_PID" "$ls" "stale client hangs"
	assert_eq "$C_RC" 0 "stale handles refused"
	local when call
	for when in released reused; do
		for call in cow commit send; do
			grep -q "^stale $when: $call: Stale file handle$" "$ls" ||
				fail "$call of a $when handle: not ESTALE"
		done
		grep -q "^stale $when: bad_releases +2$" "$ls" || fail "$when: release not counted"
	done
	grep -q '^stale reused: holder seq 1025 intact yes$' "$ls" || fail "holder of the view"
	check_conservation
	d_detach
	d_stop
	finish
}

# The receive API through xsnapd, from unprivileged processes: share mode
# across three processes (every frame to exactly one member, every flow to
# one member), xsnap_fd() under epoll, and xsnap_recvfrom() with the
# sender's address.
t_api_connected() {
	daemon_up
	local i pids=() le=$D_DIR/epoll.log lr=$D_DIR/recvfrom.log pe pr
	for i in 1 2 3; do
		install -m 0600 -o "$NOBODY" /dev/null "$D_DIR/share$i.ids"
		c_start "$D_DIR/share$i.log" --as-nobody -t alpha -G 7 -I "$D_DIR/share$i.ids"
		pids+=("$C_PID")
	done
	c_start "$le" -t beta -m epoll
	pe=$C_PID
	c_start "$lr" -t beta -m recvfrom
	pr=$C_PID
	xs_gen -q --stream 1 --dport 9000 -n 3000 -r 20000 --flows 64
	xs_gen -q --stream 2 --dport 9001 -n 1000 -r 20000
	wait_delivered alpha 3000
	wait_delivered beta 2000
	local sum=0 f
	for i in 1 2 3; do
		c_stop "${pids[i - 1]}" || { show "$D_DIR/share$i.log"; fail "share member $i failed"; }
		f=$(field "$D_DIR/share$i.log" frames)
		((f > 0)) || fail "share member $i got nothing"
		assert_eq "$(field "$D_DIR/share$i.log" bad_payload)" 0 "member $i's bad payloads"
		sum=$((sum + f))
	done
	assert_eq "$sum" 3000 "share group total"
	# each frame once in the group, each flow (source port) with one member
	assert_eq "$(cat "$D_DIR"/share[123].ids | awk '{ print $1, $2 }' | sort -u | wc -l)" 3000 \
		"distinct frames over the group"
	assert_eq "$(for i in 1 2 3; do awk '{ print $4 }' "$D_DIR/share$i.ids" | sort -u; done |
		sort | uniq -d | wc -l)" 0 "flows split across members"
	assert_eq "$(cat "$D_DIR"/share[123].ids | awk '{ print $4 }' | sort -u | wc -l)" 64 "flows"
	c_stop "$pe" || { show "$le"; fail "epoll consumer failed"; }
	c_stop "$pr" || { show "$lr"; fail "recvfrom consumer failed"; }
	show "$le"
	show "$lr"
	assert_eq "$(field "$le" frames)" 1000 "frames through epoll"
	(($(field "$le" wakeups) >= 1)) || fail "epoll never reported the socket readable"
	assert_eq "$(field "$lr" datagrams)" 1000 "datagrams through recvfrom"
	assert_eq "$(field "$lr" bad)" 0 "recvfrom payloads that do not verify"
	grep -q "^datagrams 1000 bad 0 src $LAB_IP_TX:[0-9]*\$" "$lr" ||
		fail "recvfrom: not one source, $LAB_IP_TX"
	check_conservation
	d_detach
	d_stop
	finish
}

# Copy-on-write through xsnapd, unprivileged: a writer process makes 50
# received frames private (in its tenant instance's pool, mapped writable
# only into the tenant's processes), marks them and commits them.  Its own
# second socket, which held the frames already, keeps reading them as sent
# (version 0); a reader in another process that had not received them yet
# gets the committed versions (version 1, marked), through its read-only
# mapping of the same pool.  A tenant added with --pool 8 gets 8 private
# versions and then ENOBUFS.  Frames and references conserved.
t_cow_connected() {
	daemon_up
	local lw=$D_DIR/cow.log ll=$D_DIR/late.log go=$D_DIR/go pl pw _committed
	c_start "$ll" --as-nobody -t alpha -m late -n 50 -g "$go"
	pl=$C_PID
	c_start "$lw" --as-nobody -t alpha -m cow -s 2 -n 50
	pw=$C_PID
	xs_gen -q --stream 1 --dport 9000 -n 50 -r 20000
	_committed() { grep -q '^committed ' "$lw"; }
	wait_for 10 _committed || { show "$lw"; fail "the writer did not finish"; }
	show "$lw"
	grep -q '^committed 50 early_intact 50 writer_sees 50$' "$lw" ||
		fail "writer: not every frame committed, or a holder saw the change"
	: >"$go"
	c_wait "$pl" "$ll" "late reader hangs"
	assert_eq "$C_RC" 0 "late reader"
	grep -q '^late 50 committed 50$' "$ll" || fail "late reader: not the committed versions"
	c_stop "$pw" || { show "$lw"; fail "writer failed"; }
	# --pool is enforced
	local lp=$D_DIR/pool8.log
	ctl tenant add small --quota 256 --pool 8 --uid "$NOBODY"
	ctl rule add small 'udp dst port 9002' --prio 10 >/dev/null
	c_start "$lp" --as-nobody -t small -m cow -s 2 -n 10
	xs_gen -q --stream 3 --dport 9002 -n 10 -r 20000
	_committed() { grep -q '^committed ' "$lp"; }
	wait_for 10 _committed || { show "$lp"; fail "the --pool 8 writer did not finish"; }
	show "$lp"
	grep -q '^cow 8: No buffer space available$' "$lp" || fail "the 9th private version was not refused"
	grep -q '^committed 8 ' "$lp" || fail "--pool 8: not 8 private versions"
	c_stop "$C_PID" || true
	check_conservation
	d_detach
	d_stop
	finish
}

# The reflector example as an unprivileged tenant of xsnapd: copy-on-write
# each frame, swap its addresses, send it back; then --forward (unmodified).
# What comes back on the wire, captured in the tx namespace, is byte-exact
# (tests/lib/pcapcmp.py).  _reflect_tenant MODE [TENANT PORT].  The daemon
# copies what a client could change or what is outside the UMEM (pool
# versions, a private view's frames) into memory no client writes, and
# forwards a received frame of the shared view without a copy: tx_copied
# tells the two apart.
_reflect_tenant() {
	local mode=$1 tenant=${2:-alpha} port=${3:-9000}
	local cap=$D_DIR/cap$1$tenant.pcap rl=$D_DIR/refl$1$tenant.log pr pc _caught
	local rd=$D_DIR/nb/refl$1$tenant.ready
	: >"$rl"
	install -d -m 0700 -o "$NOBODY" "$D_DIR/nb"	# where the reflector may write
	lab_bg --log "$rl" "$LAB_NS_RX" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
		--inh-caps=-all --bounding-set=-all "$XS_BUILD/examples/xsnap-reflector" -t "$tenant" \
		-S "$D_SOCK" -R "$rd" $mode >/dev/null
	pr=$LAB_BG_PID
	wait_for 10 test -e "$rd" || { show "$rl"; show "$D_LOG"; fail "reflector did not start"; }
	lab_bg --log "$D_DIR/tcpdump$1$tenant.log" "$LAB_NS_TX" tcpdump -i "$LAB_IF_TX" -U -n -w "$cap" \
		udp >/dev/null
	pc=$LAB_BG_PID
	wait_for 10 grep -q 'listening on' "$D_DIR/tcpdump$1$tenant.log" || fail "tcpdump did not start"
	XSNAP_GEN_TAPS=1 xs_gen -q --stream 1 --dport "$port" -n 200 -r 10000
	_caught() { (($(/usr/bin/python3 -S "$LIB/pcapcmp.py" count "$cap" 2>/dev/null || echo 0) >= 400)); }
	if ! wait_for 10 _caught; then
		lab_stop "$pr" 5 || true
		show "$rl"
		grep -i 'send\|pool' "$D_LOG" | tail -5 >&2
		fail "$mode: only $(/usr/bin/python3 -S "$LIB/pcapcmp.py" count "$cap") of 400 frames captured"
	fi
	lab_stop "$pc" 5 || true
	lab_stop "$pr" 5 || true
	show "$rl"
	/usr/bin/python3 -S "$LIB/pcapcmp.py" reflect "$cap" "$LAB_MAC_TX" $mode ||
		fail "$mode: reflected frames differ"
	grep -q 'received 200 sent 200 failed 0' "$rl" || fail "$mode: reflector counts"
}

# The UDP echo example as an unprivileged tenant of xsnapd: datagrams to
# port 9000 (alpha's rule) read with xsnap_recvfrom, replies through kernel
# UDP sockets; IPv4 and IPv6 clients each get their 20 echoes.
t_udp_echo_tenant() {
	daemon_up
	local el=$D_DIR/echo.log rd=$D_DIR/nb/echo.ready pe out
	install -d -m 0700 -o "$NOBODY" "$D_DIR/nb"
	: >"$el"
	lab_bg --log "$el" "$LAB_NS_RX" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
		--inh-caps=-all --bounding-set=-all "$XS_BUILD/examples/xsnap-udp-echo" -t alpha \
		-S "$D_SOCK" -p 9000 -R "$rd" >/dev/null
	pe=$LAB_BG_PID
	wait_for 10 test -e "$rd" || { show "$el"; fail "the echo server did not start"; }
	out=$(lab_exec "$LAB_NS_TX" /usr/bin/python3 -S "$LIB/echo_client.py" "$LAB_IP_RX" "$LAB_IP6_RX" 9000)
	assert_eq "$out" "echoed 40" "UDP echo through xsnapd"
	lab_stop "$pe" 5 || true
	show "$el"
	grep -q 'echoed 40 datagrams' "$el" || fail "server count"
	check_conservation
	d_detach
	d_stop
	finish
}

t_reflector_tenant() {
	command -v tcpdump >/dev/null || skip "tcpdump not installed"
	daemon_up
	_reflect_tenant ""
	_reflect_tenant --forward
	# alpha reads a private view: its forwarded frames are copies outside
	# the UMEM and its reflected ones private versions in its pool, so
	# xsnapd copied each of the 400 into memory no client writes
	assert_eq "$(tstat alpha tx_frames)" 400 "alpha's frames sent"
	assert_eq "$(tstat alpha tx_copied)" 400 "alpha's frames sent from a copy"
	# on the shared view a received frame goes out as it is: no copy
	ctl tenant add zc --quota 1024 --uid "$NOBODY" --view shared
	ctl rule add zc 'udp dst port 9005' --prio 10 >/dev/null
	_reflect_tenant --forward zc 9005
	assert_eq "$(tstat zc tx_frames)" 200 "zc's frames sent"
	assert_eq "$(tstat zc tx_copied)" 0 "zc's frames sent from a copy (zero-copy forward)"
	_reflect_tenant "" zc 9005
	assert_eq "$(tstat zc tx_copied)" 200 "zc's reflected frames (private versions) copied"
	check_conservation
	d_detach
	d_stop
	finish
}

# A consumer that writes into a received frame dies of SIGSEGV; one that
# tries to map the receive region or its log writable is refused; the
# daemon and the other consumers are unaffected.
t_isolation_mmu() {
	daemon_up
	local la=$D_DIR/a.log lw=$D_DIR/w.log lm=$D_DIR/m.log pa pw pm rc=0
	victim_start beta 9001
	c_start "$la" --as-nobody -t alpha
	pa=$C_PID
	c_start "$lw" --as-nobody -t alpha -m write
	pw=$C_PID
	c_start "$lm" --as-nobody -t alpha -m mmapw
	pm=$C_PID
	xs_gen -q --stream 1 --dport 9000 -n 500 -r 20000
	wait "$pw" || rc=$?
	show "$lw"
	assert_eq "$rc" $((128 + 11)) "writer's exit status (SIGSEGV)"
	rc=0
	wait "$pm" || rc=$?
	show "$lm"
	assert_eq "$rc" 0 "mmap/mprotect attempts refused"
	grep -q 'mmap receive region writable: Permission denied' "$lm" || fail "rx mmap not refused"
	grep -q 'double release: bad_releases [1-9]' "$lm" || fail "double release not counted"
	kill -0 "$D_PID" || fail "xsnapd died"
	xs_gen -q --stream 1 --seq-start 500 --dport 9000 -n 500 -r 20000
	# the mmap prober took and released one frame (the writer died holding
	# its own: delivered counts what sockets released)
	wait_delivered alpha 1001
	c_stop "$pa" || { show "$la"; fail "alpha's consumer failed"; }
	show "$la"
	assert_eq "$(field "$la" frames)" 1000 "the other consumer got every frame"
	assert_eq "$(field "$la" seq_gaps)" 0 "the other consumer's sequence gaps"
	victim_check
	check_conservation
	d_stop
	finish
}

# Malformed, oversized, truncated, wrong-version, unknown-op, wrong
# descriptor count, forged and stale handles: an error or a disconnect of
# that client only.
t_hostile_messages() {
	daemon_up
	local la=$D_DIR/a.log lh=$D_DIR/h.log pa rc=0
	victim_start beta 9001
	c_start "$la" -t alpha
	pa=$C_PID
	c_start "$lh" --as-nobody -t alpha -m hostile
	wait "$C_PID" || rc=$?
	show "$lh"
	assert_eq "$rc" 0 "hostile client checks"
	feed_alpha 500
	c_stop "$pa" || { show "$la"; fail "alpha's consumer failed"; }
	assert_eq "$(field "$la" frames)" 500 "a well-behaved consumer is unaffected"
	victim_check
	d_stop
	finish
}

# kill -9 of the daemon: the kernel drops its bpf_link, so no XDP program is
# left; consumers get an error, not a hang; a restarted daemon attaches
# again with no manual cleanup.
t_daemon_kill9_restart() {
	daemon_with_alpha
	local la=$A_LOG pa=$A_PID
	xs_gen -q --stream 1 --dport 9000 -n 200 -r 20000
	kill -KILL "$D_PID"
	wait "$D_PID" 2>/dev/null || true
	c_recv_fails "$pa" "$la" ECONNRESET 'Connection reset by peer' "after the daemon died"
	wait_for 5 sh -c "! ip netns exec $LAB_NS_RX ip -d link show dev $LAB_IF_RX | grep -q prog/xdp" ||
		fail "an XDP program is left after the daemon died"
	# D12: the pins the dead daemon left are removed by the next attach;
	# one program on the interface, not two
	[[ -n $(ls "$LAB_BPFFS_RX/xsnap" 2>/dev/null) ]] || echo "no pins were left behind" >&2
	d_start
	configure
	grep -q 'removing stale pins' "$D_LOG" || fail "stale pins of the killed daemon not reported"
	assert_eq "$(lab_exec "$LAB_NS_RX" ip -d link show dev "$LAB_IF_RX" | grep -c 'prog/xdp')" 1 \
		"XDP programs on $LAB_IF_RX after the restart"
	c_start "$la" -t alpha
	pa=$C_PID
	feed_alpha 300
	c_stop "$pa" || { show "$la"; fail "consumer after restart failed"; }
	assert_eq "$(field "$la" frames)" 300 "consumer after restart"
	d_detach
	d_stop
	finish
}

# ip link del of the attached interface: the daemon survives and reports it,
# consumers get -ENETDOWN, nothing leaks.
t_link_del() {
	daemon_with_alpha
	xs_gen -q --stream 1 --dport 9000 -n 200 -r 20000
	lab_exec "$LAB_NS_RX" ip link del "$LAB_IF_RX"
	c_recv_fails "$A_PID" "$A_LOG" ENETDOWN 'Network is down' "after the link was removed"
	kill -0 "$D_PID" || fail "xsnapd died"
	grep -q "$LAB_IF_RX: interface removed" "$D_LOG" || fail "xsnapd did not report the removal"
	ctl status | grep -q "$LAB_IF_RX: gone" || fail "status does not show the interface gone"
	d_detach
	d_stop
	finish
}

_link_is_down() { ! ip -n "$LAB_NS_RX" link show dev "$LAB_IF_RX" | grep -q LOWER_UP; }

# Interface down, then up: the daemon and the consumer ride it out and
# traffic resumes on the same sockets; no frame leaks.
t_link_down_up() {
	daemon_with_alpha
	local la=$A_LOG pa=$A_PID
	feed_alpha 200
	lab_exec "$LAB_NS_RX" ip link set dev "$LAB_IF_RX" down
	wait_for 5 _link_is_down || fail "link did not go down"
	# while down, nothing reaches the queue; the daemon keeps its sockets
	kill -0 "$D_PID" || fail "xsnapd died while the link was down"
	check_conservation
	lab_exec "$LAB_NS_RX" ip link set dev "$LAB_IF_RX" up
	wait_for 10 sh -c "ip netns exec $LAB_NS_RX ip link show dev $LAB_IF_RX | grep -q LOWER_UP" ||
		fail "link did not come back"
	xs_gen -q --stream 1 --seq-start 200 --dport 9000 -n 300 -r 20000
	wait_delivered alpha 500
	kill -0 "$D_PID" || fail "xsnapd died"
	c_stop "$pa" || { show "$la"; fail "consumer failed"; }
	show "$la"
	assert_eq "$(field "$la" frames)" 500 "frames before and after the flap"
	assert_eq "$(field "$la" seq_gaps)" 0 "sequence gaps across the flap"
	ctl status | grep -q 'attached via bpf_link' || fail "status after the flap"
	d_detach
	d_stop
	finish
}

# A two-queue veth: attach opens both queues; frames that arrive on either
# reach the tenant's socket.
t_multiqueue() {
	setup --queues 2
	d_start
	configure
	local la=$D_DIR/a.log pa st q0 q1
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'len(j["interfaces"][0]["queues"])')" 2 "queues opened"
	c_start "$la" -t alpha
	pa=$C_PID
	# AF_PACKET on veth picks the rx queue from the sending CPU (E6: all on
	# queue 0 from one CPU), so send from each CPU in turn
	for cpu in 0 1; do
		lab_exec "$LAB_NS_TX" taskset -c "$cpu" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" \
			--src "$LAB_IP_TX" --dst "$LAB_IP_RX" -q --stream $((cpu + 1)) --dport 9000 \
			-n 500 -r 20000
	done
	wait_delivered alpha 1000
	q0=$(lab_exec "$LAB_NS_RX" ethtool -S "$LAB_IF_RX" | awk '/rx_queue_0_xdp_packets/ { print $2 }')
	q1=$(lab_exec "$LAB_NS_RX" ethtool -S "$LAB_IF_RX" | awk '/rx_queue_1_xdp_packets/ { print $2 }')
	echo "XDP packets per rx queue: queue 0 $q0, queue 1 $q1" >&2
	c_stop "$pa" || { show "$la"; fail "consumer failed"; }
	show "$la"
	assert_ge "$q0" 500 "frames on queue 0"
	assert_ge "$q1" 500 "frames on queue 1"
	assert_eq "$(field "$la" frames)" 1000 "frames from both queues"
	d_detach
	d_stop
	finish
}

# Attach with default sizes to a veth of N queues (16, 64): the ring and
# region defaults scale with the queue count, so the README's plain `attach
# IFACE` works on a NIC with many queues.  Kernel UDP from many source
# ports spreads over every queue (the sender's tx queue, hence the rx queue,
# follows the flow hash); one consumer must receive from every one of them.
many_queues() {
	local n=$1 la=$D_DIR/a.log pa st flows=$(($1 * 32)) sent got i x missing=
	setup --queues "$n"
	d_start
	configure
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'len(j["interfaces"][0]["queues"])')" "$n" "queues opened"
	c_start "$la" -t alpha
	pa=$C_PID
	sent=$(lab_exec "$LAB_NS_TX" "$XS_PYTHON" -S "$XS_ROOT/tests/lib/udp_flows.py" "$LAB_IP_RX" 9000 \
		--flows "$flows" --per-flow 2 | awk '/^sent/ { print $2 }')
	assert_eq "$sent" $((flows * 2)) "datagrams sent"
	wait_delivered alpha "$sent" 20
	for ((i = 0; i < n; i++)); do
		x=$(lab_exec "$LAB_NS_RX" ethtool -S "$LAB_IF_RX" |
			awk -v q="rx_queue_${i}_xdp_packets:" '$1 == q { print $2 }')
		((${x:-0} > 0)) || missing+=" $i"
	done
	[[ -z $missing ]] || fail "no frame reached rx queue(s)$missing (flows spread badly?)"
	c_stop "$pa" || { show "$la"; fail "consumer failed"; }
	show "$la"
	assert_eq "$(field "$la" frames)" "$sent" "frames received"
	assert_eq "$(field "$la" queues)" "$n" "receive queues seen by the consumer"
	got=$(tstat alpha rx_frames)
	assert_eq "$got" "$sent" "frames logged"
	d_detach
	d_stop
	finish
}

t_queues16_defaults() { many_queues 16; }
t_queues64_defaults() { many_queues 64; }

lab_main "$@"
