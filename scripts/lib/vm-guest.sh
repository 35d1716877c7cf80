#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# scripts/lib/vm-guest.sh: PID 1 of the test VM of scripts/test-vm.sh, run by
# the initramfs (vm-init.sh) after switch_root into the overlay on the host's
# root filesystem.  It mounts what a Debian system has (proc, sysfs, bpffs,
# tmpfs on /run and /tmp, ...), then runs tests/run.sh with the arguments the
# host left in /xsnapvm/args (NUL-separated) and its environment in
# /xsnapvm/env, writes the output to the console and /xsnapvm/run.log, the
# exit status to /xsnapvm/rc, and powers the VM off.
#
# Host pauses: the host's machine-sharing rules may SIGSTOP qemu for minutes;
# the guest's clocks then jump and a waiting case times out.  test-vm.sh
# notes every pause it sees in /xsnapvm/paused; when there was one and cases
# failed, those cases run once more and the summary counts the second run's
# verdict for them (both runs' output stays in the log).
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
X=/xsnapvm

# say TEXT: a line on the console, with the guest's uptime (boot, set-up
# and suite times can be read off the console log)
say() {
	local up
	read -r up _ </proc/uptime 2>/dev/null || up='?'
	printf 'vm-guest: [%ss] %s\n' "$up" "$*" >/dev/console
}

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	# a builtin wait: the 9p root may already be gone for an exec
	read -r -t 600 _ <>/dev/console
}

mount_sys() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mkdir -p /dev/pts /dev/shm
	mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	mount -t tmpfs -o mode=0755 tmpfs /run
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mount -t tmpfs -o mode=0755 tmpfs /var/tmp
	mount -t bpf -o mode=0700 bpf /sys/fs/bpf
	mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || true
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
	# ip netns wants a shared /run/netns; systemd makes / shared too
	mount --make-rshared /
	ln -sf /proc/self/fd /dev/fd
	ln -sf /proc/self/fd/0 /dev/stdin
	ln -sf /proc/self/fd/1 /dev/stdout
	ln -sf /proc/self/fd/2 /dev/stderr
	echo /sbin/modprobe >/proc/sys/kernel/modprobe
	hostname xsnapvm
	ip link set lo up
	ulimit -l unlimited
	# a paused VM looks like a lockup to the watchdogs; keep the console quiet
	echo 0 >/proc/sys/kernel/watchdog 2>/dev/null || true
	echo 4 >/proc/sys/kernel/printk
}

# run_suite LOG ARGS...: tests/run.sh ARGS, output to the console and LOG.
run_suite() {
	local log=$1
	shift
	(cd "$XSNAP_ROOT" && tests/run.sh "$@") </dev/null 2>&1 | tee -a "$log" >/dev/console
	return "${PIPESTATUS[0]}"
}

# counts LOG: "PASS FAIL SKIP" from the last summary line of LOG.
counts() {
	local p f s
	read -r p f s < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' \
		"$1" | tail -n 1)
	echo "${p:-0} ${f:-1} ${s:-0}"
}

# test-vm.sh --zc: the two virtio-net NICs, found by their MAC addresses,
# for tests/netns/test_zerocopy.sh (XSNAP_ZC_PAIR="TX_IF RX_IF").
zc_pair() {
	local mac d dev names=() i
	[[ -n ${XSNAP_ZC_MACS:-} ]] || return 0
	modprobe virtio_net
	for mac in $XSNAP_ZC_MACS; do
		dev=
		# the driver probes the NICs after modprobe returns
		for ((i = 0; i < 100; i++)); do
			for d in /sys/class/net/*; do
				[[ $(<"$d/address") == "$mac" ]] && dev=${d##*/}
			done
			[[ -n $dev ]] && break
			sleep 0.1
		done
		[[ -n $dev ]] || { say "no NIC with MAC $mac"; return 0; }
		names+=("$dev")
	done
	export XSNAP_ZC_PAIR="${names[*]}"
	say "zero-copy NIC pair: $XSNAP_ZC_PAIR (driver $(ethtool -i "${names[0]}" | sed -n 's/^driver: //p'))"
}

main() {
	mount_sys
	local -a args=() failed=()
	local rc p1 f1 s1 p2 f2 s2 id
	mapfile -d '' -t args <"$X/args"
	# shellcheck source=/dev/null
	source "$X/env"
	export XSNAP_ROOT OUTPUT XSNAP_ZC_MACS
	# each case's seconds, kept by test-vm.sh in test-logs/vm-KVER.times
	export XSNAP_TIMES=$X/times
	: >"$XSNAP_TIMES"
	say "kernel $(uname -r), $(nproc) CPUs, $(($(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024)) MiB"
	zc_pair
	if [[ -s $X/cmd ]]; then
		# test-vm.sh --cmd: a shell command instead of the suite
		say "bash -c $(<"$X/cmd")"
		(cd "$XSNAP_ROOT" && bash -c "$(<"$X/cmd")") </dev/null 2>&1 | tee "$X/run.log" >/dev/console
		echo "${PIPESTATUS[0]}" >"$X/rc"
		poweroff_now
	fi
	say "tests/run.sh ${args[*]}"
	: >"$X/run.log"
	run_suite "$X/run.log" "${args[@]}"
	rc=$?
	read -r p1 f1 s1 < <(counts "$X/run.log")
	if ((rc != 0 && f1 > 0)) && [[ -s $X/paused ]]; then
		while read -r id; do
			failed+=(-t "$id")
		done < <(sed -n 's/^FAIL \([^ ]*\).*/\1/p' "$X/run.log" | sort -u)
		say "the host paused the VM during the run ($(wc -l <"$X/paused") pauses):" \
			"running the $f1 failed cases once more"
		: >"$X/rerun.log"
		run_suite "$X/rerun.log" "${failed[@]}"
		rc=$?
		read -r p2 f2 s2 < <(counts "$X/rerun.log")
		cat "$X/rerun.log" >>"$X/run.log"
		say "first run $p1 passed, $f1 failed, $s1 skipped; failed cases re-run:" \
			"$p2 passed, $f2 failed, $s2 skipped"
		printf '%d passed, %d failed, %d skipped\n' $((p1 + p2)) "$f2" $((s1 + s2)) |
			tee -a "$X/run.log" >/dev/console
	fi
	say "suite done, exit $rc"
	echo "$rc" >"$X/rc"
	poweroff_now
}

main "$@"
