# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# scripts/lib/lab.sh: the veth lab, sourced by scripts/lab.sh, scripts/demo.sh,
# scripts/bench.sh and (through tests/lib/harness.sh) every netns test.
#
# A lab is two network namespaces (tx and rx) joined by one veth pair.  The
# veth ends are created directly inside their namespaces, so nothing ever
# appears in, or touches, the host's namespace.  Everything lab_up creates is
# recorded, as it is created, in a state file ($LAB_STATE_DIR/NAME.env): the
# file is sourceable for its variables, and its "#@" lines are what lab_down
# removes.  lab_up installs an EXIT/INT/TERM/HUP trap (chained to any trap
# already there), so a failing or interrupted script still removes its lab.
#
# `ip netns exec` gives every command a fresh /sys with no bpffs, and a bpffs
# mounted there dies with the command.  So lab_up mounts one bpffs per
# namespace on the host side ($LAB_BPFFS_TX, $LAB_BPFFS_RX) and
# lab_exec/lab_bg bind it onto /sys/fs/bpf: pins made by one command are seen
# by the next one in the same namespace, and lab_down unmounts them.
#
# API (see each function's comment):
#   lab_up [--queues N] [--mtu M] [--name NAME] [--vlan-offload]    lab_detach [STATE_FILE]
#   lab_down [STATE_FILE...]        lab_exec NS CMD...     lab_bg [--log F] NS CMD...
#   lab_stop PID [TIMEOUT_S]        lab_alive PID          wait_for TIMEOUT_S CMD...
#   lab_tmp PATH (removed with the lab)                    lab_invariants [STATE]
# lab_down checks lab_invariants before it removes a lab: no XDP program and
# no xsnap pin may be left in it.  The test harness (tests/lib/harness.sh)
# adds asserts, the per-test leak check (tests/lib/leaks.sh) and lab_main.
# Set by lab_bg: LAB_BG_PID.  Exported by lab_up: LAB_NAME LAB_STATE LAB_NS_TX LAB_NS_RX LAB_IF_TX LAB_IF_RX
#   LAB_IP_TX LAB_IP_RX LAB_IP6_TX LAB_IP6_RX LAB_MAC_TX LAB_MAC_RX LAB_QUEUES
#   LAB_MTU LAB_BPFFS_TX LAB_BPFFS_RX
# Honoured: LAB_KEEP=1 (lab_down leaves the lab up and says how to remove it),
#   LAB_STATE_DIR (default /run/xsnap-lab), LAB_BPFFS_ROOT (default
#   /run/xsnap-lab/bpffs).
#
# Every function works with or without `set -eEuo pipefail` in the caller.

[[ -n ${_XSNAP_LAB_SH:-} ]] && return 0
_XSNAP_LAB_SH=1

LAB_PREFIX=xs
LAB_STATE_DIR=${LAB_STATE_DIR:-/run/xsnap-lab}
LAB_BPFFS_ROOT=${LAB_BPFFS_ROOT:-/run/xsnap-lab/bpffs}
# State files of the labs this shell (or a parent shell) brought up, each as
# "OWNER_PID:FILE".  Not exported: a child process owns only its own labs.
_LAB_STATES=()

_lab_log() { printf 'lab: %s\n' "$*" >&2; }

# Run a command quietly; on failure print it with its output and return its status.
_lab_do() {
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	if ((rc != 0)); then
		_lab_log "failed (exit $rc): $*"
		[[ -z $out ]] || printf '%s\n' "$out" | sed 's/^/lab:   /' >&2
	fi
	return "$rc"
}

# Append one "#@KIND ARGS" record to a state file.
_lab_rec() {
	local file=$1
	shift
	printf '#@%s\n' "$*" >>"$file"
}

# Field 22 of /proc/PID/stat (start time in ticks), or nothing.
_lab_starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	local -a f
	read -ra f <<<"$s"
	printf '%s' "${f[19]:-}"
}

# lab_alive PID: true if PID exists and is not a zombie (kill -0 is true for
# a zombie that its parent has not reaped yet).
lab_alive() {
	local s
	# read, not $(cat ...): no fork (the waits below call this every 50 ms)
	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z ]]
}

# ----------------------------------------------------------------------------
# Traps

# $1: signal name.  Runs on INT/TERM/HUP: remove this process's labs and exit
# the way a signal would (the EXIT trap then finds nothing left to do).
_lab_on_signal() {
	trap - ERR
	set +eE
	_lab_log "caught SIG$1, removing the lab"
	_lab_down_owned
}

_lab_on_exit() {
	trap - ERR
	set +eE
	_lab_down_owned
}

# Give the next command (a chained trap) this $?.
_lab_setrc() { return "$1"; }

# Install the cleanup traps once per process, in front of any trap already set.
_lab_install_traps() {
	[[ ${_LAB_TRAP_PID:-} == "$BASHPID" ]] && return 0
	local sig old cur
	local -a parts
	local -A code=([INT]=130 [TERM]=143 [HUP]=129)
	for sig in EXIT INT TERM HUP; do
		cur=$(trap -p "$sig")
		old=''
		if [[ -n $cur ]]; then
			eval "parts=($cur)" # trap -- 'CODE' SIG
			old=${parts[2]}
		fi
		# In a subshell, bash still shows the parent's traps though they are
		# not active here: do not chain the one we set in the parent.
		if [[ -n ${_LAB_TRAP_PID:-} ]]; then
			local var="_LAB_TRAP_SET_$sig"
			if [[ $cur == "${!var:-}" ]]; then
				cur=''
				old=''
			fi
		fi
		if [[ $sig == EXIT ]]; then
			trap -- "_lab_rc=\$?; _lab_on_exit${old:+; _lab_setrc \$_lab_rc; $old}; exit \$_lab_rc" EXIT
		elif [[ -n $cur && -z $old ]]; then
			continue # explicitly ignored by the caller: leave it so
		else
			# shellcheck disable=SC2064 # expand now, on purpose
			trap -- "_lab_on_signal $sig${old:+; $old}; exit ${code[$sig]}" "$sig"
		fi
		printf -v "_LAB_TRAP_SET_$sig" '%s' "$(trap -p "$sig")"
	done
	_LAB_TRAP_PID=$BASHPID
}

# ----------------------------------------------------------------------------
# lab_up [--queues N] [--mtu M] [--name NAME] [--vlan-offload]
#
# Create the lab and export its LAB_* variables.  The namespaces are
# NAME-tx and NAME-rx; NAME defaults to xs-PID-RAND (unique per run).  The veth
# has N tx and N rx queues on each end (default 1).  VLAN offload (802.1Q and
# 802.1ad, receive and transmit) is turned off on both ends, so tags reach XDP
# in the frame; --vlan-offload leaves veth's default (on).  The lab is removed
# when this process exits (unless lab_detach).  On failure everything created
# so far is removed and 1 returned.
lab_up() {
	local queues=1 mtu='' name='' vlanoff=1 adopt=''
	while (($#)); do
		case $1 in
		--adopt) adopt=${2:-}; shift 2 || return 2 ;;
		--vlan-offload) vlanoff=0; shift ;;
		--queues) queues=${2:-}; shift 2 || return 2 ;;
		--queues=*) queues=${1#*=}; shift ;;
		--mtu) mtu=${2:-}; shift 2 || return 2 ;;
		--mtu=*) mtu=${1#*=}; shift ;;
		--name) name=${2:-}; shift 2 || return 2 ;;
		--name=*) name=${1#*=}; shift ;;
		*) _lab_log "lab_up: unknown option '$1'"; return 2 ;;
		esac
	done
	if ! [[ $queues =~ ^[1-9][0-9]*$ ]] || ((queues > 256)); then
		_lab_log "lab_up: --queues wants 1..256, not '$queues'"
		return 2
	fi
	if [[ -n $mtu ]] && ! [[ $mtu =~ ^[1-9][0-9]*$ ]]; then
		_lab_log "lab_up: --mtu wants a number, not '$mtu'"
		return 2
	fi
	if [[ -n $adopt ]]; then
		local a_tx=${adopt%%,*} a_rx=${adopt#*,}
		if [[ $adopt != *,* || -z $a_tx || -z $a_rx || $a_tx == "$a_rx" ]] ||
			! ip link show dev "$a_tx" >/dev/null 2>&1 || ! ip link show dev "$a_rx" >/dev/null 2>&1; then
			_lab_log "lab_up: --adopt wants two interfaces of this namespace, TX,RX: not '$adopt'"
			return 2
		fi
	fi
	[[ -n $name ]] || name=$LAB_PREFIX-$BASHPID-$(printf '%04x' $((RANDOM)))
	if ! [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$ ]]; then
		_lab_log "lab_up: bad lab name '$name' (letters, digits, ._-; at most 41)"
		return 2
	fi
	if [[ $EUID -ne 0 ]]; then
		_lab_log "lab_up: needs root (network namespaces, veth, bpffs)"
		return 1
	fi
	local t
	for t in ip ethtool mountpoint; do
		if ! command -v "$t" >/dev/null 2>&1; then
			_lab_log "lab_up: '$t' not found: run scripts/install-deps.sh"
			return 1
		fi
	done

	local state=$LAB_STATE_DIR/$name.env
	if [[ -e $state ]]; then
		_lab_log "lab_up: lab '$name' already exists ($state)"
		return 1
	fi
	mkdir -p "$LAB_STATE_DIR" || return 1
	# every lab test gets the leak check (lab_main), snapshot or not
	if [[ -n ${_LAB_IN_TEST:-} && -z ${_LAB_LEAK_PROG+x} ]] && declare -F lab_leak_snapshot >/dev/null; then
		lab_leak_snapshot
	fi
	_LAB_LEAK_CHECKED=
	{
		echo "# xsnap lab '$name', made by pid $BASHPID on $(date -u +%FT%TZ)"
		echo "# Sourceable for its variables; '#@' lines list what lab_down removes."
		echo "#@owner $BASHPID $(_lab_starttime "$BASHPID")"
	} >"$state" || return 1
	_LAB_STATES+=("$BASHPID:$state")
	_lab_install_traps

	if ! _lab_create "$state" "$name" "$queues" "$mtu" "$vlanoff" "$adopt"; then
		_lab_log "lab_up: failed; removing what was created"
		_lab_teardown "$state"
		_lab_forget "$state"
		return 1
	fi
	return 0
}

# lab_detach [STATE_FILE]: this process no longer owns the lab (default: the
# last one brought up): neither its exit nor a bare lab_down removes it.
# scripts/lab.sh uses it to keep a lab up between invocations.
lab_detach() {
	_lab_forget "${1:-${LAB_STATE:-}}"
}

# The body of lab_up: every step is recorded in STATE before the next one.
_lab_create() {
	local state=$1 name=$2 queues=$3 mtu=$4 vlanoff=$5 adopt=${6:-}
	local tx=$name-tx rx=$name-rx
	local if_tx=xs-tx if_rx=xs-rx
	local mac_tx=02:78:73:00:00:01 mac_rx=02:78:73:00:00:02
	local ip_tx=10.199.0.1 ip_rx=10.199.0.2 ip6_tx=fd00:199::1 ip6_rx=fd00:199::2
	local ns

	for ns in "$tx" "$rx"; do
		# Never record (and so later delete) a namespace that is not ours.
		if [[ -e /run/netns/$ns ]]; then
			_lab_log "lab_up: network namespace $ns already exists"
			return 1
		fi
		_lab_rec "$state" ns "$ns"
		_LAB_MADE_NS+=("$ns")
		_lab_do ip netns add "$ns" || return 1
		_lab_do mkdir -p "$LAB_BPFFS_ROOT/$ns" || return 1
		_lab_rec "$state" mount "$LAB_BPFFS_ROOT/$ns"
		_lab_do mount -t bpf bpf "$LAB_BPFFS_ROOT/$ns" || return 1
		# Before the veth exists, so that it inherits "default".
		_lab_sysctls "$ns" all default || return 1
	done

	local -a q=(numtxqueues "$queues" numrxqueues "$queues") m=()
	[[ -z $mtu ]] || m=(mtu "$mtu")
	if [[ -n $adopt ]]; then
		# Two existing interfaces (a pair of NICs joined outside this
		# machine's stack, e.g. virtio-net on a qemu hub) instead of a
		# veth: moved in and renamed, given back by lab_down.
		_lab_adopt "$state" "$tx" "${adopt%%,*}" "$if_tx" "$mac_tx" "${m[@]}" || return 1
		_lab_adopt "$state" "$rx" "${adopt#*,}" "$if_rx" "$mac_rx" "${m[@]}" || return 1
	else
		_lab_rec "$state" veth "$tx" "$if_tx"
		_lab_do ip -n "$tx" link add "$if_tx" address "$mac_tx" "${m[@]}" "${q[@]}" type veth \
			peer name "$if_rx" address "$mac_rx" "${m[@]}" "${q[@]}" netns "$rx" || return 1
	fi

	_lab_setup_end "$tx" "$if_tx" "$ip_tx" "$ip6_tx" "$ip_rx" "$ip6_rx" "$mac_rx" "$vlanoff" ||
		return 1
	_lab_setup_end "$rx" "$if_rx" "$ip_rx" "$ip6_rx" "$ip_tx" "$ip6_tx" "$mac_tx" "$vlanoff" ||
		return 1
	# Carrier and the link-local addresses arrive asynchronously (linkwatch,
	# addrconf work): a lab is ready only once both ends are up and no
	# address is still tentative.
	if ! wait_for 10 _lab_settled "$tx" "$if_tx" "$rx" "$if_rx"; then
		_lab_log "lab_up: links not up, or IPv6 addresses still tentative, after 10 s"
		return 1
	fi

	export LAB_NAME=$name LAB_STATE=$state LAB_QUEUES=$queues LAB_MTU=${mtu:-1500}
	export LAB_NS_TX=$tx LAB_NS_RX=$rx LAB_IF_TX=$if_tx LAB_IF_RX=$if_rx
	export LAB_IP_TX=$ip_tx LAB_IP_RX=$ip_rx LAB_IP6_TX=$ip6_tx LAB_IP6_RX=$ip6_rx
	export LAB_MAC_TX=$mac_tx LAB_MAC_RX=$mac_rx
	export LAB_BPFFS_TX=$LAB_BPFFS_ROOT/$tx LAB_BPFFS_RX=$LAB_BPFFS_ROOT/$rx
	local v
	for v in LAB_NAME LAB_STATE LAB_QUEUES LAB_MTU LAB_NS_TX LAB_NS_RX LAB_IF_TX LAB_IF_RX \
		LAB_IP_TX LAB_IP_RX LAB_IP6_TX LAB_IP6_RX LAB_MAC_TX LAB_MAC_RX LAB_BPFFS_TX \
		LAB_BPFFS_RX; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done >>"$state"
}

# _lab_adopt STATE NS IF NEWNAME MAC [mtu M]: move IF into NS as NEWNAME
# with address MAC; recorded first, so that lab_down gives it back (to the
# namespace of PID 1, under its old name and address) whatever happens next.
_lab_adopt() {
	local state=$1 ns=$2 dev=$3 new=$4 mac=$5 old_mac
	shift 5
	old_mac=$(<"/sys/class/net/$dev/address") || return 1
	_lab_rec "$state" adopt "$ns" "$new" "$dev" "$old_mac"
	_lab_do ip link set dev "$dev" down || return 1
	_lab_do ip link set dev "$dev" netns "$ns" || return 1
	_lab_do ip -n "$ns" link set dev "$dev" name "$new" address "$mac" "$@" || return 1
}

# _lab_sysctls NS CONF...: IPv6 DAD and router advertisements off.
_lab_sysctls() {
	local ns=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	_lab_do ip netns exec "$ns" sh -c '
		for c in "$@"; do
			for k in accept_dad dad_transmits accept_ra; do
				echo 0 >"/proc/sys/net/ipv6/conf/$c/$k" || exit 1
			done
		done' sh "$@"
}

# _lab_setup_end NS IF IP IP6 PEER_IP PEER_IP6 PEER_MAC VLAN_OFFLOAD_OFF
_lab_setup_end() {
	local ns=$1 dev=$2 ip4=$3 ip6=$4 pip4=$5 pip6=$6 pmac=$7 vlanoff=${8:-1}
	_lab_sysctls "$ns" "$dev" || return 1
	_lab_do ip -n "$ns" link set lo up || return 1
	# Frames must reach XDP with their VLAN tags in the packet, not in
	# metadata (xsnap refuses vlan rules while receive offload is on).
	if ((vlanoff)); then
		_lab_do ip netns exec "$ns" ethtool -K "$dev" rxvlan off txvlan off \
			rx-vlan-stag-hw-parse off tx-vlan-stag-hw-insert off || return 1
	fi
	_lab_do ip -n "$ns" addr add "$ip4/24" dev "$dev" || return 1
	_lab_do ip -n "$ns" -6 addr add "$ip6/64" dev "$dev" nodad || return 1
	_lab_do ip -n "$ns" neigh replace "$pip4" lladdr "$pmac" dev "$dev" nud permanent || return 1
	_lab_do ip -n "$ns" -6 neigh replace "$pip6" lladdr "$pmac" dev "$dev" nud permanent || return 1
	_lab_do ip -n "$ns" link set "$dev" up || return 1
}

# _lab_settled NS IF NS IF: both ends operationally up, nothing tentative.
_lab_settled() {
	while (($# >= 2)); do
		[[ $(ip -n "$1" -o link show dev "$2" 2>/dev/null) == *"state UP"* ]] || return 1
		[[ -z $(ip -n "$1" -6 addr show dev "$2" tentative 2>/dev/null) ]] || return 1
		shift 2
	done
}

_lab_forget() {
	local e keep=()
	for e in "${_LAB_STATES[@]}"; do
		[[ ${e#*:} == "$1" ]] || keep+=("$e")
	done
	_LAB_STATES=("${keep[@]}")
}

# Tear down the labs created by this very process (the trap's job).
_lab_down_owned() {
	local i e
	for ((i = ${#_LAB_STATES[@]} - 1; i >= 0; i--)); do
		e=${_LAB_STATES[i]}
		[[ ${e%%:*} == "$BASHPID" ]] || continue
		_lab_down_one "${e#*:}"
	done
	return 0
}

# ----------------------------------------------------------------------------
# lab_down [STATE_FILE...]
#
# Remove labs: the given ones, or else every lab this shell (or a parent
# shell) brought up.  Idempotent; safe from a trap.  With LAB_KEEP=1 the labs
# stay and the commands that remove them are printed.  Returns 1 if something
# could not be removed, or, in a test (lab_main), if a lab broke an invariant
# (lab_invariants: an XDP program or an xsnap pin left); it is removed anyway.
lab_down() {
	local rc=0 f i
	if (($#)); then
		for f in "$@"; do
			_lab_down_one "$f" "${_LAB_IN_TEST:-}" || rc=1
		done
		return "$rc"
	fi
	for ((i = ${#_LAB_STATES[@]} - 1; i >= 0; i--)); do
		_lab_down_one "${_LAB_STATES[i]#*:}" "${_LAB_IN_TEST:-}" || rc=1
	done
	return "$rc"
}

# _lab_down_one STATE [CHECK]: remove one lab; with CHECK, check its
# invariants first (not from a trap: a failed test may have left anything).
_lab_down_one() {
	local state=$1 check=${2:-} rc=0
	_lab_forget "$state"
	[[ -e $state ]] || return 0
	if [[ ${LAB_KEEP:-0} == 1 ]]; then
		local name
		name=$(basename "$state" .env)
		_lab_log "LAB_KEEP=1: leaving lab '$name' up: $(_lab_describe "$state")"
		_lab_log "  use it:    ip netns exec $name-rx ip addr; source $state"
		_lab_log "  remove it: $(_lab_root)/scripts/lab.sh down --state $state"
		return 0
	fi
	if [[ -n $check ]] && ! lab_invariants "$state"; then
		rc=1
	fi
	_lab_teardown "$state" || rc=1
	return "$rc"
}

_lab_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }

# One line: namespaces and background pids recorded in STATE.
_lab_describe() {
	local kind a b spaces=() pids=()
	while read -r kind a b; do
		case $kind in
		'#@ns') spaces+=("$a") ;;
		'#@pid') pids+=("$a") ;;
		esac
	done <"$1"
	printf 'namespaces %s' "${spaces[*]:-none}"
	((${#pids[@]} == 0)) || printf '; processes %s' "${pids[*]}"
}

# Kill what STATE recorded, delete its namespaces, unmount its bpffs, and
# remove STATE.  Best effort throughout (in a subshell with errexit and the
# ERR trap off); returns 1 if a namespace or mount survived.
_lab_teardown() {
	(
		trap - ERR
		set +eE
		_lab_teardown_body "$@"
	)
}

_lab_teardown_body() {
	local state=$1 kind a b rc=0 p huge=
	local -a spaces=() mounts=() veths=() pids=() paths=() adopted=()
	while read -r kind a b; do
		case $kind in
		'#@ns') spaces+=("$a") ;;
		'#@adopt') adopted+=("$a $b") ;;
		'#@mount') mounts+=("$a") ;;
		'#@veth') veths+=("$a $b") ;;
		'#@pid')
			# Only the process we started, not a later one with its pid.
			[[ -n $a && $(_lab_starttime "$a") == "$b" ]] && pids+=("$a")
			;;
		'#@path') paths+=("$a") ;;
		'#@hugepages') [[ -n $huge ]] || huge=$a ;;
		esac
	done <"$state"

	# Everything still running inside our namespaces goes too: otherwise
	# the namespace (and its veth) outlives `ip netns del`.
	local n
	for n in "${spaces[@]}"; do
		[[ -e /run/netns/$n ]] || continue
		for p in $(ip netns pids "$n" 2>/dev/null); do
			[[ $p == "$$" || $p == "$BASHPID" ]] || pids+=("$p")
		done
	done
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null
		_lab_wait_dead 3 "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null
		_lab_wait_dead 2 "${pids[@]}"
	fi

	local v
	for v in "${veths[@]}"; do
		# shellcheck disable=SC2086 # "NS IF"
		set -- $v
		[[ -e /run/netns/$1 ]] && ip -n "$1" link del "$2" 2>/dev/null
	done
	for v in "${adopted[@]}"; do
		# shellcheck disable=SC2086 # "NS NEWNAME OLDNAME OLDMAC"
		set -- $v
		[[ -e /run/netns/$1 ]] || continue
		ip -n "$1" link set dev "$2" down 2>/dev/null
		ip -n "$1" link set dev "$2" name "$3" address "$4" 2>/dev/null
		_lab_do ip -n "$1" link set dev "$3" netns 1 || rc=1
	done
	for n in "${spaces[@]}"; do
		if [[ -e /run/netns/$n ]] && ! _lab_do ip netns del "$n"; then
			rc=1
		fi
	done
	local m
	for m in "${mounts[@]}"; do
		if mountpoint -q "$m" 2>/dev/null; then
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || rc=1
		fi
		rmdir "$m" 2>/dev/null
	done
	rmdir "$LAB_BPFFS_ROOT" 2>/dev/null
	for p in "${paths[@]}"; do
		[[ $p == /tmp/* ]] && rm -rf -- "$p"
	done
	if [[ -n $huge ]]; then
		echo "$huge" >/proc/sys/vm/nr_hugepages 2>/dev/null || rc=1
	fi
	rm -f "$state"
	return "$rc"
}

# _lab_wait_dead TIMEOUT_S PID...: true once none of PIDs is alive.
_lab_wait_dead() {
	local t=$1 p alive
	shift
	local end
	_lab_clock
	end=$((_LAB_NOW_US + t * 1000000))
	while :; do
		alive=
		for p in "$@"; do
			if lab_alive "$p"; then
				alive=1
				break
			fi
		done
		[[ -n $alive ]] || return 0
		_lab_clock
		((_LAB_NOW_US < end)) || return 1
		_lab_nap 0.05
	done
}

# ----------------------------------------------------------------------------
# Running things inside the lab

# Inner script of lab_exec/lab_bg: $1 is the lab's bpffs for this namespace.
# shellcheck disable=SC2016 # expanded by the inner sh
_LAB_EXEC_SH='
if ! mountpoint -q /sys/fs/bpf; then
	if mountpoint -q "$1"; then
		mount --bind "$1" /sys/fs/bpf || exit 125
	else
		mount -t bpf bpf /sys/fs/bpf || exit 125
	fi
fi
shift
exec "$@"'

# lab_exec NS CMD...: run CMD in namespace NS with bpffs on /sys/fs/bpf (the
# lab's persistent one for lab namespaces, a fresh one otherwise).
lab_exec() {
	if (($# < 2)); then
		_lab_log "usage: lab_exec NS CMD..."
		return 2
	fi
	local ns=$1
	shift
	ip netns exec "$ns" sh -c "$_LAB_EXEC_SH" sh "$LAB_BPFFS_ROOT/$ns" "$@"
}

# lab_bg [--log FILE] NS CMD...: start CMD in the background in namespace NS
# (as lab_exec), record it so that lab_down kills it, print its pid and set
# LAB_BG_PID to it.  The pid is CMD's own (ip and sh exec it).  stdin is
# /dev/null; stdout and stderr go to FILE (appended) or else to this shell's
# stderr, so `pid=$(lab_bg ...)` returns at once.  To `wait` for CMD's exit
# status, call it outside $(...): `lab_bg NS CMD >/dev/null; wait "$LAB_BG_PID"`.
lab_bg() {
	local log=
	if [[ ${1:-} == --log ]]; then
		log=${2:-}
		shift 2 || return 2
	fi
	if (($# < 2)); then
		_lab_log "usage: lab_bg [--log FILE] NS CMD..."
		return 2
	fi
	local ns=$1
	shift
	local pid
	if [[ -n $log ]]; then
		ip netns exec "$ns" sh -c "$_LAB_EXEC_SH" sh "$LAB_BPFFS_ROOT/$ns" "$@" \
			</dev/null >>"$log" 2>&1 &
	else
		ip netns exec "$ns" sh -c "$_LAB_EXEC_SH" sh "$LAB_BPFFS_ROOT/$ns" "$@" \
			</dev/null >&2 &
	fi
	pid=$!
	# shellcheck disable=SC2034 # for the caller
	LAB_BG_PID=$pid
	local state e f
	state=${LAB_STATE:-}
	for e in "${_LAB_STATES[@]}"; do
		f=${e#*:}
		if grep -qxF "#@ns $ns" "$f" 2>/dev/null; then
			state=$f
		fi
	done
	if [[ -n $state && -e $state ]]; then
		_lab_rec "$state" pid "$pid" "$(_lab_starttime "$pid")"
	else
		_lab_log "lab_bg: warning: no lab state for '$ns'; pid $pid is not recorded"
	fi
	echo "$pid"
}

# lab_tmp PATH: remove PATH (under /tmp) with the lab, however the test ends.
lab_tmp() {
	if [[ $1 != /tmp/* || -z ${LAB_STATE:-} || ! -e $LAB_STATE ]]; then
		_lab_log "lab_tmp: needs a lab and a path under /tmp, not '$1'"
		return 2
	fi
	_lab_rec "$LAB_STATE" path "$1"
}

# lab_hugepages N: set vm.nr_hugepages (the pool of 2 MiB pages) to N; the
# lab puts back the value from before its first call, however the test ends
# (once its processes are gone and their pages free).  False if the kernel
# leaves fewer than N pages in the pool (memory too fragmented or short).
lab_hugepages() {
	if [[ -z ${LAB_STATE:-} || ! -e $LAB_STATE ]]; then
		_lab_log "lab_hugepages: needs a lab"
		return 2
	fi
	grep -q '^#@hugepages ' "$LAB_STATE" ||
		_lab_rec "$LAB_STATE" hugepages "$(cat /proc/sys/vm/nr_hugepages)"
	echo "$1" >/proc/sys/vm/nr_hugepages 2>/dev/null
	(($(cat /proc/sys/vm/nr_hugepages) >= $1))
}

# lab_stop PID [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 5) for it
# to end, then SIGKILL.  True if SIGTERM was enough.
lab_stop() {
	local pid=$1 t=${2:-5}
	kill -TERM "$pid" 2>/dev/null || return 0
	_lab_wait_dead "$t" "$pid" && return 0
	kill -KILL "$pid" 2>/dev/null || true
	_lab_wait_dead 2 "$pid" || true
	return 1
}

# ----------------------------------------------------------------------------
# Waiting

_lab_now_us() {
	_lab_clock
	printf '%s' "$_LAB_NOW_US"
}

# _lab_clock: the time in microseconds into _LAB_NOW_US, in this shell (the
# waits below read it every 50 ms: a $(...) would fork the whole shell each
# time, which in a big script like bench.sh costs several percent of a CPU
# beside the benchmark it waits for).
_lab_clock() {
	local t=$EPOCHREALTIME
	t=${t//[!0-9]/} # "s.uuuuuu" in any locale -> microseconds
	_LAB_NOW_US=$((10#$t))
}

# Seconds ("2", "0.5") to microseconds.
_lab_s_to_us() {
	local s=$1 i f=0
	i=${s%%.*}
	[[ $s == *.* ]] && f=${s#*.}
	f=${f}000000
	printf '%s' "$((10#${i:-0} * 1000000 + 10#${f:0:6}))"
}

# _lab_nap SECONDS: sleep without forking (a read with a timeout on a pipe
# this shell holds both ends of, opened at the first call): the waits below
# poll every 50 ms, and a sleep(1) process each time would take CPU from the
# benchmarks' generator and receivers they wait for.
_lab_nap() {
	[[ -n ${_LAB_NAPFD:-} ]] || exec {_LAB_NAPFD}<> <(:)
	read -r -t "$1" -u "$_LAB_NAPFD" _ || true
}

# wait_for TIMEOUT_S CMD...: run CMD every 50 ms until it succeeds (0) or
# TIMEOUT_S seconds (fractions allowed) have passed (1).  CMD is argv, not a
# string: wrap shell code in a function or `bash -c`.
wait_for() {
	if (($# < 2)); then
		_lab_log "usage: wait_for TIMEOUT_S CMD..."
		return 2
	fi
	local end
	_lab_clock
	end=$((_LAB_NOW_US + $(_lab_s_to_us "$1")))
	shift
	while :; do
		if "$@"; then
			return 0
		fi
		_lab_clock
		((_LAB_NOW_US < end)) || return 1
		_lab_nap 0.05
	done
}

# ----------------------------------------------------------------------------
# Invariants of a lab at lab_down

# lab_invariants [STATE]: what a lab (default: $LAB_STATE) must not have when
# it is removed: an XDP program on any interface of its namespaces, a pin
# under xsnap/ in its bpffs.  Prints each violation; false if there was one.
lab_invariants() {
	local state=${1:-${LAB_STATE:-}} kind a b rc=0 out
	while read -r kind a b; do
		case $kind in
		'#@ns')
			[[ -e /run/netns/$a ]] || continue
			out=$(ip -n "$a" -d link show 2>/dev/null | awk '
				/^[0-9]+:/ { dev = $2; sub(/[:@].*/, "", dev) }
				/prog\/xdp/ { print dev ": " $0 }')
			if [[ -n $out ]]; then
				_lab_log "invariant: XDP program left in namespace $a: ${out//$'\n'/; }"
				rc=1
			fi
			;;
		'#@mount')
			if mountpoint -q "$a" 2>/dev/null && [[ -d $a/xsnap ]] &&
				out=$(find "$a/xsnap" -mindepth 1 2>/dev/null) && [[ -n $out ]]; then
				_lab_log "invariant: pins left under $a/xsnap: ${out//$'\n'/ }"
				rc=1
			fi
			;;
		esac
	done <"$state"
	return "$rc"
}
