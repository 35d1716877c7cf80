# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# tests/lib/xsnapd.sh: helpers for lab tests that run xsnapd in the rx
# namespace and drive it through xsnapctl (tests/lib/harness.sh and
# tests/lib/xsnap.sh must be sourced first).
#
#   setup [LAB_UP ARGS]   leak snapshot, lab_up, a private dir D_DIR with the
#                         socket path D_SOCK and the daemon log D_LOG
#   d_start [ARGS] / d_stop  start xsnapd (ready when it answers; ARGS and
#                         $D_ENV: its options and environment) / check frame
#                         conservation if an interface is attached, SIGTERM it
#                         and assert a clean exit that removed its socket
#   d_detach [IFACE]      check frame conservation, then xsnapctl detach
#                         (default $LAB_IF_RX)
#   ctl ARGS...           xsnapctl against this daemon
#   c_start LOG [--as-nobody] ARGS...
#                         start a consumer process (xsnap_dclient), wait until
#                         ready; C_PID.  c_stop PID: SIGTERM, its exit status
#   c_start_many N LOG [--as-nobody] ARGS...
#                         N of them at once (logs LOG.1..LOG.N); C_PIDS
#   c_wait PID LOG MESSAGE [TIMEOUT_S]
#                         wait until a consumer ends by itself (fail MESSAGE
#                         after TIMEOUT_S, default 10), show its log; C_RC
#   c_recv_fails PID LOG ERRNO STRERROR WHEN
#                         a consumer ends by itself (else "consumer hangs
#                         WHEN") with exit status 3 after "recv error: STRERROR"
#   field LOG KEY, jget JSON EXPR, show FILE
#   check_conservation [STATS_JSON]
#                         every receive frame in exactly one place (free, with
#                         the kernel, in a log), and `xsnapctl audit`: every
#                         chunk's reference count equals the holders found
#                         (a leaked reference looks "logged" to the first
#                         check): asserted, and recorded as the figures
#                         conservation_checks, frames_leaked, reference_audits
#                         and audit_problems
#   tstat TENANT KEY      one counter of `xsnapctl stats -j` for TENANT
#   wait_delivered TENANT N [TIMEOUT_S]
#                         wait until TENANT's sockets took N frames in all
#   finish                lab removed (lab_down checks that no XDP program or
#                         pin is left), nothing leaked
#   configure [ATTACH ARGS]  attach + tenants alpha (uid nobody) and beta with
#                         one rule each (udp dst port 9000 / 9001)
#   daemon_up [ATTACH ARGS]  setup, d_start, configure
#
#   second_pair           a second veth pair IF2_TX (tx namespace) / IF2_RX
#                         (rx namespace, MAC2_RX) in the lab's namespaces
#                         (they take it with them); its tx end has the lab's
#                         tx MAC, so pcapcmp.py takes its frames as sent
#   gen2 ARGS...          xsnap-gen into IF2_TX towards IF2_RX
#
# Victim stream (TESTING.md 10.3 invariant 4): in a fault test aimed at one
# tenant, another tenant receives a paced, sequence-numbered stream and must
# lose and corrupt nothing:
#   victim_start TENANT PORT [FRAMES [RATE]]
#                         start TENANT's consumer (V_PID, log V_LOG) and, in
#                         the background, FRAMES (default 4000) frames of
#                         xsnap-gen stream 9 at RATE/s (default 2000) to udp
#                         dst PORT (V_GEN); TENANT must have a rule for PORT
#   victim_check [--stop] wait for the stream to end (--stop: end it now) and
#                         reach the consumer, stop the consumer and assert:
#                         frames == the frames that reached XDP for TENANT
#                         (the XDP program's per-tenant counter; veth may drop
#                         before XDP, which is reported, not blamed on the
#                         fault), no sequence gap, no bad payload, no quota
#                         drop.  Records victim_checks, victim_frames_sent,
#                         victim_frames_lost.
# The usual shape:
#   daemon_up; victim_start beta 9001
#   ... the fault aimed at alpha ...
#   victim_check; d_detach; d_stop; finish
XSNAPD=$XS_BUILD/xsnapd
XSNAPCTL=$XS_BUILD/xsnapctl
DCLIENT=$XS_BUILD/tests/netns/xsnap_dclient
NOBODY=65534
D_DIR= D_SOCK= D_LOG= D_PID=
C_PID=
C_PIDS=()
V_PID= V_GEN= V_LOG= V_TENANT= V_SENT= V_XDP0= V_DROPS0= V_DEL0=

setup() {
	[[ -x $XSNAPD && -x $XSNAPCTL && -x $DCLIENT && -x $XS_GEN ]] ||
		fail "build first: xsnapd, xsnapctl, xsnap_dclient or xsnap-gen missing"
	lab_leak_snapshot
	lab_up "$@"
	D_DIR=$(mktemp -d /tmp/xsnapd-test.XXXXXX)
	lab_tmp "$D_DIR"
	chmod 755 "$D_DIR"
	D_SOCK=$D_DIR/run/xsnapd.sock
	D_LOG=$D_DIR/xsnapd.log
}

# d_start [XSNAPD ARGS...]: start xsnapd in the rx namespace, with the
# environment assignments in $D_ENV if any; the socket's group is nogroup so
# that the unprivileged consumer (uid/gid 65534) may connect.
d_start() {
	# shellcheck disable=SC2086 # D_ENV: words VAR=VALUE
	lab_bg --log "$D_LOG" "$LAB_NS_RX" env ${D_ENV:-} "$XSNAPD" -S "$D_SOCK" -G "$NOBODY" -vv \
		"$@" >/dev/null
	D_PID=$LAB_BG_PID
	# ready when it answers (a socket file left by a killed daemon does not)
	wait_for 10 "$XSNAPCTL" -S "$D_SOCK" status >/dev/null 2>&1 ||
		{ show "$D_LOG"; fail "xsnapd did not start"; }
}

d_stop() {
	local st
	if lab_alive "$D_PID" && st=$(ctl stats -j 2>/dev/null) &&
		[[ $(jget "$st" 'j["total"]["frames_total"]') != 0 ]]; then
		check_conservation "$st"
	fi
	kill -TERM "$D_PID" 2>/dev/null || true
	wait_for 10 test ! -d "/proc/$D_PID" || fail "xsnapd did not exit on SIGTERM"
	local rc=0
	wait "$D_PID" || rc=$?
	assert_eq "$rc" 0 "xsnapd exit status after SIGTERM"
	[[ ! -e $D_SOCK ]] || fail "xsnapd left its socket behind"
}

d_detach() {
	check_conservation
	ctl detach "${1:-$LAB_IF_RX}"
}

ctl() { "$XSNAPCTL" -S "$D_SOCK" "$@"; }

show() { sed 's/^/    /' "$1" >&2; }

# ctl_err RC REGEX [--as-nobody] ARGS...: xsnapctl ARGS fails with exit
# status RC and a message on stderr matching REGEX (cause and remedy); its
# stdout goes to $D_DIR/stdout (a file, not a terminal).
ctl_err() {
	local want=$1 re=$2 rc=0 out pre=()
	shift 2
	if [[ $1 == --as-nobody ]]; then
		shift
		pre=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups)
	fi
	out=$("${pre[@]}" "$XSNAPCTL" -S "$D_SOCK" "$@" 2>&1 >"$D_DIR/stdout") || rc=$?
	echo "  xsnapctl $*: $out" >&2
	assert_eq "$rc" "$want" "exit status of xsnapctl $*"
	grep -Eq -- "$re" <<<"$out" || fail "xsnapctl $*: message does not match '$re'"
}

# c_start LOG [--as-nobody] ARGS...: start a consumer, wait until ready; C_PID.
c_start() {
	local log=$1
	shift
	c_start_many 1 "$log" "$@"
	C_PID=${C_PIDS[0]}
}

# c_start_many N LOG [--as-nobody] ARGS...: start N consumers at once (logs
# LOG.1..LOG.N, or LOG for one), wait until all are ready; C_PIDS.
c_start_many() {
	local n=$1 log=$2 i l
	shift 2
	local pre=() readies=()
	if [[ ${1:-} == --as-nobody ]]; then
		shift
		pre=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups --inh-caps=-all
			--bounding-set=-all)
	fi
	C_PIDS=()
	for ((i = 1; i <= n; i++)); do
		l=$log
		((n == 1)) || l=$log.$i
		readies+=("$(mktemp -u /tmp/xsnap-ready.XXXXXX)")
		: >"$l"
		lab_bg --log "$l" "$LAB_NS_RX" "${pre[@]}" "$DCLIENT" -S "$D_SOCK" -R "${readies[i - 1]}" \
			"$@" >/dev/null
		C_PIDS+=("$LAB_BG_PID")
	done
	for ((i = 0; i < n; i++)); do
		if ! wait_for 10 test -e "${readies[i]}" -o ! -d "/proc/${C_PIDS[i]}"; then
			l=$log
			((n == 1)) || l=$log.$((i + 1))
			show "$l"
			fail "consumer did not become ready"
		fi
		rm -f "${readies[i]}"
	done
}

# c_wait PID LOG MESSAGE [TIMEOUT_S]: wait until consumer PID ends by itself;
# after TIMEOUT_S (default 10) show its log LOG and fail MESSAGE.  Show LOG;
# the consumer's exit status in C_RC.
c_wait() {
	C_RC=0
	wait_for "${4:-10}" test ! -d "/proc/$1" || { show "$2"; fail "$3"; }
	wait "$1" || C_RC=$?
	show "$2"
}

# c_recv_fails PID LOG ERRNO STRERROR WHEN: consumer PID (log LOG) ends by
# itself (else "consumer hangs WHEN"), exit status 3, having printed
# "recv error: STRERROR" (ERRNO's message).
c_recv_fails() {
	c_wait "$1" "$2" "consumer hangs $5"
	assert_eq "$C_RC" 3 "consumer exit status"
	grep -q "recv error: $4" "$2" || fail "consumer saw no $3"
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

# jget JSON PYTHON-EXPR: evaluate EXPR with j = the parsed JSON.  Debian's
# interpreter when there is one: a python3 earlier on PATH may be a shim that
# takes a second to start (TESTING.md), and tests call this hundreds of times.
# The tests' python runs with -S (no site module: their scripts use the
# standard library only): site's .pth imports cost 0.5-1 s a start in a TCG
# VM (make test-vm), where a wait_for of 10 s then polls a few times only.
XS_PYTHON=$(command -v /usr/bin/python3 || command -v python3)
jget() { "$XS_PYTHON" -S -c 'import json,sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

tstat() { jget "$(ctl stats -j)" "j['tenants']['$1']['$2']"; }

_delivered_ge() { (($(tstat "$1" delivered) >= $2)); }

# wait_delivered TENANT N [TIMEOUT_S]: until TENANT's sockets took N frames
# in all (the daemon's delivered counter); fails after TIMEOUT_S (default 10).
wait_delivered() {
	wait_for "${3:-10}" _delivered_ge "$1" "$2" ||
		fail "tenant $1: $(tstat "$1" delivered) frames delivered, expected $2"
}

# check_conservation [STATS_JSON]: free + kernel + logged == total.
check_conservation() {
	local st=${1:-}
	[[ -n $st ]] || st=$(ctl stats -j)
	local total free kernel logged leaked
	read -r total free kernel logged < <(jget "$st" \
		'" ".join(str(j["total"][k]) for k in ("frames_total", "frames_free", "frames_kernel", "frames_logged"))')
	leaked=$((total - free - kernel - logged))
	record_figure conservation_checks 1
	record_figure frames_leaked $((leaked < 0 ? -leaked : leaked))
	assert_eq $((free + kernel + logged)) "$total" "frames free $free + kernel $kernel + logged $logged"
	local au bad
	au=$(ctl audit -j) || true
	bad=$(jget "$au" 'sum(abs(i["problems"]) for i in j["interfaces"])' 2>/dev/null) || bad=1
	record_figure reference_audits 1
	record_figure audit_problems "$bad"
	((bad == 0)) || { ctl audit >&2 || true; fail "audit: chunks whose references do not match their holders"; }
}

# Nothing of ours left on the interface, in bpffs (lab_down checks both), or
# in the kernel.
finish() {
	rm -rf "$D_DIR"
	lab_down
	lab_leak_check 5 || fail "BPF programs, maps, links or namespaces leaked"
}

IF2_TX=xs-tx2 IF2_RX=xs-rx2 MAC2_RX=02:78:73:00:00:03
second_pair() {
	ip -n "$LAB_NS_TX" link add "$IF2_TX" address "$LAB_MAC_TX" type veth \
		peer name "$IF2_RX" address "$MAC2_RX" netns "$LAB_NS_RX"
	lab_exec "$LAB_NS_TX" ethtool -K "$IF2_TX" rxvlan off txvlan off >/dev/null
	lab_exec "$LAB_NS_RX" ethtool -K "$IF2_RX" rxvlan off txvlan off >/dev/null
	ip -n "$LAB_NS_TX" link set "$IF2_TX" up
	ip -n "$LAB_NS_RX" link set "$IF2_RX" up
}

gen2() {
	XSNAP_GEN_TAPS=1 lab_exec "$LAB_NS_TX" "$XS_GEN" -i "$IF2_TX" --dmac "$MAC2_RX" \
		--src "$LAB_IP_TX" --dst "$LAB_IP_RX" "$@"
}

# The usual configuration, through the CLI only.
configure() {
	ctl attach "$LAB_IF_RX" "$@"
	ctl tenant add alpha --quota 1024 --uid "$NOBODY"
	ctl tenant add beta --quota 1024
	ctl rule add alpha 'udp dst port 9000' --prio 10 >/dev/null
	ctl rule add beta 'udp dst port 9001' --prio 10 >/dev/null
}

# daemon_up [CONFIGURE ARGS]: a lab and xsnapd with the two tenants.
daemon_up() {
	setup
	d_start
	configure "$@"
}

# daemon_with_alpha [CONFIGURE ARGS]: the start most daemon tests share: a
# lab, xsnapd with the two tenants (daemon_up), and a consumer of alpha
# (its log A_LOG, its pid A_PID).
daemon_with_alpha() {
	daemon_up "$@"
	A_LOG=$D_DIR/a.log
	c_start "$A_LOG" -t alpha
	A_PID=$C_PID
}

# feed_alpha N: N frames of stream 1 to alpha (udp dst port 9000) at 20 000
# a second, then wait until alpha's sockets have taken them all.
feed_alpha() {
	xs_gen -q --stream 1 --dport 9000 -n "$1" -r 20000
	wait_delivered alpha "$1"
}

victim_start() {
	local port=$2 rate=${4:-2000} st
	V_TENANT=$1 V_SENT=${3:-4000} V_LOG=$D_DIR/victim-$1.log
	st=$(ctl stats -j)
	read -r V_XDP0 V_DROPS0 V_DEL0 < <(_victim_counts "$st")
	read -r V_KERN0 < <(_kernel_counts "$st")
	c_start "$V_LOG" -t "$V_TENANT"
	V_PID=$C_PID
	# a veth picks the peer's rx queue by the sending CPU: with several
	# queues, one CPU keeps the stream on one queue, hence in order (the
	# victim checks the order, and queues are drained one after another)
	local -a pin=()
	((${LAB_QUEUES:-1} == 1)) || pin=(taskset -c 0)
	lab_bg "$LAB_NS_TX" "${pin[@]}" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" \
		--src "$LAB_IP_TX" --dst "$LAB_IP_RX" -q --stream 9 --dport "$port" -n "$V_SENT" \
		-r "$rate" >/dev/null
	V_GEN=$LAB_BG_PID
}

# The victim tenant's XDP count, quota drops and delivered count in STATS_JSON.
_victim_counts() {
	jget "$1" "' '.join(str(j['tenants']['$V_TENANT'][k]) for k in ('xdp_tenant_frames', 'quota_drops', 'delivered'))"
}

# The interface's kernel-side losses in STATS_JSON (XDP_STATISTICS, summed
# over the daemon's attachments): rx ring full, fill ring empty, dropped.
_kernel_counts() {
	jget "$1" "','.join(str(j['total'][k]) for k in ('kernel_rx_ring_full', 'kernel_fill_empty', 'kernel_rx_dropped'))"
}

# True once the victim's socket took every frame that reached XDP for it.
_victim_caught_up() {
	local xdp drops del
	read -r xdp drops del < <(_victim_counts "$(ctl stats -j)") || return 1
	((del - V_DEL0 >= xdp - V_XDP0))
}

victim_check() {
	local rc=0 xdp drops del frames gaps bad expected lost
	if [[ ${1:-} == --stop ]]; then
		lab_stop "$V_GEN" 5 || true
		wait "$V_GEN" 2>/dev/null || true
	else
		wait "$V_GEN" || fail "victim stream generator failed"
	fi
	# the consumer catches up within milliseconds unless frames were lost
	wait_for 10 _victim_caught_up || true
	local st kern
	st=$(ctl stats -j)
	read -r xdp drops del < <(_victim_counts "$st")
	read -r kern < <(_kernel_counts "$st")
	xdp=$((xdp - V_XDP0)) drops=$((drops - V_DROPS0))
	c_stop "$V_PID" || rc=$?
	show "$V_LOG"
	((rc == 0)) || fail "victim $V_TENANT: consumer failed (exit $rc)"
	frames=$(field "$V_LOG" frames)
	gaps=$(field "$V_LOG" seq_gaps)
	bad=$(field "$V_LOG" bad_payload)
	[[ $frames =~ ^[0-9]+$ ]] || fail "victim $V_TENANT: no report from its consumer"
	# the XDP program's count for the tenant is the oracle: veth may drop
	# before XDP (TESTING.md), which is reported, not blamed on the fault
	expected=$xdp
	if [[ ${1:-} != --stop ]] && ((xdp != V_SENT)); then
		echo "victim $V_TENANT: $xdp of $V_SENT frames reached XDP" >&2
	fi
	lost=$((expected - frames))
	((lost >= 0)) || lost=0
	((gaps + bad > lost)) && lost=$((gaps + bad))
	record_figure victim_checks 1
	record_figure victim_frames_sent "$expected"
	record_figure victim_frames_lost "$lost"
	echo "victim $V_TENANT: reached XDP $xdp, received $frames, gaps $gaps, bad $bad, quota drops $drops; kernel rx ring full, fill ring empty, dropped: $V_KERN0 before, $kern after" >&2
	assert_ge "$expected" 1 "victim $V_TENANT: frames that reached XDP"
	assert_eq "$frames" "$expected" "victim $V_TENANT: frames received (= reached XDP)"
	assert_eq "$gaps" 0 "victim $V_TENANT: sequence gaps"
	assert_eq "$bad" 0 "victim $V_TENANT: corrupted payloads"
	assert_eq "$drops" 0 "victim $V_TENANT: quota drops"
}
