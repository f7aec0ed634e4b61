import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readdir, readFile, stat, statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { agentEnv } from "../config/env";
import { run, which } from "./exec";
import { deleteLink, linkExists } from "./net";
import { VM_USER } from "./vm-user";

export type TAccelerator = "kvm" | "tcg";

export type TPreflightCheck = {
  id: string;
  ok: boolean;
  /** What was found. */
  detail: string;
  /** Exact command (or action) that fixes a failed check. */
  fix?: string;
  /** A failed required check makes the host unable to build or run VMs. */
  required: boolean;
};

export type TPreflightReport = {
  ok: boolean;
  accelerator: TAccelerator;
  /** Why this accelerator was chosen. */
  acceleratorReason: string;
  /** Newest Debian cloud kernel found in /boot (null when missing). */
  guestKernel: { version: string; vmlinuz: string; modulesDir: string } | null;
  wireguard: "kernel" | "wireguard-go" | null;
  checks: TPreflightCheck[];
};

const SETUP = "sudo scripts/setup-host.sh";

/**
 * Decides whether KVM truly works. `/dev/kvm` can open on hosts where guests still cannot run: a
 * paravirtual KVM (`kvm_pvm`) accepts ioctls but real guests crawl then die with an emulation
 * failure, and QEMU's `-accel kvm -accel tcg` fallback does not catch that. So require the CPU's
 * virtualisation flag, reject kvm_pvm, and (optionally) confirm with a short timed probe boot.
 */
export async function detectAccelerator(
  opts: { probe?: (accel: TAccelerator) => Promise<boolean> } = {},
): Promise<{ accelerator: TAccelerator; reason: string }> {
  const forced = agentEnv().FORMATION_ACCEL;
  if (forced !== undefined) return { accelerator: forced, reason: "forced by FORMATION_ACCEL" };
  try {
    await access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { accelerator: "tcg", reason: "/dev/kvm is missing or not read/writable" };
  }
  const modules = await loadedModules();
  if (modules.has("kvm_pvm")) {
    return {
      accelerator: "tcg",
      reason: "KVM is the paravirtual kvm_pvm module: guests cannot run under it",
    };
  }
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) {
    return { accelerator: "tcg", reason: "the CPU exposes no vmx/svm flag (nested virtualisation is off)" };
  }
  if (opts.probe && !(await opts.probe("kvm"))) {
    return { accelerator: "tcg", reason: "a probe boot under KVM did not reach userspace in time" };
  }
  return { accelerator: "kvm", reason: "/dev/kvm usable and the CPU has hardware virtualisation" };
}

/**
 * Boots the guest kernel with no root disk under `accel` and waits for it to reach the point where
 * it looks for a root filesystem (it then panics and, with `panic=-1 -no-reboot`, QEMU exits). A
 * KVM that accepts ioctls but cannot run guests never gets there in time.
 */
export async function probeBoot(opts: {
  accelerator: TAccelerator;
  vmlinuz: string;
  timeoutMs?: number;
}): Promise<boolean> {
  const r = await run(
    [
      "qemu-system-x86_64",
      "-machine",
      `q35,accel=${opts.accelerator}`,
      "-m",
      "256",
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-serial",
      "stdio",
      "-kernel",
      opts.vmlinuz,
      "-append",
      "console=ttyS0 panic=-1",
    ],
    { timeoutMs: opts.timeoutMs ?? 20_000, allowFailure: true },
  ).catch(() => null);
  return r !== null && /VFS: Unable to mount root|Kernel panic/.test(r.stdout);
}

/** Loaded kernel modules from /proc/modules, or /sys/module when /proc/modules is absent. */
async function loadedModules(): Promise<Set<string>> {
  const text = await readFile("/proc/modules", "utf8").catch(() => null);
  if (text !== null) return new Set(text.split("\n").map((l) => l.split(" ")[0] ?? ""));
  return new Set(await readdir("/sys/module").catch(() => []));
}

/** Newest `/boot/vmlinuz-*-cloud-amd64` with its modules directory. */
export async function findGuestKernel(): Promise<TPreflightReport["guestKernel"]> {
  const files = await readdir("/boot").catch(() => [] as string[]);
  const versions = files
    .filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f))
    .map((f) => f.slice("vmlinuz-".length))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  for (const version of versions.reverse()) {
    const modulesDir = `/lib/modules/${version}`;
    try {
      await access(`${modulesDir}/modules.dep`);
      return { version, vmlinuz: `/boot/vmlinuz-${version}`, modulesDir };
    } catch {
      // Kernel without its modules: not usable for the virtio initrd.
    }
  }
  return null;
}

async function binaryCheck(
  id: string,
  bins: string[],
  pkg: string,
  required = true,
): Promise<TPreflightCheck> {
  const missing: string[] = [];
  for (const b of bins) if (!(await which(b))) missing.push(b);
  return missing.length === 0
    ? { id, ok: true, detail: bins.join(", "), required }
    : { id, ok: false, detail: `missing ${missing.join(", ")}`, fix: `apt-get install -y ${pkg}`, required };
}

async function bridgeCheck(): Promise<TPreflightCheck> {
  const suffix = randomBytes(3).toString("hex");
  const br = `fmpfb${suffix}`;
  const tap = `fmpft${suffix}`;
  try {
    await run(["ip", "link", "add", "name", br, "type", "bridge"]);
    await run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
    await run(["ip", "link", "set", tap, "master", br]);
    // What every VM's tap gets (host/guest-isolation.ts): an isolated port without learning.
    await run(["bridge", "link", "set", "dev", tap, "isolated", "on", "learning", "off"]);
    return {
      id: "bridge-tap",
      ok: true,
      detail: "created and removed a test bridge and an isolated tap",
      required: true,
    };
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return {
      id: "bridge-tap",
      ok: false,
      detail,
      fix: "run the agent as root with CAP_NET_ADMIN and /dev/net/tun",
      required: true,
    };
  } finally {
    await deleteLink(tap);
    if (linkExists(br)) await deleteLink(br);
  }
}

async function diskCheck(cacheDir: string, minFreeGb: number): Promise<TPreflightCheck> {
  await mkdir(cacheDir, { recursive: true }).catch(() => undefined);
  const s = await statfs(cacheDir);
  const freeGb = (s.bavail * s.bsize) / 1024 ** 3;
  return {
    id: "disk-space",
    ok: freeGb >= minFreeGb,
    detail: `${freeGb.toFixed(1)} GiB free in ${cacheDir}`,
    fix: freeGb >= minFreeGb ? undefined : `free at least ${minFreeGb} GiB under ${cacheDir}`,
    required: true,
  };
}

/**
 * The build VM's QEMU runs as the unprivileged VM user and opens its disk under the builder cache:
 * every directory above the cache must let others through (`x`), or every build fails with
 * "Permission denied" (a cache under a 0700 directory, e.g. a `mktemp -d`).
 */
export async function cacheReachableCheck(cacheDir: string): Promise<TPreflightCheck> {
  const blocked: string[] = [];
  for (let dir = resolve(cacheDir); ; dir = dirname(dir)) {
    const st = await stat(dir).catch(() => null);
    if (st && (st.mode & 0o001) === 0) blocked.push(dir);
    if (dir === dirname(dir)) break;
  }
  blocked.reverse();
  return {
    id: "cache-reachable",
    ok: blocked.length === 0,
    detail:
      blocked.length === 0
        ? `${cacheDir} is reachable by the VM user ${VM_USER}`
        : `${VM_USER} cannot reach ${cacheDir}: ${blocked.join(", ")} lets no others through`,
    fix:
      blocked.length === 0
        ? undefined
        : `chmod o+x ${blocked.join(" ")}   (or choose a cache directory such as /var/cache/formation)`,
    // VMs still run; builds fail until it is fixed.
    required: false,
  };
}

/** Checks everything the agent needs to build images and run VMs, and picks the accelerator. */
export async function runPreflight(
  opts: {
    cacheDir?: string;
    minFreeGb?: number;
    probe?: ((accel: TAccelerator) => Promise<boolean>) | false;
  } = {},
): Promise<TPreflightReport> {
  const checks: TPreflightCheck[] = [];
  const root = process.getuid?.() === 0;
  checks.push({
    id: "root",
    ok: root,
    detail: root ? "running as root" : "not root",
    fix: root ? undefined : "run the agent as root",
    required: true,
  });

  // The probe boot runs only when the static checks already say KVM (operators' hosts).
  const kernelForProbe = await findGuestKernel();
  const probe =
    opts.probe === false
      ? undefined
      : (opts.probe ??
        (kernelForProbe
          ? (a: TAccelerator) => probeBoot({ accelerator: a, vmlinuz: kernelForProbe.vmlinuz })
          : undefined));
  const accel = await detectAccelerator({ probe });
  checks.push({
    id: "accelerator",
    ok: true,
    detail: `${accel.accelerator}: ${accel.reason}`,
    required: false,
  });

  checks.push(await binaryCheck("qemu", ["qemu-system-x86_64"], "qemu-system-x86"));
  checks.push(await binaryCheck("qemu-img", ["qemu-img"], "qemu-utils"));
  checks.push(await binaryCheck("mmdebstrap", ["mmdebstrap"], "mmdebstrap"));
  checks.push(await binaryCheck("mkfs-ext4", ["mkfs.ext4"], "e2fsprogs"));
  checks.push(await binaryCheck("busybox", ["busybox"], "busybox-static"));
  // The build VM: its guestfwd pipe to the egress proxy, and the privilege drop of its QEMU.
  checks.push(await binaryCheck("socat", ["socat"], "socat"));
  checks.push(await binaryCheck("setpriv", ["setpriv", "unshare"], "util-linux"));
  checks.push(await binaryCheck("iproute2", ["ip"], "iproute2"));
  checks.push(await binaryCheck("wg", ["wg"], "wireguard-tools"));

  const modules = await loadedModules();
  const hasWgModule =
    modules.has("wireguard") ||
    (await run(["modprobe", "-n", "wireguard"], { allowFailure: true }).then(
      (r) => r.exitCode === 0,
      () => false,
    ));
  const wgGo = (await which("wireguard-go")) !== null;
  const wireguard = hasWgModule ? "kernel" : wgGo ? "wireguard-go" : null;
  checks.push({
    id: "wireguard",
    ok: wireguard !== null,
    detail: wireguard ?? "neither the wireguard kernel module nor wireguard-go is available",
    fix: wireguard ? undefined : "apt-get install -y wireguard-go",
    required: true,
  });

  const guestKernel = await findGuestKernel();
  checks.push({
    id: "guest-kernel",
    ok: guestKernel !== null,
    detail: guestKernel ? guestKernel.vmlinuz : "no /boot/vmlinuz-*-cloud-amd64 with modules",
    fix: guestKernel ? undefined : "apt-get install -y linux-image-cloud-amd64",
    required: true,
  });

  const cacheDir = opts.cacheDir ?? "/var/cache/formation";
  checks.push(await diskCheck(cacheDir, opts.minFreeGb ?? 10));
  checks.push(await cacheReachableCheck(cacheDir));
  if (root) checks.push(await bridgeCheck());

  for (const c of checks) if (!c.ok && c.fix?.startsWith("apt-get")) c.fix = `${c.fix}   (or: ${SETUP})`;
  return {
    ok: checks.every((c) => c.ok || !c.required),
    accelerator: accel.accelerator,
    acceleratorReason: accel.reason,
    guestKernel,
    wireguard,
    checks,
  };
}
