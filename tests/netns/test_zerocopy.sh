#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# AF_XDP zero-copy on a driver that has it.  veth has only copy mode, so
# these cases need a pair of NICs whose driver does zero-copy, joined to each
# other outside the machine's network stack: XSNAP_ZC_PAIR="TX_IF RX_IF".
# `make test-vm KERNEL=6.12 VMFLAGS=--zc` gives them: two virtio-net NICs on
# one qemu hub (virtio-net does AF_XDP zero-copy from Linux 6.11 on, with a
# device that offers queue reset).  Without the pair every case skips.
# The lab adopts the two NICs (lab_up --adopt) in place of its veth and
# gives them back at the end.
LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
# shellcheck source=../lib/harness.sh
source "$LIB/harness.sh"
# shellcheck source=../lib/xsnap.sh
source "$LIB/xsnap.sh"
# shellcheck source=../lib/xsnapd.sh
source "$LIB/xsnapd.sh"

# zc_setup: the lab on XSNAP_ZC_PAIR and xsnapd, or skip saying why not.
zc_setup() {
	local -a pair
	read -ra pair <<<"${XSNAP_ZC_PAIR:-}"
	((${#pair[@]} == 2)) ||
		skip "no NIC pair with AF_XDP zero-copy (XSNAP_ZC_PAIR unset; veth has copy mode only):" \
			"make test-vm KERNEL=6.12 VMFLAGS=--zc runs this on virtio-net"
	if ! ip link show dev "${pair[0]}" >/dev/null 2>&1 || ! ip link show dev "${pair[1]}" >/dev/null 2>&1; then
		fail "XSNAP_ZC_PAIR names interfaces that do not exist: ${pair[*]}"
	fi
	setup --adopt "${pair[0]},${pair[1]}"
	d_start
}

# Zero-copy required: the attach succeeds in native mode (else the case
# skips naming the driver and kernel that refused), `xsnapctl status`
# (text and JSON), the queue and the metrics say zero-copy, and two tenants
# get exactly what was sent to them through the zero-copy queue, with frame
# conservation and the reference audit at detach.
t_zerocopy_attach_and_traffic() {
	zc_setup
	local la=$D_DIR/a.log lb=$D_DIR/b.log pa pb st drv
	drv=$(lab_exec "$LAB_NS_RX" ethtool -i "$LAB_IF_RX" | sed -n 's/^driver: //p')
	echo "driver of $LAB_IF_RX: $drv" >&2
	# A driver may have AF_XDP hooks and still not offer zero-copy: the
	# kernel refuses XDP_ZEROCOPY (EOPNOTSUPP) unless the device advertises
	# NETDEV_XDP_ACT_XSK_ZEROCOPY.  virtio_net does from Linux 6.13 (with
	# its zero-copy transmit); 6.11 and 6.12 bind receive pools but do not.
	local out rc=0
	out=$(ctl attach "$LAB_IF_RX" --mode native --zerocopy on 2>&1) || rc=$?
	echo "xsnapctl attach --zerocopy on: exit $rc: $out" >&2
	if ((rc != 0)); then
		grep -q 'zero-copy requested but the driver does not support it' <<<"$out" ||
			fail "attach failed, and not for want of zero-copy"
		# Linux 6.3 on: refused before binding, by the XDP features
		if netdev_family; then
			grep -q "$drv has no XSK zero-copy (the XDP features the kernel reports" <<<"$out" ||
				fail "the refusal does not name the driver's XDP features"
			skip "$drv on kernel $(uname -r) has no AF_XDP zero-copy: its XDP features lack" \
				"NETDEV_XDP_ACT_XSK_ZEROCOPY (virtio_net has it from Linux 6.13); refused before binding"
		fi
		skip "$drv on kernel $(uname -r) refuses AF_XDP zero-copy (EOPNOTSUPP at bind)"
	fi
	ctl tenant add alpha --quota 1024 --uid "$NOBODY"
	ctl tenant add beta --quota 1024
	ctl rule add alpha 'udp dst port 9000' --prio 10 >/dev/null
	ctl rule add beta 'udp dst port 9001' --prio 10 >/dev/null
	ctl status | tee "$D_DIR/status" >&2
	grep -q 'XDP, zero-copy' "$D_DIR/status" || fail "status does not say zero-copy"
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["copy_reason"]')" None "status -j copy_reason (zero-copy)"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["zerocopy"]')" True "status -j zerocopy"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["queues"][0]["zerocopy"]')" True "queue 0 zerocopy"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["xdp_mode"]')" native "status -j xdp_mode"
	assert_eq "$(jget "$(ctl stats -j)" 'j["total"]["zerocopy"]')" 1 "stats -j zerocopy"
	c_start "$la" --as-nobody -t alpha
	pa=$C_PID
	c_start "$lb" -t beta
	pb=$C_PID
	xs_gen -q --stream 1 --dport 9000 -n 1000 -r 5000
	xs_gen -q --stream 2 --dport 9001 -n 700 -r 5000
	xs_gen -q --stream 3 --dport 9002 -n 50 -r 5000
	wait_delivered alpha 1000 60
	wait_delivered beta 700 60
	c_stop "$pa" || { show "$la"; fail "alpha's consumer failed"; }
	c_stop "$pb" || { show "$lb"; fail "beta's consumer failed"; }
	show "$la"
	show "$lb"
	assert_eq "$(field "$la" frames)" 1000 "alpha consumer frames"
	assert_eq "$(field "$la" seq_gaps)" 0 "alpha sequence gaps"
	assert_eq "$(field "$la" bad_payload)" 0 "alpha payloads"
	assert_eq "$(field "$lb" frames)" 700 "beta consumer frames"
	assert_eq "$(tstat alpha quota_drops)" 0 "alpha quota drops"
	d_detach
	d_stop
	finish
}

# Zero-copy off on the same NIC, native XDP: the attach reports copy mode,
# so a zero-copy report above is the driver's, not a default of the report;
# and copy mode on this driver passes traffic to a consumer.
t_zerocopy_off_reports_copy() {
	zc_setup
	local st
	configure --mode native --zerocopy off
	st=$(ctl status -j)
	assert_eq "$(jget "$st" 'j["interfaces"][0]["zerocopy"]')" False "status -j zerocopy (off)"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["copy_reason"]')" "zero-copy not requested" "status -j copy_reason"
	ctl status | tee "$D_DIR/status" >&2
	grep -q 'copy mode (zero-copy not requested)' "$D_DIR/status" || fail "status does not say copy mode, not requested"
	assert_eq "$(jget "$st" 'j["interfaces"][0]["xdp_mode"]')" native "status -j xdp_mode"
	c_start "$D_DIR/a.log" -t alpha
	xs_gen -q --stream 1 --dport 9000 -n 300 -r 5000
	wait_delivered alpha 300 60
	c_stop "$C_PID" || { show "$D_DIR/a.log"; fail "alpha's consumer failed"; }
	assert_eq "$(field "$D_DIR/a.log" frames)" 300 "alpha frames in copy mode"
	assert_eq "$(field "$D_DIR/a.log" seq_gaps)" 0 "alpha sequence gaps"
	d_detach
	d_stop
	finish
}

lab_main "$@"
