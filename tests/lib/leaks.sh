# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
#
# tests/lib/leaks.sh: the per-test leak check (sourced by tests/lib/harness.sh).
# lab_leak_snapshot   lab_leak_check [SETTLE_S]

[[ -n ${_XSNAP_LEAKS_SH:-} ]] && return 0
_XSNAP_LEAKS_SH=1

# ----------------------------------------------------------------------------
# Leak checks and invariants (TESTING.md 10.3), run for every lab test:
#   - lab_up takes a leak snapshot unless the test took one;
#   - lab_down, before it removes a lab, checks that no XDP program is left
#     on any interface of the lab's namespaces and no pin under xsnap/ in the
#     lab's bpffs (lab_invariants);
#   - lab_main, after a test that passed, runs lab_leak_check unless the test
#     did after its last lab_down.
# BPF object ids are machine-wide and other test runs share the machine, so
# only objects that can be ours count: names matching $LAB_LEAK_MATCH
# (default: xsnap*, xs_*, xsk*; links by their program's name), and of those
# only the ones no live process outside this test's session holds.

LAB_LEAK_MATCH=${LAB_LEAK_MATCH:-'^(xsnap|xs_|xsk)'}

# _lab_bpf_ids KIND: "ID:NAME" of every BPF prog, map or link that can be
# ours (see above); "-" if bpftool or jq is missing.
_lab_bpf_ids() {
	local out progs
	if ! command -v bpftool >/dev/null 2>&1 || ! command -v jq >/dev/null 2>&1; then
		echo -
		return 0
	fi
	if [[ $1 == link ]]; then
		progs=$(bpftool -j prog show 2>/dev/null) || progs='[]'
		out=$(bpftool -j link show 2>/dev/null | jq -r --argjson p "${progs:-[]}" \
			--arg re "$LAB_LEAK_MATCH" '
			($p | map({key: (.id | tostring), value: (.name // "?")}) | from_entries) as $n
			| .[] | ($n[(.prog_id // 0) | tostring] // "?") as $pn
			| select($pn | test($re)) | "\(.id):\(.type // "?") \($pn)"' 2>/dev/null) || out=-
	else
		out=$(bpftool -j "$1" show 2>/dev/null | jq -r --arg re "$LAB_LEAK_MATCH" '
			.[] | select((.name // "") | test($re)) | "\(.id):\(.name)"' 2>/dev/null) || out=-
	fi
	echo "$out"
}

# "prog ID", "map ID" and "link ID" lines for the BPF objects that processes
# outside this shell's session hold open (read from /proc/*/fdinfo), with
# what those hold in turn (a link's program, a program's maps).
_lab_foreign_held() {
	local mysid f pid line
	local -A sid=()
	mysid=$(_lab_stat_field "$$" 6)
	while read -r f; do
		pid=${f#/proc/}
		pid=${pid%%/*}
		[[ -n ${sid[$pid]+x} ]] || sid[$pid]=$(_lab_stat_field "$pid" 6)
		[[ -n ${sid[$pid]} && ${sid[$pid]} != "$mysid" ]] || continue
		while read -r line; do
			case $line in
			prog_id:*) echo "prog ${line##*[[:space:]]}" ;;
			map_id:*) echo "map ${line##*[[:space:]]}" ;;
			link_id:*) echo "link ${line##*[[:space:]]}" ;;
			esac
		done <"/proc/$pid/fdinfo/${f##*/}" 2>/dev/null
	done < <(find /proc/[0-9]*/fd -maxdepth 1 -lname 'anon_inode:bpf*' 2>/dev/null) |
		sort -u | _lab_held_closure
}

# Add to "KIND ID" lines what those objects keep alive: a link's program,
# a program's maps.
_lab_held_closure() {
	local held ids
	held=$(cat)
	[[ -n $held ]] || return 0
	printf '%s\n' "$held"
	if command -v bpftool >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
		ids=$(printf '%s\n' "$held" | jq -R -s 'split("\n") | map(select(length > 0))')
		{
			bpftool -j link show 2>/dev/null | jq -r --argjson h "$ids" '
				.[] | select($h | index("link \(.id)")) | "prog \(.prog_id)"'
			bpftool -j prog show 2>/dev/null | jq -r --argjson h "$ids" '
				.[] | select($h | index("prog \(.id)")) | (.map_ids // [])[] | "map \(.)"'
		} 2>/dev/null
	fi
}

# _lab_stat_field PID N: field N of /proc/PID/stat as stat(5) numbers them
# (N >= 3: 3 state, 4 ppid, 5 pgrp, 6 session), or nothing.
_lab_stat_field() {
	local s
	read -r s <"/proc/$1/stat" 2>/dev/null || return 0
	s=${s##*) }
	local -a f
	read -ra f <<<"$s"
	printf '%s' "${f[$2 - 3]:-}"
}

# lab_leak_snapshot: remember the BPF progs, maps and links that can be ours
# and are present now; lab namespaces are checked by name (the ones this
# process made must be gone).
lab_leak_snapshot() {
	_LAB_LEAK_PROG=$(_lab_bpf_ids prog)
	_LAB_LEAK_MAP=$(_lab_bpf_ids map)
	_LAB_LEAK_LINK=$(_lab_bpf_ids link)
	_LAB_LEAK_CHECKED=
}

# Namespaces made by lab_up in this process (lab_leak_check wants them gone).
_LAB_MADE_NS=()

# _lab_leak_now [--foreign]: true if nothing new is left; --foreign: objects
# that processes of other sessions hold do not count (slower).
_lab_leak_now() {
	local k e var before new='' held=''
	local -A had
	local -a cand=()
	_LAB_LEAK_REPORT=
	for k in prog map link; do
		var=_LAB_LEAK_${k^^}
		before=${!var}
		[[ $before == - ]] && continue
		had=()
		while IFS=: read -r e _; do
			[[ -n $e ]] && had[$e]=1
		done <<<"$before"
		while read -r e; do
			[[ -z $e || $e == - || -n ${had[${e%%:*}]:-} ]] && continue
			cand+=("$k $e")
		done <<<"$(_lab_bpf_ids "$k")"
	done
	if ((${#cand[@]})) && [[ ${1:-} == --foreign ]]; then
		held=$(_lab_foreign_held)
		for e in "${cand[@]}"; do
			# "KIND ID:NAME": another session's process holds it: not ours
			grep -qxF "${e%%:*}" <<<"$held" && continue
			new+="${e%%:*} (${e#*:}), "
		done
	fi
	[[ -z $new ]] || _LAB_LEAK_REPORT+="new BPF objects: ${new%, }; "
	new=
	for e in "${_LAB_MADE_NS[@]}"; do
		[[ -e /run/netns/$e ]] && new+="$e "
	done
	[[ -z $new ]] || _LAB_LEAK_REPORT+="namespaces left: $new"
	[[ -z $_LAB_LEAK_REPORT ]]
}

# lab_leak_check [SETTLE_S]: true if no BPF prog, map or link that can be
# ours exists that did not at lab_leak_snapshot, and the namespaces this
# process made are gone.  BPF objects are freed asynchronously, so wait up to
# SETTLE_S (default 5) seconds for that.  Otherwise print what is new and
# return 1.  With LAB_KEEP=1: true.
lab_leak_check() {
	if [[ ${LAB_KEEP:-0} == 1 ]]; then
		_lab_log "lab_leak_check: not checked: LAB_KEEP=1 keeps the labs and what is in them"
		return 0
	fi
	if [[ -z ${_LAB_LEAK_PROG+x} ]]; then
		_lab_log "lab_leak_check: no lab_leak_snapshot taken"
		return 2
	fi
	_LAB_LEAK_CHECKED=1
	# a check that cannot see BPF objects must not pass as one that found none
	if [[ $_LAB_LEAK_PROG == - || $_LAB_LEAK_MAP == - || $_LAB_LEAK_LINK == - ]]; then
		_lab_log "leak: cannot check BPF objects: bpftool or jq missing or failing" \
			"(scripts/install-deps.sh installs them)"
		return 1
	fi
	# freed asynchronously: give it time; then spare what others hold
	if ! wait_for "${1:-5}" _lab_leak_now && ! _lab_leak_now --foreign; then
		_lab_log "leak: ${_LAB_LEAK_REPORT}"
		return 1
	fi
}
