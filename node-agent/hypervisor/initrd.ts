import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../host/exec";
import { SSHD_START_PATH } from "../image/guest-files";
import { IDENTITY_HOOK_SCRIPT, IDENTITY_HOOK_UNIT } from "./identity-hook";

/** Bump when the init script or layout changes so cached initrds are rebuilt. */
const INITRD_VERSION = "4";

/** Virtio drivers (plus the ACPI power button for QMP system_powerdown and fw_cfg for the per-VM host key) the guest needs before it can mount its root disk and reach the network. */
export const GUEST_MODULES = [
  "virtio_pci",
  "virtio_blk",
  "virtio_net",
  "virtio_rng",
  "button",
  "qemu_fw_cfg",
  // The identity channel (virtio-serial port) of snapshot restores and resumes.
  "virtio_console",
];

/**
 * Orders the modules (and everything they depend on) so that each is loaded after its
 * dependencies, from the kernel's modules.dep — e.g. virtio_ring before virtio before virtio_pci.
 */
export function resolveModuleOrder(modulesDep: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split("\n")) {
    const [mod, rest] = line.split(":");
    if (!mod || rest === undefined) continue;
    deps.set(mod.trim(), rest.trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map<string, string>();
  for (const path of deps.keys()) {
    const base =
      path
        .split("/")
        .pop()
        ?.replace(/\.ko(\.(xz|zst|gz))?$/, "") ?? path;
    byName.set(base.replaceAll("-", "_"), path);
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    // modules.dep lists the transitive closure with the deepest dependency last.
    for (const d of [...(deps.get(path) ?? [])].reverse()) visit(d);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name.replaceAll("-", "_"));
    // Built-in drivers have no .ko: nothing to load.
    if (path) visit(path);
  }
  return order;
}

const INIT_SCRIPT = `#!/bin/busybox sh
# Formation guest initrd: load the virtio modules, mount the root disk, hand over to systemd.
/bin/busybox --install -s /bin
mount -t proc -o nosuid,noexec,nodev proc /proc
mount -t sysfs -o nosuid,noexec,nodev sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules.order); do
  insmod "/lib/modules/$m" || echo "initrd: insmod $m failed"
done
root=/dev/vda
for a in $(cat /proc/cmdline); do
  case "$a" in root=*) root="\${a#root=}" ;; esac
done
# The disk appears asynchronously after virtio_blk probes it; wait up to 10 s.
i=0
while [ ! -b "$root" ] && [ $i -lt 200 ]; do usleep 50000; i=$((i + 1)); done
mkdir -p /newroot
if ! mount -t ext4 -o rw,noatime "$root" /newroot; then
  echo "initrd: cannot mount root $root; powering off"
  poweroff -f
fi
# What the rootfs's formation-guest-net and formation-hostkeys units would do after systemd starts
# (shell scripts, ~1 s of emulated CPU each under TCG) is done here with the static busybox, before
# systemd, so sshd can start at once. A tmpfs /run (kept by systemd) carries a marker per finished
# task; the units skip when they see it and still do the work under an older initrd.
mkdir -p /newroot/run
mount -t tmpfs -o mode=0755,nosuid,nodev,size=20% tmpfs /newroot/run
mkdir -p /newroot/run/formation
ip=""; gw=""; name=""
for a in $(cat /proc/cmdline); do
  case "$a" in
    formation.ip=*) ip="\${a#formation.ip=}" ;;
    formation.gw=*) gw="\${a#formation.gw=}" ;;
    systemd.hostname=*) name="\${a#systemd.hostname=}" ;;
  esac
done
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do usleep 50000; i=$((i + 1)); done
if [ -n "$ip" ] && [ -n "$gw" ] && ip link set lo up && ip link set eth0 up &&
  ip addr add "$ip/32" dev eth0 && ip route add "$gw/32" dev eth0 scope link &&
  ip route add default via "$gw" dev eth0 onlink; then
  if [ -n "$name" ] && ! grep -q "[[:space:]]$name$" /newroot/etc/hosts; then
    echo "127.0.1.1 $name" >> /newroot/etc/hosts
  fi
  touch /newroot/run/formation/early-net
fi
fw=/sys/firmware/qemu_fw_cfg/by_name/opt/formation
key=/newroot/etc/ssh/ssh_host_ed25519_key
if [ -r "$fw/ssh_host_ed25519_key/raw" ] && [ -d /newroot/etc/ssh ]; then
  umask 077
  if cat "$fw/ssh_host_ed25519_key/raw" > "$key.tmp" && mv "$key.tmp" "$key"; then
    umask 022
    cat "$fw/ssh_host_ed25519_key.pub/raw" > "$key.pub" && touch /newroot/run/formation/early-hostkey
  fi
  umask 022
fi
# The identity hook (hypervisor/identity-hook.ts) as a runtime unit, with a static busybox to run it.
if cp /bin/busybox /newroot/run/formation/busybox && cp /etc/formation/identity-hook /newroot/run/formation/ &&
  mkdir -p /newroot/run/systemd/system/multi-user.target.wants &&
  cp /etc/formation/formation-identity.service /newroot/run/systemd/system/; then
  ln -sf ../formation-identity.service /newroot/run/systemd/system/multi-user.target.wants/
fi
# The kernel's filesystems go over to systemd as they are (it mounts only what is missing).
mount -o move /proc /newroot/proc
mount -o move /sys /newroot/sys
mount -o move /dev /newroot/dev
# sshd starts here, before systemd, when the image's ssh.service can adopt it (its start script,
# SSHD_START_SCRIPT in image/guest-files.ts) and would run at all (enabled, not masked, no
# sshd_not_to_be_run): listening ~1.5 s sooner under TCG than after systemd's own start. It runs
# in the real root with a clean environment, as ssh.service would.
sys=/newroot/etc/systemd/system
if [ -e /newroot/run/formation/early-net ] && [ -e /newroot/run/formation/early-hostkey ] &&
  [ -x /newroot${SSHD_START_PATH} ] && [ -L $sys/multi-user.target.wants/ssh.service ] &&
  [ ! -L $sys/ssh.service ] && [ ! -e /newroot/etc/ssh/sshd_not_to_be_run ]; then
  mkdir -p /newroot/dev/pts && mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=000 devpts /newroot/dev/pts
  mkdir -p -m 0755 /newroot/run/sshd
  rm -f /newroot/run/sshd.pid
  # It forks once its configuration is read (an error ends it here); its pid file appears once it
  # listens, and until then it has the CPU to itself (systemd waits).
  i=2000
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 chroot /newroot /usr/sbin/sshd && i=0
  while [ ! -s /newroot/run/sshd.pid ] && [ $i -lt 2000 ]; do usleep 10000; i=$((i + 1)); done
  if [ -s /newroot/run/sshd.pid ]; then
    # Until ssh.service adopts it (and sets it back to 0), logins outrank systemd's own start for
    # the one emulated vCPU.
    read -r pid < /newroot/run/sshd.pid && renice -n -10 -p "$pid" >/dev/null
    : > /newroot/run/formation/early-sshd
    echo "initrd: sshd listening before systemd"
  else
    echo "initrd: sshd did not start; ssh.service will start it"
  fi
fi
exec switch_root /newroot /sbin/init
`;

/** Packs a directory into a gzip'd newc cpio (the initramfs format) with busybox's cpio. */
export async function packInitramfs(opts: { rootDir: string; outFile: string }): Promise<void> {
  await run([
    "/bin/sh",
    "-c",
    'cd "$1" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$2"',
    "sh",
    opts.rootDir,
    opts.outFile,
  ]);
}

/** Copies a file with its mode into the initramfs tree. */
export async function addFile(root: string, src: string, dst: string, mode?: number): Promise<void> {
  const target = join(root, dst);
  await mkdir(join(target, ".."), { recursive: true });
  await copyFile(src, target);
  await chmod(target, mode ?? (await stat(src)).mode & 0o7777);
}

/**
 * Builds (once, cached by content) a busybox initrd: the given modules of the guest kernel (with
 * their dependencies, in load order in /etc/modules.order) and `init` as PID 1, at
 * `<cacheDir>/initrd/<name>-<hash>.img`. The guest VM's and the build VM's initrds are both this.
 */
export async function ensureBusyboxInitrd(opts: {
  cacheDir: string;
  kernelVersion: string;
  modulesDir: string;
  /** File name prefix, e.g. `guest`. */
  name: string;
  /** Bumped by the caller when its layout changes, so cached initrds are rebuilt. */
  version: string;
  modules: readonly string[];
  init: string;
  /** Extra empty directories the init expects. */
  dirs?: readonly string[];
  /** Extra files: path in the initrd → content and mode. */
  files?: Readonly<Record<string, { content: string; mode: number }>>;
}): Promise<string> {
  const modulesDep = await readFile(join(opts.modulesDir, "modules.dep"), "utf8");
  const order = resolveModuleOrder(modulesDep, opts.modules);
  const busybox = await readFile("/bin/busybox");
  const hash = createHash("sha256")
    .update(
      JSON.stringify({
        version: opts.version,
        kernel: opts.kernelVersion,
        order,
        init: opts.init,
        files: opts.files ?? {},
      }),
    )
    .update(createHash("sha256").update(busybox).digest())
    .digest("hex")
    .slice(0, 24);
  const dir = join(opts.cacheDir, "initrd");
  const out = join(dir, `${opts.name}-${hash}.img`);
  if (
    await stat(out).then(
      () => true,
      () => false,
    )
  )
    return out;
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, `.${opts.name}-`));
  try {
    const root = join(tmp, "root");
    for (const d of ["bin", "dev", "proc", "sys", "etc", "newroot", "lib/modules", ...(opts.dirs ?? [])])
      await mkdir(join(root, d), { recursive: true });
    await addFile(root, "/bin/busybox", "bin/busybox", 0o755);
    for (const m of order) await addFile(root, join(opts.modulesDir, m), join("lib/modules", m), 0o644);
    await writeFile(join(root, "etc/modules.order"), `${order.join("\n")}\n`);
    await writeFile(join(root, "init"), opts.init, { mode: 0o755 });
    for (const [path, file] of Object.entries(opts.files ?? {})) {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), file.content, { mode: file.mode });
    }
    const img = join(tmp, "initrd.img");
    await packInitramfs({ rootDir: root, outFile: img });
    await rename(img, out);
    return out;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The small busybox initrd that loads the virtio modules of the guest kernel and switch_roots into
 * /dev/vda. The Debian cloud kernel builds virtio as modules, so booting it directly needs this;
 * Debian's own initramfs-tools image is far slower to boot under TCG.
 */
export function ensureGuestInitrd(opts: {
  cacheDir: string;
  kernelVersion: string;
  modulesDir: string;
}): Promise<string> {
  return ensureBusyboxInitrd({
    ...opts,
    name: "guest",
    version: INITRD_VERSION,
    modules: GUEST_MODULES,
    init: INIT_SCRIPT,
    files: {
      "etc/formation/identity-hook": { content: IDENTITY_HOOK_SCRIPT, mode: 0o755 },
      // systemd warns about (and may one day refuse) executable unit files.
      "etc/formation/formation-identity.service": { content: IDENTITY_HOOK_UNIT, mode: 0o644 },
    },
  });
}
