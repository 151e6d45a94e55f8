#!/bin/busybox sh
# ezone disposable host init: the VM that plays the node.
# Stage 1 (on the initramfs): bwrap and runsc pivot_root, which the kernel refuses while the root is the
# initramfs' own mount (it has no parent). A bind mount of it, moved onto / and chrooted into, is a root
# with a parent: pivot_root works, and nothing is copied.
# Stage 2: mount what the enclaves' tools need (proc, sys, cgroup2, devpts, shm; tmpfs on /tmp and /run
# unless the image put files there: a cache under /tmp must stay visible at its real path), load the
# pvpanic and virtio console modules, then become hostd (PID 1: it reaps every orphan, and the OOM killer
# never picks it).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
if [ "$1" != stage2 ]; then
  /bin/busybox mkdir /newroot
  /bin/busybox mount --bind / /newroot
  cd /newroot && /bin/busybox mount --move . / && exec /bin/busybox chroot . /init stage2
  echo "ezone-host: cannot move the root onto a bind mount" >/dev/console
fi
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for d in /tmp /run; do
  mkdir -p "$d"
  [ -z "$(ls -A "$d")" ] && mount -t tmpfs -o mode=1777 tmpfs "$d"
done
mkdir -p /sys/fs/cgroup /dev/pts /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# Numbered in dependency order by the image builder.
for m in /lib/modules/"$(uname -r)"/boot/*.ko; do
  insmod "$m" || echo "ezone-host: cannot load $m"
done
exec /sbin/hostd
