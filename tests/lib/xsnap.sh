# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# tests/lib/xsnap.sh: helpers for scripts that run xsnap programs in a lab
# (tests/lib/harness.sh must be sourced first and lab_up done).
#
#   xs_consumer_start LOG ARGS...   start xsnap-consumer in the rx namespace on
#                                   $LAB_IF_RX; waits until it is attached and
#                                   consuming (ready file), sets XS_PID
#   xs_consumer_stop [TIMEOUT_S]    SIGTERM it (drain, report), return its exit code;
#                                   its frame accounting ("frames: ... leaked N
#                                   audit A": conservation, and xsnap_audit()'s
#                                   recount of every chunk's holders) is
#                                   recorded (figures conservation_checks,
#                                   frames_leaked, reference_audits,
#                                   audit_problems); N or A not 0 makes it return 1
#   xs_gen ARGS...                  run xsnap-gen in the tx namespace on $LAB_IF_TX,
#                                   aimed at the rx end (MAC and IPs of the lab)
#   xs_field LOG KEY                a number from the consumer's report line
XS_ROOT=${XSNAP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
XS_BUILD=${XSNAP_BUILD:-${OUTPUT:-$XS_ROOT/build}}
XS_CONSUMER=$XS_BUILD/examples/xsnap-consumer
XS_GEN=$XS_BUILD/xsnap-gen

xs_consumer_start() {
	local log=$1
	shift
	local ready
	ready=$(mktemp -u /tmp/xsnap-ready.XXXXXX)
	: >"$log"
	# lab_bg records the pid, so lab_down kills the consumer if a test fails;
	# called outside $(...) so the consumer is our child and `wait` works
	lab_bg --log "$log" "$LAB_NS_RX" "$XS_CONSUMER" -i "$LAB_IF_RX" -R "$ready" "$@" >/dev/null
	XS_PID=$LAB_BG_PID
	XS_LOG=$log
	# ready once attached and every consumer thread runs; or it died
	if ! wait_for 20 test -e "$ready" -o ! -d "/proc/$XS_PID"; then
		echo "xsnap-consumer did not become ready in 20 s" >&2
		kill -KILL "$XS_PID" 2>/dev/null
		return 1
	fi
	rm -f "$ready"
	if [[ ! -d /proc/$XS_PID ]]; then
		wait "$XS_PID"
		echo "xsnap-consumer exited early (rc $?):" >&2
		cat "$log" >&2
		return 1
	fi
}

xs_consumer_stop() {
	local t=${1:-20} rc=0
	kill -TERM "$XS_PID" 2>/dev/null || true
	if ! wait_for "$t" test ! -d "/proc/$XS_PID/fd"; then
		echo "xsnap-consumer did not stop within $t s" >&2
		kill -KILL "$XS_PID" 2>/dev/null
	fi
	wait "$XS_PID" || rc=$?
	local leaked audit
	leaked=$(awk '/^frames: total / { for (i = 1; i < NF; i++) if ($i == "leaked") print $(i + 1) }' \
		"$XS_LOG")
	audit=$(awk '/^frames: total / { for (i = 1; i < NF; i++) if ($i == "audit") { v = $(i + 1); sub(/;$/, "", v); print v } }' \
		"$XS_LOG")
	if [[ $audit =~ ^-?[0-9]+$ ]]; then
		record_figure reference_audits 1
		record_figure audit_problems "${audit#-}"
		if ((audit != 0 && rc == 0)); then
			echo "xsnap-consumer: audit: $audit chunks whose references do not match their holders" >&2
			rc=1
		fi
	fi
	if [[ $leaked =~ ^[0-9]+$ ]]; then
		record_figure conservation_checks 1
		record_figure frames_leaked "$leaked"
		if ((leaked > 0 && rc == 0)); then
			echo "xsnap-consumer: $leaked frames in no place (frame conservation)" >&2
			rc=1
		fi
	fi
	return $rc
}

xs_gen() {
	lab_exec "$LAB_NS_TX" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" \
		--src "$LAB_IP_TX" --dst "$LAB_IP_RX" "$@"
}

xs_gen6() {
	lab_exec "$LAB_NS_TX" "$XS_GEN" -i "$LAB_IF_TX" --dmac "$LAB_MAC_RX" -6 \
		--src "$LAB_IP6_TX" --dst "$LAB_IP6_RX" "$@"
}

# xs_field LOG 'tenant alpha' logged → the number after "logged" on the line
# that starts with the given prefix.
xs_field() {
	local log=$1 prefix=$2 key=$3
	awk -v p="$prefix" -v k="$key" 'index($0, p) == 1 {
		for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$log"
}

# netdev_family: does this kernel report devices' XDP features (the
# "netdev" generic netlink family, Linux 6.3 on)?  Asked with iproute2's
# genl, not with xsnap's own query (userspace/lib/zc.c).
netdev_family() {
	genl ctrl get name netdev >/dev/null 2>&1
}
