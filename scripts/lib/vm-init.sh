#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# scripts/lib/vm-init.sh: /init of the initramfs scripts/test-vm.sh builds
# (busybox sh, not bash: nothing else is in the initramfs).  It loads the
# modules listed in /modules.list, mounts the host's root filesystem (9p tag
# hostroot, read-only) under a tmpfs overlay, the kernel package's modules
# (tag kmods) on /lib/modules/KVER and the run's exchange directory (tag
# xsnapvm) on /xsnapvm, then hands over to scripts/lib/vm-guest.sh of the
# host's tree, a bash script that runs the tests.  /vm.conf (written by
# test-vm.sh) sets KVER, GUEST (that script's path) and OVERLAY_SIZE.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "vm-init: $*"
	echo "XSNAPVM-INIT-FAILED"
	echo o >/proc/sysrq-trigger
	sleep 60
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /vm.conf

while read -r m; do
	[ -n "$m" ] || continue
	insmod "/modules/$m" || fail "insmod $m failed"
done </modules.list

# 9p: msize raises throughput (TCG is slow enough); cache=loose for the
# read-only system tree, none for the exchange directory both sides write.
o9p=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /lower /rw /newroot
mount -t 9p -o "$o9p,ro,cache=loose" hostroot /lower || fail "cannot mount the host root (9p)"
mount -t tmpfs -o "size=$OVERLAY_SIZE,mode=0755" tmpfs /rw || fail "tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	fail "cannot mount the overlay on the host root"
mkdir -p "/newroot/lib/modules/$KVER" /newroot/xsnapvm
mount -t 9p -o "$o9p,ro,cache=loose" kmods "/newroot/lib/modules/$KVER" || fail "cannot mount kmods"
mount -t 9p -o "$o9p,cache=none" xsnapvm /newroot/xsnapvm || fail "cannot mount xsnapvm"
mount --move /dev /newroot/dev
umount /proc /sys
[ -x "/newroot$GUEST" ] || [ -f "/newroot$GUEST" ] || fail "$GUEST not found in the host root"
exec switch_root /newroot /bin/bash "$GUEST"
