#!/bin/busybox sh
# ezone disposable host init: the VM that plays the node.
# Stage 1 (on the initramfs): bwrap and runsc pivot_root, which the kernel refuses on the initramfs' own
# root, so copy it into a tmpfs and switch_root there (the old copy is freed).
# Stage 2: mount what the enclaves' tools need (proc, sys, cgroup2, devpts, shm; tmpfs on /tmp and /run
# unless the image put files there: a cache under /tmp must stay visible at its real path), load the
# pvpanic and virtio console modules, then become hostd (PID 1: it reaps every orphan, and the OOM killer
# never picks it).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
if [ "$1" != stage2 ]; then
  /bin/busybox mount -t devtmpfs devtmpfs /dev
  exec </dev/console >/dev/console 2>&1
  /bin/busybox mkdir /newroot
  /bin/busybox mount -t tmpfs -o mode=0755 tmpfs /newroot
  for e in /*; do
    case "$e" in /newroot | /dev) ;; *) /bin/busybox cp -a "$e" /newroot/ ;; esac
  done
  /bin/busybox mkdir -p /newroot/dev
  /bin/busybox mount --move /dev /newroot/dev
  exec /bin/busybox switch_root /newroot /init stage2
fi
/bin/busybox --install -s /bin
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
