# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# tests/lib/xsnapd.sh: helpers for lab tests that run xsnapd in the rx
# namespace and drive it through xsnapctl (tests/lib/lab.sh and
# tests/lib/xsnap.sh must be sourced first).
#
#   setup [LAB_UP ARGS]   leak snapshot, lab_up, a private dir D_DIR with the
#                         socket path D_SOCK and the daemon log D_LOG
#   d_start / d_stop      start xsnapd (ready when it answers) / SIGTERM it and
#                         assert a clean exit that removed its socket
#   ctl ARGS...           xsnapctl against this daemon
#   c_start LOG [--as-nobody] ARGS...
#                         start a consumer process (xsnap_dclient), wait until
#                         ready; C_PID.  c_stop PID: SIGTERM, its exit status
#   field LOG KEY, jget JSON EXPR, show FILE
#   finish                nothing attached, pinned or leaked; lab removed
#   configure [ATTACH ARGS]  attach + tenants alpha (uid nobody) and beta with
#                         one rule each (udp dst port 9000 / 9001)
XSNAPD=$XS_BUILD/xsnapd
XSNAPCTL=$XS_BUILD/xsnapctl
DCLIENT=$XS_BUILD/tests/netns/xsnap_dclient
NOBODY=65534
D_DIR= D_SOCK= D_LOG= D_PID=
C_PID= C_LOG=

setup() {
	[[ -x $XSNAPD && -x $XSNAPCTL && -x $DCLIENT && -x $XS_GEN ]] ||
		fail "build first: xsnapd, xsnapctl, xsnap_dclient or xsnap-gen missing"
	lab_leak_snapshot
	lab_up "$@"
	D_DIR=$(mktemp -d /tmp/xsnapd-test.XXXXXX)
	chmod 755 "$D_DIR"
	D_SOCK=$D_DIR/run/xsnapd.sock
	D_LOG=$D_DIR/xsnapd.log
}

# Start xsnapd in the rx namespace; the socket's group is nogroup so that
# the unprivileged consumer (uid/gid 65534) may connect.
d_start() {
	lab_bg --log "$D_LOG" "$LAB_NS_RX" "$XSNAPD" -S "$D_SOCK" -G "$NOBODY" -vv >/dev/null
	D_PID=$LAB_BG_PID
	# ready when it answers (a socket file left by a killed daemon does not)
	wait_for 10 "$XSNAPCTL" -S "$D_SOCK" status >/dev/null 2>&1 ||
		{ show "$D_LOG"; fail "xsnapd did not start"; }
}

d_stop() {
	kill -TERM "$D_PID" 2>/dev/null || true
	wait_for 10 test ! -d "/proc/$D_PID" || fail "xsnapd did not exit on SIGTERM"
	local rc=0
	wait "$D_PID" || rc=$?
	assert_eq "$rc" 0 "xsnapd exit status after SIGTERM"
	[[ ! -e $D_SOCK ]] || fail "xsnapd left its socket behind"
}

ctl() { "$XSNAPCTL" -S "$D_SOCK" "$@"; }

show() { sed 's/^/    /' "$1" >&2; }

# c_start LOG [setpriv args --] ARGS...: start a consumer, wait until ready.
c_start() {
	local log=$1 ready
	shift
	ready=$(mktemp -u /tmp/xsnap-ready.XXXXXX)
	: >"$log"
	local pre=()
	if [[ ${1:-} == --as-nobody ]]; then
		shift
		pre=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups --inh-caps=-all
			--bounding-set=-all)
	fi
	lab_bg --log "$log" "$LAB_NS_RX" "${pre[@]}" "$DCLIENT" -S "$D_SOCK" -R "$ready" "$@" >/dev/null
	C_PID=$LAB_BG_PID
	if ! wait_for 10 test -e "$ready" -o ! -d "/proc/$C_PID"; then
		show "$log"
		fail "consumer did not become ready"
	fi
	rm -f "$ready"
}

# c_stop PID: SIGTERM, return its exit status.
c_stop() {
	local pid=$1 rc=0
	kill -TERM "$pid" 2>/dev/null || true
	wait_for 10 test ! -d "/proc/$pid" || kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	return $rc
}

field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$1"; }

# jget JSON PYTHON-EXPR: evaluate EXPR with j = the parsed JSON.
jget() { python3 -c 'import json,sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# Nothing of ours left on the interface, in bpffs, or in the kernel.
finish() {
	if lab_exec "$LAB_NS_RX" ip -d link show dev "$LAB_IF_RX" 2>/dev/null | grep -q 'prog/xdp'; then
		fail "an XDP program is still attached to $LAB_IF_RX"
	fi
	if [[ -n $(lab_exec "$LAB_NS_RX" sh -c 'ls /sys/fs/bpf/xsnap 2>/dev/null') ]]; then
		fail "pins left under /sys/fs/bpf/xsnap"
	fi
	rm -rf "$D_DIR"
	lab_down
	lab_leak_check 5 || fail "BPF programs, maps, links or namespaces leaked"
}

# The usual configuration, through the CLI only.
configure() {
	ctl attach "$LAB_IF_RX" "$@"
	ctl tenant add alpha --quota 1024 --uid "$NOBODY"
	ctl tenant add beta --quota 1024
	ctl rule add alpha 'udp dst port 9000' --prio 10 >/dev/null
	ctl rule add beta 'udp dst port 9001' --prio 10 >/dev/null
}
