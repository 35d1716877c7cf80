#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# The Debian packages (debian/, make deb): built from this tree by
# scripts/build-deb.sh (20-40 s here) with no lintian error or warning,
# installed on this machine with dpkg -i, checked and used as an operator
# would, then purged.  The test undoes what it did, also when it fails (an
# EXIT trap set before the lab's): the packages purged, the groups deleted
# if it is the install that made them.  It refuses to run (skip) where any
# of the packages is already installed.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"
# shellcheck source=../lib/xsnapd.sh
source "$LIB/xsnapd.sh"

PKGS=(xsnap libxsnap0 libxsnap-dev)
P_OUT='' P_INSTALLED='' P_DAEMON=''
P_GROUPS=()	# the groups the install made

# dpkg's status of package $1 ("ii ", "rc ", ...), empty if dpkg knows none.
_pkg_status() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true; }

_pkg_cleanup() {
	local g
	[[ -z $P_DAEMON ]] || kill -KILL "$P_DAEMON" 2>/dev/null || true
	if [[ -n $P_INSTALLED ]]; then
		dpkg -P "${PKGS[@]}" >/dev/null 2>&1 || echo "cleanup: dpkg -P ${PKGS[*]} failed" >&2
	fi
	for g in "${P_GROUPS[@]}"; do
		groupdel "$g" 2>/dev/null || true
	done
	[[ -z $P_OUT ]] || rm -rf "$P_OUT"
}

# Files and symbolic links the packages own (not directories, nor links
# to one: /lib is /usr/lib on a merged /usr).
_pkg_files() {
	local p f
	for p in "${PKGS[@]}"; do
		dpkg -L "$p"
	done | while read -r f; do
		[[ -d $f ]] || echo "$f"
	done
}

# Build, install, check, run the installed daemon as its unit does, give a
# member of the xsnap group access, stop it, purge: nothing attached and
# no file left.
# shellcheck disable=SC2034 # read by lab_main --list
LAB_TIMEOUT_deb_install_remove=600
t_deb_install_remove() {
	local p s g t t0 out f sock dir gid
	for t in dpkg-buildpackage dh lintian; do
		command -v "$t" >/dev/null || skip "$t not installed (scripts/install-deps.sh installs it)"
	done
	for p in "${PKGS[@]}"; do
		s=$(_pkg_status "$p")
		[[ -z $s || $s == un* ]] || skip "$p is in dpkg's database here ('$s'): not touching it"
	done
	for g in xsnap xsnap-admin; do
		getent group "$g" >/dev/null || P_GROUPS+=("$g")
	done
	trap _pkg_cleanup EXIT
	P_OUT=$(mktemp -d /tmp/xsnap-deb.XXXXXX)
	t0=$SECONDS
	DEB_BUILD_OPTIONS=parallel=2 "$XS_ROOT/scripts/build-deb.sh" "$P_OUT" 2>"$P_OUT/make-deb.err" ||
		{ show "$P_OUT/make-deb.err"; fail "scripts/build-deb.sh failed"; }
	echo "make deb: $((SECONDS - t0)) s" >&2
	show "$P_OUT/make-deb.err"
	! grep -E '^[EW]: ' "$P_OUT/lintian.txt" || fail "lintian errors or warnings (above)"

	# install
	P_INSTALLED=1
	dpkg -i "$P_OUT"/xsnap_*.deb "$P_OUT"/libxsnap0_*.deb "$P_OUT"/libxsnap-dev_*.deb \
		>"$P_OUT/dpkg-i.log" 2>&1 || { show "$P_OUT/dpkg-i.log"; fail "dpkg -i failed"; }
	for p in "${PKGS[@]}"; do
		assert_eq "$(_pkg_status "$p")" "ii " "dpkg status of $p"
	done
	for f in /usr/sbin/xsnapd /usr/bin/xsnapctl /usr/bin/xsnap-gen; do
		[[ -x $f ]] || fail "$f not installed"
	done
	for f in /lib/systemd/system/xsnapd.service /lib/systemd/system/xsnapd.socket \
		/usr/share/man/man8/xsnapd.8.gz /usr/share/man/man8/xsnapctl.8.gz \
		/usr/share/man/man1/xsnap-gen.1.gz /usr/share/man/man3/libxsnap.3.gz \
		/usr/share/bash-completion/completions/xsnapctl /usr/include/xsnap/xsnap.h \
		/usr/share/doc/xsnap/copyright; do
		[[ -f $f ]] || fail "$f not installed"
	done
	grep -q '^ExecStart=/usr/sbin/xsnapd ' /lib/systemd/system/xsnapd.service ||
		fail "the unit does not run /usr/sbin/xsnapd"
	if command -v systemd-analyze >/dev/null; then
		systemd-analyze verify /lib/systemd/system/xsnapd.service \
			/lib/systemd/system/xsnapd.socket || fail "systemd-analyze verify of the installed units"
	fi
	# the socket is enabled (deb-systemd-helper makes the link without
	# systemd too), the service is not: the socket starts it
	[[ -L /etc/systemd/system/sockets.target.wants/xsnapd.socket ]] || fail "xsnapd.socket not enabled"
	[[ ! -e /etc/systemd/system/multi-user.target.wants/xsnapd.service ]] ||
		fail "xsnapd.service enabled"
	# removal stops both (what systemd does with it, PID 1 here is not systemd)
	grep -q "deb-systemd-invoke stop 'xsnapd.service'" /var/lib/dpkg/info/xsnap.prerm ||
		fail "the prerm does not stop xsnapd.service"
	for g in xsnap xsnap-admin; do
		gid=$(getent group "$g" | cut -d: -f3)
		[[ -n $gid ]] || fail "group $g not made"
		((gid < 1000)) || fail "group $g is not a system group (gid $gid)"
	done
	out=$(bash -c 'source /usr/share/bash-completion/completions/xsnapctl && complete -p xsnapctl')
	[[ $out == *_xsnapctl* ]] || fail "completion: $out"
	[[ $(/usr/sbin/xsnapd --version) == "xsnapd 0.2 "* ]] || fail "xsnapd --version"
	# (ldd's output read whole first: see the example below)
	out=$(ldd /usr/sbin/xsnapd)
	! grep -q libpcap <<<"$out" || fail "xsnapd links libpcap"
	# built as released, whatever the test run's OUTPUT and SANITIZE
	! grep -q libasan <<<"$out" || fail "xsnapd is a sanitizer build"
	# the library: a program of libxsnap-dev's examples built with
	# pkg-config and linked against the installed libxsnap.so.0
	assert_eq "$(pkg-config --modversion xsnap)" 0.2 "pkg-config --modversion xsnap"
	# shellcheck disable=SC2046 # pkg-config's words
	cc -O2 -o "$P_OUT/udp-echo" /usr/share/doc/libxsnap-dev/examples/udp_echo.c \
		$(pkg-config --cflags --libs xsnap) || fail "building an example against libxsnap-dev"
	# (/lib is /usr/lib on a merged /usr; ldd's output is read whole first:
	# grep -q ends at its match, and under pipefail the SIGPIPE ldd's loader
	# then gets for the lines after it would fail the test)
	out=$(ldd "$P_OUT/udp-echo")
	grep -Eq "libxsnap.so.0 => (/usr)?/lib/$(gcc -dumpmachine)/libxsnap.so.0 " <<<"$out" ||
		fail "the example does not use the installed libxsnap.so.0: $out"

	# the daemon as the unit starts it, socket activated, in a lab
	setup
	dir=$D_DIR/act
	sock=$dir/xsnapd.sock
	mkdir -m 0755 "$dir"
	f=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/xsnapd.service)
	f=${f//\/run\/xsnap\/xsnapd.sock/$sock}
	echo "  ExecStart, socket moved: $f" >&2
	# shellcheck disable=SC2086 # the unit's words
	lab_bg --log "$D_LOG" "$LAB_NS_RX" systemd-socket-activate --seqpacket -l "$sock" $f -v >/dev/null
	P_DAEMON=$LAB_BG_PID
	wait_for 10 test -S "$sock" || fail "systemd-socket-activate did not listen"
	# SocketMode=0660, SocketGroup=xsnap
	chgrp xsnap "$sock"
	chmod 0660 "$sock"
	out=$(/usr/bin/xsnapctl -S "$sock" status 2>&1) || { show "$D_LOG"; fail "status: $out"; }
	/usr/bin/xsnapctl -S "$sock" attach "$LAB_IF_RX" || fail "attach through the installed daemon"
	lab_exec "$LAB_NS_RX" ip -d link show dev "$LAB_IF_RX" | grep -q prog/xdp || fail "nothing attached"
	# a member of xsnap may connect; of xsnap-admin, also control
	setpriv --reuid="$NOBODY" --regid="$NOBODY" --groups="$(getent group xsnap | cut -d: -f3)" \
		/usr/bin/xsnapctl -S "$sock" status >/dev/null || fail "a member of xsnap was refused"
	setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
		/usr/bin/xsnapctl -S "$sock" status >/dev/null 2>&1 && fail "a non-member was served"
	setpriv --reuid="$NOBODY" --regid="$NOBODY" --groups="$(getent group xsnap | cut -d: -f3)" \
		/usr/bin/xsnapctl -S "$sock" tenant add t >/dev/null 2>&1 && fail "xsnap alone may control"
	setpriv --reuid="$NOBODY" --regid="$NOBODY" \
		--groups="$(getent group xsnap | cut -d: -f3),$(getent group xsnap-admin | cut -d: -f3)" \
		/usr/bin/xsnapctl -S "$sock" tenant add t >/dev/null || fail "xsnap-admin may not control"
	# stop as systemd stops it: SIGTERM; nothing stays attached
	kill -TERM "$P_DAEMON"
	local rc=0
	wait "$P_DAEMON" || rc=$?
	P_DAEMON=
	assert_eq "$rc" 0 "xsnapd's exit status on SIGTERM"
	lab_exec "$LAB_NS_RX" ip -d link show dev "$LAB_IF_RX" | grep -q prog/xdp &&
		fail "an XDP program is left after the stop"

	# purge: no file left, no unit enabled, groups kept (Debian's way)
	_pkg_files >"$P_OUT/files"
	assert_ge "$(wc -l <"$P_OUT/files")" 15 "files the packages installed"
	dpkg -P "${PKGS[@]}" >"$P_OUT/dpkg-P.log" 2>&1 || { show "$P_OUT/dpkg-P.log"; fail "dpkg -P failed"; }
	P_INSTALLED=
	for p in "${PKGS[@]}"; do
		s=$(_pkg_status "$p")
		[[ -z $s || $s == un* || $s == pn* ]] || fail "$p still in dpkg's database: '$s'"
	done
	while read -r f; do
		[[ ! -e $f && ! -L $f ]] || fail "$f left after the purge"
	done <"$P_OUT/files"
	out=$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
		/var/lib/systemd/deb-systemd-helper-masked -name '*xsnapd*' 2>/dev/null || true)
	[[ -z $out ]] || fail "left after the purge: $out"
	getent group xsnap >/dev/null || fail "the purge removed the group xsnap"
	finish
}

lab_main "$@"
