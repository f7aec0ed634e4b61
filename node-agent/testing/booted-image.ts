import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFormfile } from "@/lib/formfile";
import type { TFormfile } from "@/lib/formfile/canonical";
import { deleteBridge } from "../host/guest-isolation";
import { runPreflight } from "../host/preflight";
import { sshRun, type TSshTarget, waitForSsh } from "../host/ssh-probe";
import { qemuProcessesUnder } from "../hypervisor/proc";
import { defaultNetwork, QemuHypervisor } from "../hypervisor/qemu";
import { DEFAULT_CACHE_DIR } from "../image/base";
import { buildImage, type TBuildImageResult } from "../image/build";

/**
 * Integration-test harness: a Formfile through the real builder, and its image booted on real QEMU
 * with a fresh SSH key, torn down (QEMU, tap, bridge, overlay) by `close()` whatever happened.
 */

/** Polls `fn` until it returns something truthy; rejects with `what` at the deadline. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** GET `url`: the body on a 2xx answer, null on anything else (refused, timeout, error status). */
export async function httpGet(url: string): Promise<string | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

/**
 * A test SSH key pair kept in the builder's cache directory (outside any clone), made once per
 * machine: Formfiles that authorise it stay byte-identical from run to run, so their images are
 * cache hits on a warm machine instead of a rebuild per test run.
 */
export async function cachedSshKey(name: string): Promise<{ path: string; pub: string }> {
  return cachedSshKeySync(name);
}

/** `cachedSshKey` for synchronous callers (a Playwright config preparing its platform). */
export function cachedSshKeySync(name: string): { path: string; pub: string } {
  const dir = join(DEFAULT_CACHE_DIR, "test-keys");
  const path = join(dir, name);
  if (!existsSync(`${path}.pub`)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}`;
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `formation-test-${name}`, "-f", tmp]);
    renameSync(tmp, path);
    renameSync(`${tmp}.pub`, `${path}.pub`);
  }
  return { path, pub: readFileSync(`${path}.pub`, "utf8").trim() };
}

/**
 * An address in 10.42.253.0/24 that no VM on this host is routed at yet: test files in the two
 * integration lanes boot VMs at the same time, each on its own bridge with a /32 route.
 */
function freeTestIp(): string {
  const routed = execFileSync("ip", ["-4", "route", "show", "table", "all"], { encoding: "utf8" });
  const free = Array.from({ length: 240 }, (_, i) => `10.42.253.${10 + i}`).filter(
    (ip) => !new RegExp(`^(local )?${ip.replaceAll(".", "\\.")}[ /]`, "m").test(routed),
  );
  const ip = free[Math.floor(Math.random() * free.length)];
  if (ip === undefined) throw new Error("no free test VM address left in 10.42.253.0/24");
  return ip;
}

/** Password salt for test Formfiles: the same text parses to the same canonical Formfile. */
const TEST_SALT = "formationtest";

/** Parses a test Formfile with the fixed salt; throws on a parse error. */
export function parseTestFormfile(text: string): TFormfile {
  const parsed = parseFormfile(text, { salt: TEST_SALT });
  if (!parsed.ok) throw new Error(`test Formfile does not parse: ${JSON.stringify(parsed.errors)}`);
  return parsed.formfile;
}

/** Parses and builds `text` with the real builder (cached by content); collects the build log. */
export async function buildFormfile(opts: {
  text: string;
  contextDir: string;
  buildId: string;
  log?: string[];
}): Promise<TBuildImageResult> {
  return buildImage({
    formfile: parseTestFormfile(opts.text),
    contextDir: opts.contextDir,
    buildId: opts.buildId,
    onLog: (line) => opts.log?.push(line),
  });
}

export type TBootedVm = {
  ip: string;
  instanceId: string;
  /** SSH as `user` with the key the Formfile authorised. */
  target: (user: string, keyPath: string) => TSshTarget;
  close: () => Promise<void>;
};

type TBootOptions = {
  imagePath: string;
  user: string;
  keyPath: string;
  memoryMb?: number;
  bootTimeoutMs?: number;
};

/**
 * One simulated node for VMs: a QemuHypervisor on a throwaway data dir, its VMs on one bridge (so a
 * test can put neighbours side by side), everything removed by `close()`.
 */
export class VmHost {
  private readonly vms: string[] = [];
  private constructor(
    private readonly work: string,
    readonly dataDir: string,
    readonly hv: QemuHypervisor,
  ) {}

  /** `snapshots`: snapshot-restored launches (off by default, as in QemuHypervisor). */
  static async create(opts: { snapshots?: boolean } = {}): Promise<VmHost> {
    const work = await mkdtemp(join(tmpdir(), "fm-boot-"));
    const dataDir = join(work, "agent");
    const preflight = await runPreflight();
    if (!preflight.guestKernel) throw new Error("no guest kernel on this host (see preflight)");
    const hv = new QemuHypervisor({
      dataDir,
      accelerator: preflight.accelerator,
      kernel: preflight.guestKernel,
      pollMs: 500,
      snapshots: opts.snapshots ?? false,
    });
    return new VmHost(work, dataDir, hv);
  }

  get network() {
    return defaultNetwork(this.dataDir);
  }

  /** Boots `imagePath` and waits until `user` can SSH in with `keyPath`. */
  async boot(opts: TBootOptions): Promise<TBootedVm> {
    const ip = freeTestIp();
    const instanceId = `bt-${Date.now().toString(36)}-${this.vms.length}`;
    this.vms.push(instanceId);
    await this.hv.create({
      instanceId,
      imagePath: opts.imagePath,
      vcpu: 1,
      memoryMb: opts.memoryMb ?? 1024,
      diskGb: 5,
      ipv4: ip,
      network: this.network,
    });
    await this.hv.start(instanceId);
    const target = (user: string, keyPath: string): TSshTarget => ({ host: ip, user, keyPath });
    await waitForSsh(target(opts.user, opts.keyPath), { timeoutMs: opts.bootTimeoutMs ?? 180_000 });
    return { ip, instanceId, target, close: () => this.close() };
  }

  async close(): Promise<void> {
    for (const id of this.vms) await this.hv.delete(id).catch(() => undefined);
    this.hv.close();
    for (const p of await qemuProcessesUnder(join(this.dataDir, "vms"))) process.kill(p.pid, "SIGKILL");
    await deleteBridge(this.network.bridge);
    await rm(this.work, { recursive: true, force: true });
  }
}

/**
 * `buildFormfile` then `bootImage` as `user`, then waits until the guest's boot has finished (SSH
 * answers before systemd has started, and a user's `systemctl` needs the system bus): the booted
 * VM and whether the image came from the cache (then `log` holds no build output: an earlier run
 * built it).
 */
export async function buildAndBoot(opts: {
  text: string;
  contextDir: string;
  buildId: string;
  log: string[];
  user: string;
  keyPath: string;
}): Promise<{ vm: TBootedVm; fromCache: boolean }> {
  const image = await buildFormfile(opts);
  const vm = await bootImage({ imagePath: image.imagePath, user: opts.user, keyPath: opts.keyPath });
  try {
    const target = vm.target(opts.user, opts.keyPath);
    await waitFor(
      "the guest's boot to finish",
      async () => {
        // Polled: a user's `--wait` hears no boot-finished signal.
        const r = await sshRun(target, "systemctl is-system-running");
        return ["running", "degraded"].includes(r.stdout.trim());
      },
      180_000,
    );
  } catch (error) {
    await vm.close();
    throw error;
  }
  return { vm, fromCache: image.fromCache };
}

/** Boots `imagePath` on a host of its own; `close()` of the VM tears the host down. */
export async function bootImage(opts: TBootOptions): Promise<TBootedVm> {
  const host = await VmHost.create();
  try {
    return await host.boot(opts);
  } catch (error) {
    await host.close();
    throw error;
  }
}
