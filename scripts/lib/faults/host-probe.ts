import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { processArgv } from "../../../node-agent/hypervisor/proc";
import type { TMultinodePlatform } from "../multinode-test-platform";

const exec = promisify(execFile);

/**
 * What a node host of the multinode platform holds that a VM, a build or an agent creates: the
 * fault matrix compares these before a cell and after its clean-up (nothing may be left behind).
 */
export type THostResources = {
  /** QEMU processes of the host's agent (its VMs and its build VMs). */
  qemu: number[];
  /** VM taps (`fmt…`) in the host's network namespace. */
  taps: string[];
  /** iptables chains of VM access (`FN-…`) in the host's namespace. */
  chains: string[];
  /** WireGuard (formnet) interfaces in the host's namespace (wireguard-go's TUN devices or kernel links). */
  wireguard: string[];
  /** Loop devices backed by files of the host's data directory. */
  loops: string[];
  /** Mounts under the host's data directory. */
  mounts: string[];
  /** Entries of the agent's build work directory. */
  builds: string[];
};

export const nodeDir = (platform: TMultinodePlatform, n: number) =>
  join(platform.dataDir, "nodes", String(n));

/** Every process whose command line contains each of `parts` (a fresh /proc scan). */
export async function pidsWith(parts: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline !== "" && parts.every((p) => cmdline.includes(p))) pids.push(Number(name));
  }
  return pids;
}

/**
 * Processes of the platform whose data dir is `platform.dataDir` (by FORMATION_DATA_DIR in their
 * environment) and whose command line contains each of `parts`: its console, chain, …
 */
export async function platformPids(platform: { dataDir: string }, parts: string[]): Promise<number[]> {
  const entry = `FORMATION_DATA_DIR=${platform.dataDir}`;
  const pids: number[] = [];
  for (const pid of await pidsWith(parts)) {
    const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
    if (environ.split("\0").includes(entry)) pids.push(pid);
  }
  return pids;
}

/** The node agent process (`node-agent/bin.mjs run`) of node host n. */
export async function agentPids(platform: TMultinodePlatform, n: number): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await platform.network.hostPids(n)) {
    const argv = (await processArgv(pid)) ?? [];
    if (argv.some((a) => a.endsWith("node-agent/bin.mjs")) && argv.includes("run")) pids.push(pid);
  }
  return pids;
}

/** Parent pid of `pid` (0 when it is gone). */
async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ")".
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? 0);
}

/**
 * QEMU processes (the program itself, not a wrapper whose arguments name it) whose command line
 * contains each of `parts`.
 */
export async function qemuPids(parts: string[]): Promise<number[]> {
  // A VM's QEMU runs with `-daemonize`, which forks twice: while the VM starts, the QEMU the agent
  // spawned waits for its daemonized grandchild (already reparented), so one VM shows as two
  // processes. A daemonizing QEMU still under its spawner (the agent) does not count.
  const counted: number[] = [];
  for (const pid of await pidsWith(["qemu-system", ...parts])) {
    const argv = (await processArgv(pid)) ?? [];
    if (!/(^|\/)qemu-system-[\w-]+$/.test(argv[0] ?? "")) continue;
    const parent = await parentOf(pid);
    if (parent === 0) continue; // exited meanwhile
    const parentCmd = await readFile(`/proc/${parent}/cmdline`, "utf8").catch(() => "");
    if (
      argv.includes("-daemonize") &&
      (parentCmd.includes("node-agent/bin.mjs") || parentCmd.includes("qemu-system"))
    )
      continue;
    counted.push(pid);
  }
  return counted;
}

/** Is one of `ancestors` an ancestor of `pid`? */
async function descendsFrom(pid: number, ancestors: Set<number>): Promise<boolean> {
  for (let p = await parentOf(pid), depth = 0; p > 1 && depth < 32; p = await parentOf(p), depth++)
    if (ancestors.has(p)) return true;
  return false;
}

/**
 * QEMU processes that belong to node host n: its VMs (their command line names files of its data
 * dir) and its build VMs (children of its agent, in network namespaces of their own).
 */
export async function qemuOfHost(platform: TMultinodePlatform, n: number): Promise<number[]> {
  const vms = await qemuPids([`${nodeDir(platform, n)}/`]);
  return [...new Set([...vms, ...(await buildVmsOfHost(platform, n))])];
}

/** Build VM QEMU processes of node host n: children of its agent, in network namespaces of their own. */
export async function buildVmsOfHost(platform: TMultinodePlatform, n: number): Promise<number[]> {
  const agents = new Set(await platform.network.hostPids(n));
  const builds: number[] = [];
  for (const pid of await qemuPids(["formation-build"]))
    if (await descendsFrom(pid, agents)) builds.push(pid);
  return builds;
}

/** Interface names in `netns` (of one `type` when given). */
async function links(netns: string, type?: string): Promise<string[]> {
  const { stdout } = await exec("ip", ["-n", netns, "-o", "link", "show", ...(type ? ["type", type] : [])]);
  return stdout
    .split("\n")
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? "")
    .filter(Boolean);
}

export async function hostResources(platform: TMultinodePlatform, n: number): Promise<THostResources> {
  const netns = platform.network.host(n).nodeNetns;
  const dir = nodeDir(platform, n);
  const names = await links(netns);
  const { stdout: rules } = await exec("ip", ["netns", "exec", netns, "iptables", "-S"]);
  const { stdout: loopJson } = await exec("losetup", ["-J", "-l"]).catch(() => ({ stdout: "" }));
  const loops = loopJson
    ? ((JSON.parse(loopJson) as { loopdevices?: { name: string; "back-file"?: string }[] }).loopdevices ?? [])
    : [];
  const mounts = (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dir}/`));
  return {
    qemu: await qemuOfHost(platform, n),
    taps: names.filter((l) => /^fmt[0-9a-f]/.test(l)).sort(),
    chains: rules
      .split("\n")
      .filter((l) => l.startsWith("-N FN-"))
      .map((l) => l.slice(3))
      .sort(),
    // wireguard-go makes a TUN device (kernel WireGuard a `wireguard` link): formnet's are `fn-…`.
    wireguard: [
      ...(await links(netns, "wireguard").catch(() => [] as string[])),
      ...(await links(netns, "tun").catch(() => [] as string[])).filter((l) => l.startsWith("fn-")),
    ].sort(),
    loops: loops.filter((l) => (l["back-file"] ?? "").includes(`${dir}/`)).map((l) => l.name),
    mounts,
    builds: (await readdir(join(dir, "agent", "builds")).catch(() => [] as string[])).sort(),
  };
}

/** What `after` holds that `before` did not, per kind (`qemu` by count: pids change on restart). */
export function grownResources(before: THostResources, after: THostResources): string[] {
  const grown: string[] = [];
  if (after.qemu.length > before.qemu.length)
    grown.push(
      `${after.qemu.length - before.qemu.length} more QEMU process(es) (pids ${after.qemu.join(",")})`,
    );
  for (const key of ["taps", "chains", "wireguard", "loops", "mounts", "builds"] as const) {
    const extra = after[key].filter((x) => !before[key].includes(x));
    if (extra.length > 0) grown.push(`${key}: ${extra.join(", ")}`);
  }
  // formnet must survive an agent restart: one interface before, one after (not zero, not two).
  if (after.wireguard.length !== before.wireguard.length)
    grown.push(`WireGuard interfaces ${before.wireguard.length} → ${after.wireguard.length}`);
  return [...new Set(grown)];
}
