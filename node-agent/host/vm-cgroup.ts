import { existsSync } from "node:fs";
import { mkdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A cgroup per VM for its QEMU process: CPU time capped at the instance's VCPU (plus half a core for
 * QEMU's own I/O and emulator threads), memory at MEM plus QEMU's overhead, a pid limit, and disk
 * bandwidth/IOPS on the device that holds the VM's disk. cgroup v2 (`/sys/fs/cgroup` unified) or
 * v1 (one directory per controller), whichever the host mounts. A controller the host does not
 * offer is reported, not fatal: the limits that exist are still applied.
 */
export const CGROUP_ROOT = "/sys/fs/cgroup";
const GROUP = "formation-vms";
const PERIOD_US = 100_000;
export const VM_PIDS_MAX = 512;
/** Disk limits per VM: bandwidth in bytes/s and operations/s, read and write each. */
export const VM_DISK_BPS = 200 * 1024 * 1024;
export const VM_DISK_IOPS = 4000;

export type TVmCgroupLimits = {
  vcpu: number;
  memoryMb: number;
  diskPath: string;
  accelerator: "kvm" | "tcg";
};
export type TVmCgroupResult = { paths: string[]; skipped: string[] };
/** The VM's cgroup(s), made and limited; a process joins them by writing its pid to each of `procs`. */
export type TVmCgroup = TVmCgroupResult & { procs: string[] };

/**
 * Guest RAM plus QEMU's own memory: device state and I/O buffers (max(512 MiB, MEM/4)) and, under
 * TCG, the translated-code cache, which QEMU 7.2 lets grow to 1 GiB (seen: a build VM of 1 GiB
 * installing docker.io reached 1.53 GiB of anonymous memory and was OOM-killed at a 1.5 GiB cap).
 */
export function memoryLimitBytes(memoryMb: number, accelerator: "kvm" | "tcg"): number {
  const tcgCache = accelerator === "tcg" ? 1024 : 0;
  return (memoryMb + Math.max(512, Math.ceil(memoryMb / 4)) + tcgCache) * 1024 * 1024;
}

export function cpuQuotaUs(vcpu: number): number {
  return vcpu * PERIOD_US + PERIOD_US / 2;
}

/** `key` is host-unique per VM (the agent uses the VM's tap name, a hash of data dir + instance). */
function cgroupName(key: string): string {
  return key.replace(/[^A-Za-z0-9_.-]/g, "_");
}

const isV2 = (): boolean => existsSync(join(CGROUP_ROOT, "cgroup.controllers"));

async function blockDevice(path: string): Promise<string | null> {
  const dev = (await stat(path)).dev;
  // Linux dev_t: major in bits 8–19 (and 32+), minor in bits 0–7 and 20–31.
  const major = Number((BigInt(dev) >> 8n) & 0xfffn);
  const minor = Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & 0xfff00n));
  if (major === 0) return null; // not a block device (tmpfs, overlayfs…): no per-device limit
  const devPath = `/sys/dev/block/${major}:${minor}`;
  if (!existsSync(devPath)) return null;
  // A partition's limit is set on its whole disk.
  const whole = existsSync(join(devPath, "partition")) ? join(devPath, "..", "dev") : join(devPath, "dev");
  return (await readFile(whole, "utf8").catch(() => `${major}:${minor}`)).trim();
}

async function tryWrite(file: string, value: string, skipped: string[]): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (error) {
    skipped.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Moves `pid` (all its threads) into the VM's cgroup(s) with `limits` applied. */
export async function confineVmProcess(
  key: string,
  pid: number,
  limits: TVmCgroupLimits,
): Promise<TVmCgroupResult> {
  const group = await prepareVmCgroup(key, limits);
  for (const procs of group.procs) await writeFile(procs, String(pid));
  return group;
}

/** Makes the VM's cgroup(s) with `limits` (idempotent); nothing joins them yet. */
export async function prepareVmCgroup(key: string, limits: TVmCgroupLimits): Promise<TVmCgroup> {
  const name = cgroupName(key);
  const skipped: string[] = [];
  const paths: string[] = [];
  const dev = await blockDevice(limits.diskPath).catch(() => null);
  if (isV2()) {
    const parent = join(CGROUP_ROOT, GROUP);
    await mkdir(parent, { recursive: true });
    await tryWrite(join(CGROUP_ROOT, "cgroup.subtree_control"), "+cpu +memory +pids +io", skipped);
    await tryWrite(join(parent, "cgroup.subtree_control"), "+cpu +memory +pids +io", skipped);
    const dir = join(parent, name);
    await mkdir(dir, { recursive: true });
    await tryWrite(join(dir, "cpu.max"), `${cpuQuotaUs(limits.vcpu)} ${PERIOD_US}`, skipped);
    await tryWrite(
      join(dir, "memory.max"),
      String(memoryLimitBytes(limits.memoryMb, limits.accelerator)),
      skipped,
    );
    await tryWrite(join(dir, "memory.swap.max"), "0", skipped);
    await tryWrite(join(dir, "pids.max"), String(VM_PIDS_MAX), skipped);
    if (dev)
      await tryWrite(
        join(dir, "io.max"),
        `${dev} rbps=${VM_DISK_BPS} wbps=${VM_DISK_BPS} riops=${VM_DISK_IOPS} wiops=${VM_DISK_IOPS}`,
        skipped,
      );
    paths.push(dir);
    return { paths, skipped, procs: [join(dir, "cgroup.procs")] };
  }
  const v1: Record<string, [string, string][]> = {
    cpu: [
      ["cpu.cfs_period_us", String(PERIOD_US)],
      ["cpu.cfs_quota_us", String(cpuQuotaUs(limits.vcpu))],
    ],
    memory: [["memory.limit_in_bytes", String(memoryLimitBytes(limits.memoryMb, limits.accelerator))]],
    pids: [["pids.max", String(VM_PIDS_MAX)]],
    blkio: dev
      ? [
          ["blkio.throttle.read_bps_device", `${dev} ${VM_DISK_BPS}`],
          ["blkio.throttle.write_bps_device", `${dev} ${VM_DISK_BPS}`],
          ["blkio.throttle.read_iops_device", `${dev} ${VM_DISK_IOPS}`],
          ["blkio.throttle.write_iops_device", `${dev} ${VM_DISK_IOPS}`],
        ]
      : [],
  };
  for (const [controller, files] of Object.entries(v1)) {
    const base = join(CGROUP_ROOT, controller);
    if (!existsSync(base)) {
      skipped.push(`${controller}: not mounted`);
      continue;
    }
    const dir = join(base, GROUP, name);
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      skipped.push(`${dir}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    for (const [file, value] of files) await tryWrite(join(dir, file), value, skipped);
    paths.push(dir);
  }
  return { paths, skipped, procs: paths.map((d) => join(d, "cgroup.procs")) };
}

/** Every cgroup directory of the VM (v2: one; v1: one per controller), existing or not. */
export function vmCgroupPaths(key: string): string[] {
  const name = cgroupName(key);
  if (isV2()) return [join(CGROUP_ROOT, GROUP, name)];
  return ["cpu", "memory", "pids", "blkio"].map((c) => join(CGROUP_ROOT, c, GROUP, name));
}

/** Removes the VM's cgroups once its QEMU has exited (a cgroup with a live process stays). */
export async function removeVmCgroup(key: string): Promise<void> {
  for (const dir of vmCgroupPaths(key)) await rmdir(dir).catch(() => undefined);
}
