#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# Install, idempotently, every Debian package that building xsnap and running
# its demo, tests and benchmark need.
#
#   scripts/install-deps.sh                     install whatever is missing
#   scripts/install-deps.sh --check-or-install  silent and fast (one dpkg-query)
#                                               when everything is there, else
#                                               install the missing ones
#   scripts/install-deps.sh --check             exit 1 and name the missing ones
#   scripts/install-deps.sh --list              print the package list
#   --vm (before any of the above)              also the packages of
#                                               `make test-vm` (qemu, busybox)
#
# `make test`, `make demo` and `make bench` run --check-or-install every time,
# so the check must stay cheap: no apt-get unless a package is missing.  As a
# non-root user nothing is installed: the exact apt-get command is printed and
# the script exits 1.
set -euo pipefail

PACKAGES=(
	# build
	clang llvm libbpf-dev libxdp-dev xdp-tools bpftool libelf-dev zlib1g-dev
	pkg-config make gcc libc6-dev linux-libc-dev
	# netns lab, traffic, captures
	iproute2 ethtool iputils-ping libpcap-dev tcpdump tshark
	# process and privilege tools used by tests (setpriv, setsid, unshare: util-linux)
	procps psmisc util-linux kmod libcap-ng-dev libcap-ng-utils
	# Debian packages (make deb, tests/netns/test_package.sh)
	dpkg-dev debhelper lintian
	# test helpers and checkers; curl and promtool (package prometheus) check
	# the metrics endpoint.  prometheus also brings Prometheus' server, which
	# starts where the machine lets packages start services (not under a
	# policy-rc.d that says 101): `systemctl disable --now prometheus` if unwanted
	python3 valgrind cppcheck jq curl prometheus
	# unmodified receivers run under xsnap-run (tests/netns/test_preload.sh),
	# and strace to count the shim's syscalls
	socat netcat-openbsd iperf3 strace
)
# `make test-vm` only (scripts/test-vm.sh): qemu boots a Debian kernel with an
# initramfs of busybox-static; kmod (depmod, modprobe -d), xz and zstd unpack
# its modules
VM_PACKAGES=(qemu-system-x86 busybox-static kmod xz-utils zstd)

prog=${0##*/}

usage() {
	cat <<EOF
usage: $prog [--vm] [--check-or-install | --check | --list | --help]
  --vm                 with the packages of make test-vm (${VM_PACKAGES[*]})
  (no option)          install the missing packages (root)
  --check-or-install   exit 0 silently if every package is installed, else install
                       the missing ones (root) or print the apt-get command (non-root)
  --check              exit 1 listing the missing packages, install nothing
  --list               print the package list, one per line
EOF
}

# Print the packages of PACKAGES that are not fully installed ("ii").
missing_packages() {
	local -A ok=()
	local status name p
	# dpkg-query exits 1 when it knows nothing of a name: that is an answer here.
	while read -r status name; do
		[[ $status == ii ]] && ok[${name%%:*}]=1
	done < <(dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\n' "${PACKAGES[@]}" \
		2>/dev/null || true)
	for p in "${PACKAGES[@]}"; do
		[[ -n ${ok[$p]:-} ]] || printf '%s\n' "$p"
	done
}

apt_install_cmd() {
	printf 'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s' "$*"
}

install_packages() {
	local -a pkgs=("$@")
	if [[ $EUID -ne 0 ]]; then
		echo "$prog: missing Debian packages: ${pkgs[*]}" >&2
		echo "$prog: run as root:" >&2
		echo "  apt-get update && $(apt_install_cmd "${pkgs[@]}")" >&2
		return 1
	fi
	echo "$prog: installing missing Debian packages: ${pkgs[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# tshark would otherwise ask whether non-root users may capture.
	echo 'wireshark-common wireshark-common/install-setuid boolean false' |
		debconf-set-selections
	# Wait for a concurrent apt/dpkg run instead of failing on its lock.
	local -a apt=(apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	if ! "${apt[@]}" update >&2; then
		echo "$prog: warning: apt-get update failed; trying the install anyway" >&2
	fi
	"${apt[@]}" install --no-install-recommends "${pkgs[@]}" </dev/null >&2
	local left
	left=$(missing_packages)
	if [[ -n $left ]]; then
		echo "$prog: still missing after apt-get install: ${left//$'\n'/ }" >&2
		return 1
	fi
	echo "$prog: done" >&2
}

mode=install
if [[ ${1:-} == --vm ]]; then
	PACKAGES+=("${VM_PACKAGES[@]}")
	shift
fi
case "${1:-}" in
"") ;;
--check-or-install) mode=check-or-install ;;
--check) mode=check ;;
--list)
	printf '%s\n' "${PACKAGES[@]}"
	exit 0
	;;
-h | --help)
	usage
	exit 0
	;;
*)
	usage >&2
	exit 2
	;;
esac
[[ $# -le 1 ]] || {
	usage >&2
	exit 2
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "$prog: dpkg-query not found: this script supports Debian (12) only" >&2
	echo "$prog: packages needed: ${PACKAGES[*]}" >&2
	exit 1
fi

mapfile -t missing < <(missing_packages)
if [[ ${#missing[@]} -eq 0 ]]; then
	[[ $mode == install ]] && echo "$prog: all ${#PACKAGES[@]} packages are installed" >&2
	exit 0
fi
if [[ $mode == check ]]; then
	echo "$prog: missing Debian packages: ${missing[*]}" >&2
	exit 1
fi
install_packages "${missing[@]}"
