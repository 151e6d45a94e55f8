#!/bin/busybox sh
# ezone guest init (PID 1): mount the pseudo file systems, load the modules the host's monitor relies on,
# then hand PID 1 to the agent. Kept to BusyBox applets; everything else is the agent's job.
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /tmp && mount -t tmpfs tmpfs /tmp
# pvpanic: the kernel tells QEMU it panicked (QMP GUEST_PANICKED); virtio-net: a composed cell's NIC (the
# agent's NET command configures it). Debian builds them as modules. A kernel they were not built for (UML,
# which has neither) skips them instead of logging load errors.
release=$(uname -r)
for m in /lib/ezone/boot/*.ko; do
  [ -e "$m" ] && tr '\0' '\n' <"$m" | grep -q "^vermagic=$release " && insmod "$m" 2>/dev/null
done
exec /sbin/ezone-agent
