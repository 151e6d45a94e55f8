#!/bin/busybox sh
# ezone disposable host init: the VM that plays the node. Mount what the enclaves' tools need (proc, sys,
# cgroup2, devpts, shm; tmpfs on /tmp and /run unless the image put files there: a cache under /tmp must
# stay visible at its real path), load the virtio console and pvpanic modules, then become hostd (PID 1:
# it reaps every orphan, and the OOM killer never picks it).
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
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
