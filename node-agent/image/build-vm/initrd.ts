import { ensureBusyboxInitrd } from "../../hypervisor/initrd";
import { SKIP_RESIZE_FILE } from "./job";
import { BUILD_MARK } from "./protocol";

/** Bump when the init script or layout changes so cached build initrds are rebuilt. */
const BUILD_INITRD_VERSION = "4";

/** Drivers of the build VM: its three disks (image, job, context) and the NIC to the proxy. */
const BUILD_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "virtio_rng"];

/**
 * PID 1 of the disposable build VM. It finds its disks by virtio serial (`root`, `job`,
 * `context`), mounts the image being built and grows it to its disk, unpacks the job, chroots
 * into the image to run the job's driver with its output on the console, then kills whatever the
 * steps left running, trims and unmounts the image and powers off. Everything user code can touch is inside this VM.
 */
export const BUILD_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
M='${BUILD_MARK}'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m" 2>/dev/null; done
fail() { echo "$M platform-error $*"; sync; poweroff -f; }
dev_of() {
  for d in /sys/block/vd*; do
    [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/\${d##*/}"; return 0; }
  done
  return 1
}
i=0
while ! { dev_of root && dev_of job && dev_of context; } >/dev/null && [ $i -lt 400 ]; do
  usleep 25000; i=$((i + 1))
done
root=$(dev_of root) || fail "build disk missing"
job=$(dev_of job) || fail "job disk missing"
ctx=$(dev_of context) || fail "context disk missing"
mkdir -p /newroot /job
mount -t ext4 -o rw,noatime,barrier=0 "$root" /newroot || fail "cannot mount the build disk"
tar -xf "$job" -C /job || fail "cannot unpack the job"
echo "$ctx" > /job/context-device
chmod 0755 /job/bin/* 2>/dev/null
hostname localhost
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
fi
for d in proc sys dev run; do mkdir -p "/newroot/$d"; done
mount -t proc proc /newroot/proc
mount -t sysfs -o ro sysfs /newroot/sys
mount -o bind /dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/formation-job /newroot/run/lock
mount -o bind /job /newroot/run/formation-job
# The disk is a layer of DISK GB over the 5 GB base: the base's own resize2fs (no step has run yet)
# grows the mounted file system to the whole disk.
# (Not when DISK is the base's size: the job then carries ${SKIP_RESIZE_FILE}.)
[ -e /job/${SKIP_RESIZE_FILE} ] || chroot /newroot /sbin/resize2fs "$root" >/dev/null 2>&1 ||
  fail "cannot grow the file system to DISK"
echo "$M ready"
chroot /newroot /bin/sh /run/formation-job/build.sh </dev/null >/dev/console 2>&1
rc=$?
# Daemons a RUN step started (and anything hiding from the driver) end with the build.
kill -9 -1 2>/dev/null
usleep 100000
for m in /newroot/run/formation-job /newroot/run /newroot/dev/shm /newroot/dev/pts /newroot/dev /newroot/sys /newroot/proc; do
  umount -l "$m" 2>/dev/null
done
fstrim /newroot 2>/dev/null
umount /newroot 2>/dev/null || mount -o remount,ro /newroot 2>/dev/null
sync
echo "$M done $rc"
poweroff -f
`;

/** The build VM's initrd (built once, cached by content). */
export function ensureBuildInitrd(opts: {
  cacheDir: string;
  kernelVersion: string;
  modulesDir: string;
}): Promise<string> {
  return ensureBusyboxInitrd({
    ...opts,
    name: "build",
    version: BUILD_INITRD_VERSION,
    modules: BUILD_MODULES,
    init: BUILD_INIT,
    dirs: ["job"],
  });
}
