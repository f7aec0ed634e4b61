/**
 * The boot floor of this machine: the same kernel, machine type and accelerator as our VMs, but a
 * busybox + dropbear initramfs instead of Debian with systemd. Used by bench/vm-bench.ts.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@/node-agent/host/exec";
import { addFile, GUEST_MODULES, packInitramfs, resolveModuleOrder } from "@/node-agent/hypervisor/initrd";

const FLOOR_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m"; done
ip=""; gw=""
for a in $(cat /proc/cmdline); do
  case "$a" in formation.ip=*) ip="\${a#formation.ip=}" ;; formation.gw=*) gw="\${a#formation.gw=}" ;; esac
done
ip link set lo up
ip link set eth0 up
ip addr add "$ip/32" dev eth0
ip route add "$gw/32" dev eth0
ip route add default via "$gw" dev eth0 onlink
dropbear -r /etc/dropbear/host_key -s -p 22
while true; do sleep 3600; done
`;

/** Builds the floor initramfs (busybox, dropbear with its libraries, virtio modules, a root key). */
export async function buildFloorInitramfs(opts: {
  kernelVersion: string;
  modulesDir: string;
  authorizedKey: string;
  outFile: string;
}): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), "fm-floor-"));
  try {
    const root = join(tmp, "root");
    for (const d of ["bin", "dev", "proc", "sys", "etc/dropbear", "root/.ssh", "lib/modules", "tmp"])
      await mkdir(join(root, d), { recursive: true });
    await addFile(root, "/bin/busybox", "bin/busybox", 0o755);
    await addFile(root, "/usr/sbin/dropbear", "bin/dropbear", 0o755);
    const ldd = (await run(["ldd", "/usr/sbin/dropbear"])).stdout;
    for (const m of ldd.matchAll(/(\/[^\s]+\.so[^\s]*)/g)) {
      const lib = m[1];
      if (lib) await addFile(root, lib, lib.slice(1));
    }
    const order = resolveModuleOrder(
      await readFile(join(opts.modulesDir, "modules.dep"), "utf8"),
      GUEST_MODULES,
    );
    for (const m of order) await addFile(root, join(opts.modulesDir, m), join("lib/modules", m), 0o644);
    await writeFile(join(root, "etc/modules.order"), `${order.join("\n")}\n`);
    await run(["dropbearkey", "-t", "ed25519", "-f", join(root, "etc/dropbear/host_key")]);
    await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await writeFile(join(root, "etc/shells"), "/bin/sh\n");
    await writeFile(join(root, "root/.ssh/authorized_keys"), `${opts.authorizedKey.trim()}\n`, {
      mode: 0o600,
    });
    await writeFile(join(root, "init"), FLOOR_INIT, { mode: 0o755 });
    await packInitramfs({ rootDir: root, outFile: opts.outFile });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** QEMU argv for the floor VM (same machine/accelerator/NIC as ours, no disk). */
export function floorArgv(opts: {
  kernel: string;
  initramfs: string;
  tap: string;
  ip: string;
  gw: string;
  accel: string;
  dir: string;
}): string[] {
  return [
    "qemu-system-x86_64",
    "-machine",
    `q35,accel=${opts.accel}`,
    "-smp",
    "1",
    "-m",
    "512",
    "-nodefaults",
    "-no-user-config",
    "-kernel",
    opts.kernel,
    "-initrd",
    opts.initramfs,
    "-append",
    `${opts.accel === "tcg" ? "mitigations=off " : ""}console=ttyS0 quiet net.ifnames=0 formation.ip=${opts.ip} formation.gw=${opts.gw}`,
    "-netdev",
    `tap,id=n0,ifname=${opts.tap},script=no,downscript=no`,
    "-device",
    "virtio-net-pci,netdev=n0",
    "-device",
    "virtio-rng-pci",
    "-serial",
    `file:${join(opts.dir, "floor-serial.log")}`,
    "-pidfile",
    join(opts.dir, "floor.pid"),
    "-display",
    "none",
    "-daemonize",
  ];
}
