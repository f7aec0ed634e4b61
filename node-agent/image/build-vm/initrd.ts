import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { addFile, packInitramfs, resolveModuleOrder } from "../../hypervisor/initrd";
import { BUILD_MARK } from "./protocol";

/** Bump when the init script or layout changes so cached build initrds are rebuilt. */
const BUILD_INITRD_VERSION = "1";

/** Drivers of the build VM: its three disks (image, job, context) and the NIC to the proxy. */
const BUILD_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "virtio_rng"];

/**
 * PID 1 of the disposable build VM. It finds its disks by virtio serial (`root`, `job`,
 * `context`), mounts the image being built, unpacks the job, chroots into the image to run the
 * job's driver with its output on the console, then kills whatever the steps left running, trims
 * and unmounts the image and powers off. Everything user code can touch is inside this VM.
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

/** Builds (once, cached by content) the build VM's initrd from busybox and the guest kernel's modules. */
export async function ensureBuildInitrd(opts: {
  cacheDir: string;
  kernelVersion: string;
  modulesDir: string;
}): Promise<string> {
  const modulesDep = await readFile(join(opts.modulesDir, "modules.dep"), "utf8");
  const order = resolveModuleOrder(modulesDep, BUILD_MODULES);
  const busybox = await readFile("/bin/busybox");
  const hash = createHash("sha256")
    .update(JSON.stringify({ BUILD_INITRD_VERSION, kernel: opts.kernelVersion, order, BUILD_INIT }))
    .update(createHash("sha256").update(busybox).digest())
    .digest("hex")
    .slice(0, 24);
  const dir = join(opts.cacheDir, "initrd");
  const out = join(dir, `build-${hash}.img`);
  if (existsSync(out)) return out;
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, ".build-vm-"));
  try {
    const root = join(tmp, "root");
    for (const d of ["bin", "dev", "proc", "sys", "etc", "newroot", "job", "lib/modules"])
      await mkdir(join(root, d), { recursive: true });
    await addFile(root, "/bin/busybox", "bin/busybox", 0o755);
    for (const m of order) await addFile(root, join(opts.modulesDir, m), join("lib/modules", m), 0o644);
    await writeFile(join(root, "etc/modules.order"), `${order.join("\n")}\n`);
    await writeFile(join(root, "init"), BUILD_INIT, { mode: 0o755 });
    const img = join(tmp, "initrd.img");
    await packInitramfs({ rootDir: root, outFile: img });
    await rename(img, out);
    return out;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
