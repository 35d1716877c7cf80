#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Keep a veth lab (scripts/lib/lab.sh) up between commands, for trying xsnap by
# hand or debugging a test:
#
#   scripts/lab.sh up [--name NAME] [--queues N] [--mtu M] [--vlan-offload]
#   scripts/lab.sh down [--name NAME | --state FILE | --all]
#   scripts/lab.sh status
#
# The lab's state is /run/xsnap-lab/NAME.env (sourceable: it exports the LAB_*
# variables); `down` removes what it lists.  Labs kept by `tests/run.sh -k`
# live one directory further down and show up in `status` too.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/lab.sh
source "$ROOT/scripts/lib/lab.sh"

prog=$0
DEFAULT_NAME=xs-lab

usage() {
	cat <<EOF
usage: $prog up [--name NAME] [--queues N] [--mtu M] [--vlan-offload]
       $prog down [--name NAME | --state FILE | --all]
       $prog status
Two network namespaces NAME-tx and NAME-rx joined by a veth pair
(default NAME: $DEFAULT_NAME; state in $LAB_STATE_DIR/NAME.env).
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

need_root() {
	[[ $EUID -eq 0 ]] || die "must run as root (network namespaces, veth, bpffs)"
}

# Every state file: the lab directory and one level below (tests/run.sh -k).
state_files() {
	local f
	for f in "$LAB_STATE_DIR"/*.env "$LAB_STATE_DIR"/*/*.env; do
		[[ -e $f ]] && echo "$f"
	done
	return 0
}

find_state() {
	local name=$1 f
	while read -r f; do
		[[ $(basename "$f" .env) == "$name" ]] && {
			echo "$f"
			return 0
		}
	done < <(state_files)
	return 1
}

cmd_up() {
	local name=$DEFAULT_NAME
	local -a opts=()
	while (($#)); do
		case $1 in
		--name) name=${2:?--name needs a value}; shift 2 ;;
		--queues | --mtu) opts+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
		--vlan-offload) opts+=("$1"); shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
		esac
	done
	need_root
	if f=$(find_state "$name"); then
		die "lab '$name' is already up ($f); '$prog down --name $name' removes it"
	fi
	lab_up --name "$name" "${opts[@]}" || die "could not bring the lab up"
	lab_detach "$LAB_STATE"
	cat <<EOF
lab '$LAB_NAME' is up ($LAB_QUEUES queue(s), MTU $LAB_MTU)
  tx: netns $LAB_NS_TX  dev $LAB_IF_TX  $LAB_MAC_TX  $LAB_IP_TX/24  $LAB_IP6_TX/64
  rx: netns $LAB_NS_RX  dev $LAB_IF_RX  $LAB_MAC_RX  $LAB_IP_RX/24  $LAB_IP6_RX/64
  bpffs kept for each netns: $LAB_BPFFS_TX, $LAB_BPFFS_RX
  variables: source $LAB_STATE
try:    ip netns exec $LAB_NS_TX ping -c 1 $LAB_IP_RX
remove: $prog down --name $LAB_NAME
EOF
}

cmd_down() {
	local -a files=()
	local f all=
	while (($#)); do
		case $1 in
		--name)
			f=$(find_state "${2:?--name needs a value}") || die "no lab named '$2' ($prog status lists them)"
			files+=("$f")
			shift 2
			;;
		--state) files+=("${2:?--state needs a file}"); shift 2 ;;
		--all) all=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; exit 2 ;;
		esac
	done
	need_root
	if [[ -n $all ]]; then
		mapfile -t files < <(state_files)
	elif ((${#files[@]} == 0)); then
		f=$(find_state "$DEFAULT_NAME") || die "no lab named '$DEFAULT_NAME' ($prog status lists them)"
		files+=("$f")
	fi
	local rc=0
	for f in "${files[@]}"; do
		[[ -e $f ]] || die "no such state file: $f"
		LAB_KEEP=0 lab_down "$f" || rc=1
		echo "lab '$(basename "$f" .env)' removed"
		# A run directory of tests/run.sh -k, once empty.
		[[ $(dirname "$f") == "$LAB_STATE_DIR" ]] || rmdir "$(dirname "$f")" 2>/dev/null || true
	done
	rmdir "$LAB_STATE_DIR" 2>/dev/null || true
	return "$rc"
}

cmd_status() {
	local f n any='' kind a b
	local -A known=()
	while read -r f; do
		any=1
		local ns=() pids=() state=up
		while read -r kind a b; do
			case $kind in
			'#@ns') ns+=("$a"); known[$a]=1 ;;
			'#@pid') [[ -n $b && $(_lab_starttime "$a") == "$b" ]] && pids+=("$a") ;;
			esac
		done <"$f"
		for n in "${ns[@]}"; do
			[[ -e /run/netns/$n ]] || state="broken ($n missing)"
		done
		# shellcheck disable=SC1090 # the lab's own variables
		(
			source "$f"
			printf '%s: %s, queues %s, %s %s <-> %s %s%s\n    state %s\n' \
				"$LAB_NAME" "$state" "$LAB_QUEUES" "$LAB_NS_TX" "$LAB_IP_TX" \
				"$LAB_NS_RX" "$LAB_IP_RX" "${pids[*]:+, processes ${pids[*]}}" "$f"
		)
	done < <(state_files)
	while read -r n _; do
		[[ $n == "$LAB_PREFIX"-* && -z ${known[$n]:-} ]] || continue
		any=1
		echo "$n: namespace without a lab state file (ip netns del $n)"
	done < <(ip netns list 2>/dev/null)
	[[ -n $any ]] || echo "no lab is up"
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
status) shift; cmd_status "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
