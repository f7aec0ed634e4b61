import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, waitFor } from "../formnet/command";
import type { Netns } from "./netns";

/**
 * A real but tiny QEMU guest for network tests: Debian's cloud kernel booted directly (q35, TCG) with
 * a busybox initramfs that loads the virtio-net modules, takes a static formnet /32 from the kernel
 * command line (`formnet.ip=`, `formnet.gw=`), answers ping and serves HTTP on port 8080.
 * Launch to ready is a few seconds under TCG.
 */

const CACHE_DIR = "/var/cache/formation/netns-vm";
// Load order matters: the cloud kernel builds virtio as modules and virtio_ring must come first.
const MODULES = [
  "drivers/virtio/virtio_ring.ko",
  "drivers/virtio/virtio.ko",
  "drivers/virtio/virtio_pci_legacy_dev.ko",
  "drivers/virtio/virtio_pci_modern_dev.ko",
  "drivers/virtio/virtio_pci.ko",
  "net/core/failover.ko",
  "drivers/net/net_failover.ko",
  "drivers/net/virtio_net.ko",
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${MODULES.map((m) => m.split("/").pop()).join(" ")}; do insmod /lib/modules/$m; done
arg() { sed -n "s/.*$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
IP=$(arg formnet.ip)
GW=$(arg formnet.gw)
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
ip link set lo up
ip link set eth0 up
ip addr add $IP/32 dev eth0
ip route add $GW dev eth0
ip route add default via $GW
mkdir -p /www
echo "formnet-vm $IP" > /www/index.html
httpd -p 8080 -h /www
echo "FORMNET-VM-READY $IP"
while true; do sleep 3600; done
`;

export type TKernel = { kernel: string; modulesDir: string };

/** Newest Debian cloud kernel on this host and its module tree. */
export async function findCloudKernel(): Promise<TKernel> {
  const names = (await readdir("/boot")).filter((n) => /^vmlinuz-.*-cloud-amd64$/.test(n)).sort();
  const name = names.at(-1);
  if (name === undefined) throw new Error("No /boot/vmlinuz-*-cloud-amd64; install linux-image-cloud-amd64");
  const version = name.slice("vmlinuz-".length);
  return { kernel: join("/boot", name), modulesDir: join("/lib/modules", version, "kernel") };
}

/** Build (or reuse from the cache, keyed by content) the busybox initramfs. */
export async function buildInitramfs(kernel: TKernel): Promise<string> {
  const hash = createHash("sha256").update(INIT).update(kernel.modulesDir);
  hash.update(String((await stat("/bin/busybox")).size));
  const out = join(CACHE_DIR, `initramfs-${hash.digest("hex").slice(0, 16)}.cpio.gz`);
  if (
    await stat(out).then(
      () => true,
      () => false,
    )
  )
    return out;
  await mkdir(CACHE_DIR, { recursive: true });
  const root = await mkdtemp(join(tmpdir(), "netns-vm-"));
  try {
    for (const dir of ["bin", "proc", "sys", "dev", "lib/modules", "www", "tmp"]) {
      await mkdir(join(root, dir), { recursive: true });
    }
    await copyFile("/bin/busybox", join(root, "bin/busybox"));
    for (const module of MODULES) {
      await copyFile(
        join(kernel.modulesDir, module),
        join(root, "lib/modules", module.split("/").pop() ?? module),
      );
    }
    await writeFile(join(root, "init"), INIT, { mode: 0o755 });
    const partial = `${out}.${process.pid}.tmp`;
    await run("sh", ["-c", `cd "${root}" && find . | cpio -o -H newc --quiet | gzip -1 > "${partial}"`]);
    // Rename is atomic, so concurrent builders never see a half-written image.
    await rename(partial, out);
    return out;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export type TBusyboxVmOptions = {
  ns: Netns;
  /** Bridge inside `ns` to plug the VM's tap into. */
  bridge: string;
  tap: string;
  ip: string;
  gateway: string;
  /** Serial console log file. */
  consoleLog: string;
  readyTimeoutMs?: number;
};

export type TBusyboxVm = { process: ChildProcess; stop: () => Promise<void> };

/** Boot the test VM in `ns` on `bridge` and wait until its init reports ready. */
export async function startBusyboxVm(options: TBusyboxVmOptions): Promise<TBusyboxVm> {
  const kernel = await findCloudKernel();
  const initrd = await buildInitramfs(kernel);
  const { ns, tap } = options;
  await ns.exec("ip", ["tuntap", "add", tap, "mode", "tap"]);
  await ns.exec("ip", ["link", "set", tap, "master", options.bridge, "up"]);
  await writeFile(options.consoleLog, "");
  const mac = `52:54:00:${options.ip
    .split(".")
    .slice(1)
    .map((o) => Number(o).toString(16).padStart(2, "0"))
    .join(":")}`;
  const child = ns.spawn("qemu-system-x86_64", [
    ...["-machine", "q35", "-accel", "tcg", "-m", "256", "-smp", "1"],
    ...["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"],
    ...["-kernel", kernel.kernel, "-initrd", initrd],
    ...["-append", `console=ttyS0 quiet panic=-1 formnet.ip=${options.ip} formnet.gw=${options.gateway}`],
    ...["-serial", `file:${options.consoleLog}`],
    ...["-netdev", `tap,id=n0,ifname=${tap},script=no,downscript=no`],
    ...["-device", `virtio-net-pci,netdev=n0,mac=${mac}`],
  ]);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    }
    await ns.exec("ip", ["link", "del", tap]).catch(() => undefined);
  };
  try {
    await waitFor(
      "the test VM to report ready",
      async () => {
        if (child.exitCode !== null) throw new Error(`qemu exited with ${child.exitCode}`);
        const text = await readFile(options.consoleLog, "utf8");
        return text.includes(`FORMNET-VM-READY ${options.ip}`) ? true : undefined;
      },
      { timeoutMs: options.readyTimeoutMs ?? 60_000, intervalMs: 100 },
    );
  } catch (error) {
    const log = await readFile(options.consoleLog, "utf8").catch(() => "");
    await stop();
    throw new Error(`Test VM did not boot; console tail:\n${log.slice(-2000)}`, { cause: error });
  }
  return { process: child, stop };
}
