#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Run part of the test suite in a qemu VM on a Debian kernel (make test-vm).
#
#   scripts/test-vm.sh -k KERNEL [options] [-- RUN.SH-ARGS...]
#
# KERNEL is a Debian kernel image package (linux-image-6.1.0-57-amd64-unsigned),
# its version (6.1.0-57-amd64, 6.12.118+deb12-amd64), a prefix of one (6.1,
# 6.12: the newest such package apt knows), or a downloaded .deb.  The package
# is fetched with `apt-get download` and unpacked with `dpkg-deb -x` (never
# installed) into $OUTPUT/vm/, where later runs find it.  An initramfs of
# busybox-static and the modules needed to reach the root filesystem boots
# the kernel under qemu; the guest mounts the host's root filesystem
# read-only over 9p beneath a tmpfs overlay, so it runs the host's bash, ip,
# bpftool, libbpf and libxdp, and this tree's build directory, as they are.
# It then runs tests/run.sh (scripts/lib/vm-guest.sh), whose output streams
# here; its closing `N passed, N failed, N skipped` line is printed last and
# its exit status is ours.
#
# By default the BPF tier and the lab tests of steering, daemon and pcap run;
# arguments after `--` go to tests/run.sh instead (e.g. -- -t 'bpf/*').
# --zc adds two virtio-net NICs joined by a qemu hub (inside qemu: no host
# network) for the zero-copy test (tests/netns/test_zerocopy.sh).
#
# KVM is used when /dev/kvm is usable and the CPU has vmx or svm; otherwise
# TCG (much slower).  Everything made here (temporary directory, qemu) goes
# away on exit, failure or ^C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prog=${0##*/}
OUTPUT=${OUTPUT:-$ROOT/build}
[[ $OUTPUT == /* ]] || OUTPUT=$PWD/$OUTPUT

usage() {
	cat <<EOF
usage: $prog -k KERNEL [--zc] [--accel auto|kvm|tcg] [--cpu MODEL] [--smp N] [--mem MIB]
       [--timeout S] [--list-kernels] [-- RUN.SH-ARGS...]
  -k, --kernel K   Debian kernel: package name, version, version prefix
                   (6.1, 6.12: the newest), or a .deb file
  --zc             add two virtio-net NICs on a qemu hub and run the
                   zero-copy test as well (kernel 6.11 or later)
  --accel A        auto (default): kvm if usable, else tcg
  --cpu MODEL      qemu CPU model under TCG (default $TCG_CPU_DEFAULT; kvm: host)
  --smp N          guest CPUs (default 2)
  --mem MIB        guest memory (default 3072)
  --timeout S      stop the VM after it ran S seconds (default 2700; time
                   the host kept qemu stopped does not count)
  --list-kernels   print the kernel packages apt knows, run nothing
  --cmd CMD        run the shell command CMD in the guest (from the tree's
                   top) instead of the suite; its exit status is ours
  -- ARGS          tests/run.sh arguments instead of the default selection:
                   $(printf '%q ' "${DEFAULT_ARGS[@]}")
Environment: OUTPUT (build dir, default $ROOT/build), XSNAP_VM_T0 (the
epoch second make test-vm started: the last lines then give its wall time).
EOF
}

DEFAULT_ARGS=(--tier bpf --tier netns -t 'bpf/*' -t 'netns/test_steer/*'
	-t 'netns/test_daemon/*' -t 'netns/test_pcap/*')

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 2
}

TCG_CPU_DEFAULT=max
kernel=
zc=
accel=auto
cpu=
smp=2
mem=3072
vm_timeout=2700
list_kernels=
cmd=
run_args=()
run_args_given=
while (($#)); do
	case $1 in
	-k | --kernel) [[ $# -ge 2 ]] || die "$1 wants a kernel"; kernel=$2; shift 2 ;;
	--zc) zc=1; shift ;;
	--accel)
		[[ ${2:-} =~ ^(auto|kvm|tcg)$ ]] || die "--accel wants auto, kvm or tcg"
		accel=$2; shift 2 ;;
	--cpu) [[ ${2:-} =~ ^[A-Za-z0-9_.,=+-]+$ ]] || die "--cpu wants a qemu CPU model"; cpu=$2; shift 2 ;;
	--smp) [[ ${2:-} =~ ^[1-9][0-9]?$ ]] || die "--smp wants a CPU count"; smp=$2; shift 2 ;;
	--mem) [[ ${2:-} =~ ^[1-9][0-9]{2,5}$ ]] || die "--mem wants MiB (>= 100)"; mem=$2; shift 2 ;;
	--timeout) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--timeout wants seconds"; vm_timeout=$2; shift 2 ;;
	--list-kernels) list_kernels=1; shift ;;
	--cmd) [[ $# -ge 2 ]] || die "--cmd wants a command"; cmd=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; run_args=("$@"); run_args_given=1; break ;;
	*) usage >&2; exit 2 ;;
	esac
done
((${#run_args[@]})) || run_args=("${DEFAULT_ARGS[@]}")
if [[ -n $zc && -z $run_args_given ]]; then
	run_args+=(-t 'netns/test_zerocopy/*')
fi

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			die "'$c' not found: run scripts/install-deps.sh --vm (as root)"
	done
}
need apt-cache apt-get dpkg-deb depmod modprobe qemu-system-x86_64 xz gzip
/bin/busybox --list 2>/dev/null | grep -x switch_root >/dev/null ||
	die "/bin/busybox (package busybox-static) not found: run scripts/install-deps.sh --vm"

# Kernel image packages apt knows (plain amd64 flavour; cloud and rt only by
# their full name), newest first.
kernel_packages() {
	apt-cache pkgnames linux-image- 2>/dev/null |
		grep -E '^linux-image-[0-9][^ ]*-amd64-unsigned$' | grep -Ev -- '-(cloud|rt)-amd64' |
		sort -rV
}

if [[ -n $list_kernels ]]; then
	kernel_packages | sed 's/^linux-image-//; s/-unsigned$//'
	exit 0
fi
[[ -n $kernel ]] || { usage >&2; die "no kernel given (KERNEL=6.1, 6.12, a package name or a .deb)"; }

# resolve_kernel K: the package name for K, or die naming the choices.
resolve_kernel() {
	local k=$1 p all
	all=$(kernel_packages)
	if apt-cache show "$k" >/dev/null 2>&1 && [[ $k == linux-image-* ]]; then
		echo "$k"
		return
	fi
	for p in "linux-image-$k-unsigned" "linux-image-$k-amd64-unsigned"; do
		if grep -qxF -- "$p" <<<"$all"; then
			echo "$p"
			return
		fi
	done
	# a prefix: 6.1 -> 6.1.0-N, 6.12 -> 6.12.N+deb12, 6.1.0-57 -> 6.1.0-57-amd64
	p=$(grep -E "^linux-image-${k//./\\.}[.-]" <<<"$all" | head -n 1 || true)
	if [[ -n $p ]]; then
		echo "$p"
		return
	fi
	{
		echo "$prog: unknown KERNEL '$k': no Debian package linux-image-...-unsigned matches it"
		if [[ -n $all ]]; then
			echo "$prog: apt knows: $(sed 's/^linux-image-//; s/-unsigned$//' <<<"$all" | tr '\n' ' ')"
		else
			echo "$prog: apt knows no linux-image-*-amd64-unsigned package: run apt-get update"
		fi
	} >&2
	exit 2
}

tmp=
qpid=
mon_pid=
tail_pid=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$? p
	set +e
	trap - EXIT INT TERM HUP
	for p in "$qpid" "$mon_pid" "$tail_pid"; do
		[[ -z $p ]] || kill -KILL "$p" 2>/dev/null
	done
	for p in "$qpid" "$mon_pid" "$tail_pid"; do
		[[ -z $p ]] || wait "$p" 2>/dev/null
	done
	[[ -z $tmp ]] || rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$OUTPUT/vm"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsnap-vm.XXXXXX")

# --- the kernel package: download, unpack, depmod (cached) ------------------
if [[ $kernel == *.deb ]]; then
	[[ -f $kernel ]] || die "no such file: $kernel"
	deb=$(cd "$(dirname "$kernel")" && pwd)/$(basename "$kernel")
	pkg=$(dpkg-deb -f "$deb" Package) || die "$kernel is not a Debian package"
	[[ $pkg == linux-image-* ]] || die "$kernel is $pkg, not a linux-image package"
	pkgver=$(dpkg-deb -f "$deb" Version)
else
	pkg=$(resolve_kernel "$kernel")
	pkgver=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
	[[ -n $pkgver ]] || die "apt-cache has no version of $pkg: run apt-get update"
	deb=
fi
kdir=$OUTPUT/vm/${pkg}_$pkgver
if [[ ! -e $kdir/.done ]]; then
	rm -rf "$kdir" "$kdir.new"
	if [[ -z $deb ]]; then
		echo "$prog: downloading $pkg $pkgver with apt-get" >&2
		mkdir "$tmp/deb"
		# _apt cannot write here: download as root, no sandbox warning
		(cd "$tmp/deb" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$pkgver") >&2 ||
			die "apt-get download $pkg=$pkgver failed (apt-get update? the package may have left the archive)"
		deb=$(echo "$tmp"/deb/*.deb)
		[[ -f $deb ]] || die "apt-get download left no .deb"
	fi
	echo "$prog: unpacking $(basename "$deb") (dpkg-deb -x, not installed)" >&2
	mkdir -p "$kdir.new"
	dpkg-deb -x "$deb" "$kdir.new"
	mv "$kdir.new" "$kdir"
	touch "$kdir/.done"
fi
kver=$(basename "$(echo "$kdir"/lib/modules/*)")
vmlinuz=$kdir/boot/vmlinuz-$kver
[[ -d $kdir/lib/modules/$kver && -f $vmlinuz ]] ||
	die "$pkg has no /boot/vmlinuz-$kver or /lib/modules/$kver: not a kernel image package?"
[[ -f $kdir/lib/modules/$kver/modules.dep ]] || depmod -b "$kdir" "$kver"

# --- the initramfs ----------------------------------------------------------
# modules_for MOD...: the .ko files each MOD needs, in load order, relative
# to lib/modules/KVER (built-in ones print nothing).
modules_for() {
	local m line
	for m in "$@"; do
		modprobe -d "$kdir" -S "$kver" --show-depends "$m" ||
			die "$pkg has no module $m (nor is it built in)"
	done | while read -r line; do
		[[ $line == insmod\ * ]] || continue
		line=${line#insmod }
		line=${line%% *}
		echo "${line#"$kdir/lib/modules/$kver/"}"
	done | awk '!seen[$0]++'
}

ird=$tmp/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,modules}
cp /bin/busybox "$ird/bin/busybox"
cp "$ROOT/scripts/lib/vm-init.sh" "$ird/init"
chmod 755 "$ird/init"
: >"$ird/modules.list"
while read -r ko; do
	[[ -n $ko ]] || continue
	out=$(basename "$ko")
	case $ko in
	*.xz) xz -dc "$kdir/lib/modules/$kver/$ko" >"$ird/modules/${out%.xz}"; out=${out%.xz} ;;
	*.zst) need zstd; zstd -qdc "$kdir/lib/modules/$kver/$ko" >"$ird/modules/${out%.zst}"; out=${out%.zst} ;;
	*) cp "$kdir/lib/modules/$kver/$ko" "$ird/modules/$out" ;;
	esac
	echo "$out" >>"$ird/modules.list"
done < <(modules_for virtio_pci 9pnet_virtio 9p overlay)
cat >"$ird/vm.conf" <<EOF
KVER='$kver'
GUEST='$ROOT/scripts/lib/vm-guest.sh'
OVERLAY_SIZE='60%'
EOF
(cd "$ird" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$tmp/initrd.gz"

# --- KVM or TCG -----------------------------------------------------------
why_tcg=
if [[ $accel == auto ]]; then
	if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
		why_tcg="no usable /dev/kvm"
	elif ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
		why_tcg="/dev/kvm exists but the CPU shows no vmx/svm flag (no nested virtualisation)"
	fi
	accel=kvm
	[[ -n $why_tcg ]] && accel=tcg
fi

# --- what the guest runs ----------------------------------------------------
share=$tmp/share
mkdir "$share"
printf '%s\0' "${run_args[@]}" >"$share/args"
printf '%s' "$cmd" >"$share/cmd"
{
	printf 'XSNAP_ROOT=%q\n' "$ROOT"
	printf 'OUTPUT=%q\n' "$OUTPUT"
	if [[ -n $zc ]]; then
		printf 'XSNAP_ZC_MACS=%q\n' "52:54:00:58:53:01 52:54:00:58:53:02"
	fi
	# Under TCG (10-30x slower than the host) three cases repeat less,
	# each assertion intact (measured per case: test-logs/vm-KVER.times):
	# test_daemon/many_rules adds its rules with one xsnapctl each: 10 000
	# do not fit its 600 s, 1 000 still fill more than one page of rules;
	# test_daemon/consumer_kill9_reclaimed kills 40 consumers holding
	# frames, not 100 (1.5 s a kill there); bpf/test_classify/fuzz runs
	# 250 000 mutated frames against the reference, not 1 000 000 (same
	# seed: the first quarter of the host's run).  Set the variable to
	# choose otherwise.
	if [[ $accel == tcg ]]; then
		printf 'export XS_MANY_RULES=%q\n' "${XS_MANY_RULES:-1000}"
		printf 'export KILLS=%q\n' "${KILLS:-40}"
		printf 'export XSNAP_FUZZ_FRAMES=%q\n' "${XSNAP_FUZZ_FRAMES:-250000}"
	fi
} >"$share/env"
: >"$share/paused"

# --- qemu -------------------------------------------------------------------
qemu=(qemu-system-x86_64 -nodefaults -display none -no-reboot -machine q35
	-smp "$smp" -m "$mem")
if [[ $accel == kvm ]]; then
	qemu+=(-accel kvm -cpu host)
else
	qemu+=(-accel "tcg,thread=multi" -cpu "${cpu:-$TCG_CPU_DEFAULT}")
fi
qemu+=(-kernel "$vmlinuz" -initrd "$tmp/initrd.gz"
	-append "console=ttyS0 panic=-1 oops=panic loglevel=4 nokaslr mitigations=off"
	-chardev "file,id=con,path=$tmp/console.log" -serial chardev:con
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$kdir/lib/modules/$kver,mount_tag=kmods,security_model=none,readonly=on"
	-virtfs "local,path=$share,mount_tag=xsnapvm,security_model=none")
if [[ -n $zc ]]; then
	# Two NICs on one qemu hub: frames one sends reach the other, and
	# nothing else (no tap, no host network).  iommu_platform makes
	# virtio use the DMA API (AF_XDP zero-copy needs a DMA device);
	# queue_reset offers VIRTIO_F_RING_RESET (zero-copy rebinds a queue).
	for i in 1 2; do
		qemu+=(-netdev "hubport,id=n$i,hubid=0"
			-device "virtio-net-pci,netdev=n$i,mac=52:54:00:58:53:0$i,iommu_platform=on,queue_reset=on,disable-legacy=on")
	done
fi
echo "$prog: $pkg $pkgver (kernel $kver), accel $accel${why_tcg:+ ($why_tcg)}," \
	"CPU ${cpu:-$([[ $accel == kvm ]] && echo host || echo "$TCG_CPU_DEFAULT")}, $smp CPUs, $mem MiB" >&2
if [[ -n $cmd ]]; then
	echo "$prog: in the guest: $cmd" >&2
else
	echo "$prog: tests/run.sh $(printf '%q ' "${run_args[@]}")" >&2
fi

start=$SECONDS
: >"$tmp/console.log"
nice -n 19 "${qemu[@]}" </dev/null >"$tmp/qemu.log" 2>&1 &
qpid=$!
tail -n +1 -f --pid="$qpid" "$tmp/console.log" &
tail_pid=$!

# Note every pause of qemu (SIGSTOP by the machine's benchmark rule, or our
# own process being stopped): a gap in this loop's clock, or qemu stopped.
monitor() {
	local last now st paused=
	last=$(date +%s)
	while kill -0 "$qpid" 2>/dev/null; do
		sleep 1
		now=$(date +%s)
		st=$(awk '{print $3}' "/proc/$qpid/stat" 2>/dev/null || true)
		if ((now - last > 5)) || [[ $st == T ]]; then
			[[ -n $paused ]] || paused=$last
		elif [[ -n $paused ]]; then
			echo "$paused $now" >>"$share/paused"
			paused=
		fi
		last=$now
	done
}
monitor &
mon_pid=$!

# The timeout counts the seconds qemu could run: not those it was stopped.
timed_out=
ran=0
last=$(date +%s)
while kill -0 "$qpid" 2>/dev/null; do
	if ((ran > vm_timeout)); then
		timed_out=1
		kill -TERM "$qpid" 2>/dev/null || true
		break
	fi
	sleep 1
	now=$(date +%s)
	if ((now - last <= 5)) && [[ $(awk '{print $3}' "/proc/$qpid/stat" 2>/dev/null) != T ]]; then
		ran=$((ran + now - last))
	fi
	last=$now
done
wait "$qpid" 2>/dev/null || true
qpid=
wait "$tail_pid" 2>/dev/null || true
tail_pid=
elapsed=$((SECONDS - start))

rc=1
summary=
if [[ -s $share/rc && -n $cmd ]]; then
	rc=$(<"$share/rc")
	echo "$prog: kernel $kver: '$cmd' exited $rc after $((elapsed / 60))m$((elapsed % 60))s"
	exit "$rc"
elif [[ -s $share/rc ]]; then
	rc=$(<"$share/rc")
	summary=$(sed -n '/^[0-9]* passed, [0-9]* failed, [0-9]* skipped$/p' "$share/run.log" | tail -n 1)
fi
mkdir -p "$OUTPUT/test-logs"
cp "$tmp/console.log" "$OUTPUT/test-logs/vm-$kver.console.log" 2>/dev/null || true
[[ ! -s $share/times ]] || cp "$share/times" "$OUTPUT/test-logs/vm-$kver.times" 2>/dev/null || true
npause=$(wc -l <"$share/paused")
echo "$prog: kernel $kver, accel $accel: $((elapsed / 60))m$((elapsed % 60))s wall, $((ran / 60))m$((ran % 60))s running, host pauses: $npause (console: $OUTPUT/test-logs/vm-$kver.console.log)"
# make test-vm: its whole wall time (dependencies, build, kernel, VM)
if [[ ${XSNAP_VM_T0:-} =~ ^[0-9]+$ ]]; then
	total=$(($(date +%s) - XSNAP_VM_T0))
	echo "$prog: make test-vm: $((total / 60))m$((total % 60))s wall in all" \
		"(build and set-up $((total - elapsed)) s, VM $elapsed s)"
fi
if [[ -z $summary ]]; then
	if [[ -n $timed_out ]]; then
		echo "$prog: the VM did not finish within $vm_timeout s: stopped" >&2
	elif grep -q XSNAPVM-INIT-FAILED "$tmp/console.log"; then
		echo "$prog: the VM's initramfs failed (see the console above)" >&2
	else
		echo "$prog: the VM stopped without a test result (qemu: $(tail -n 3 "$tmp/qemu.log" | tr '\n' ' '))" >&2
	fi
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
echo "$summary"
[[ $rc =~ ^[0-9]+$ ]] || rc=1
exit "$rc"
