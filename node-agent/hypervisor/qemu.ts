import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@/core/fs/atomic-write";
import { createLogger, type Logger } from "@/core/log";
import { run } from "../host/exec";
import { guardBridge, isolatePort, releasePort } from "../host/guest-isolation";
import {
  addHostRoute,
  createTap,
  deleteHostRoute,
  deleteLink,
  ensureBridge,
  linkStats,
  shortIfName,
} from "../host/net";
import { detectAccelerator, findGuestKernel, type TAccelerator } from "../host/preflight";
import { confineVmProcess, removeVmCgroup } from "../host/vm-cgroup";
import { ensureVmUser } from "../host/vm-user";
import { createOverlay } from "../image/layers";
import { ensureGuestInitrd } from "./initrd";
import { isVmProcess, pidAlive, processUsage, qemuProcessesUnder } from "./proc";
import { macFor, qemuArgv, type TQemuConfinement } from "./qemu-args";
import { qmpCommand } from "./qmp";
import { prepareSerialLog } from "./serial-log-file";
import {
  type Hypervisor,
  type TVmEvent,
  type TVmInfo,
  type TVmMetrics,
  type TVmNetwork,
  type TVmSpecInput,
  type TVmState,
  VmError,
  ZVmSpec,
  ZVmState,
} from "./types";

export type TQemuHypervisorOptions = {
  /** Agent data dir; VM state lives in `<dataDir>/vms/<instanceId>/`. */
  dataDir: string;
  /** Where the guest initrd is cached (default /var/cache/formation). */
  cacheDir?: string;
  accelerator: TAccelerator;
  kernel: { vmlinuz: string; version: string; modulesDir: string };
  onEvent?: (event: TVmEvent) => void;
  /** How often running VMs are checked for unexpected exits. */
  pollMs?: number;
  logger?: Logger;
};

/** Restarts allowed per VM within RESTART_WINDOW_MS before it stays crashed (crash loop guard). */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 10 * 60_000;
/**
 * Tries to start a crashed VM again, a second apart and more: the QEMU just killed may hold its
 * tap or disk lock for a moment, and one failed start must not turn a restart into a replacement.
 */
const RESTART_TRIES = 3;

/** Default bridge of an agent: unique per data dir, so several agents can share one host. */
export function defaultNetwork(dataDir: string): TVmNetwork {
  return { bridge: shortIfName("fmbr", dataDir), gatewayIp: "169.254.42.1" };
}

/**
 * QEMU driver: one daemonized qemu-system-x86_64 per VM (q35, direct boot of the Debian cloud kernel
 * with the cached virtio initrd, qcow2 overlay on the build image, tap on the agent's bridge, QMP
 * for ACPI shutdown). State is persisted so a restarted agent adopts its VMs instead of losing or
 * duplicating them.
 */
export class QemuHypervisor implements Hypervisor {
  private readonly log: Logger;
  private readonly vmsDir: string;
  /** VMs the agent is stopping on purpose: their exit is not a crash. */
  private readonly stopping = new Set<string>();
  /** VMs whose QEMU exited unexpectedly and that are being started again (listed as restarting). */
  private readonly restarting = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private initrd: string | undefined;
  private confined: Promise<TQemuConfinement> | undefined;

  constructor(private readonly opts: TQemuHypervisorOptions) {
    this.log = opts.logger ?? createLogger("hypervisor");
    this.vmsDir = join(opts.dataDir, "vms");
  }

  /** Builds a driver for this host: accelerator by probe, newest cloud kernel in /boot. */
  static async forHost(
    opts: Omit<TQemuHypervisorOptions, "accelerator" | "kernel"> & { accelerator?: TAccelerator },
  ): Promise<QemuHypervisor> {
    const kernel = await findGuestKernel();
    if (!kernel)
      throw new VmError(
        "START_FAILED",
        "no guest kernel: install linux-image-cloud-amd64 (sudo scripts/setup-host.sh)",
      );
    const accelerator = opts.accelerator ?? (await detectAccelerator()).accelerator;
    return new QemuHypervisor({ ...opts, accelerator, kernel });
  }

  async create(input: TVmSpecInput): Promise<TVmInfo> {
    const parsed = ZVmSpec.safeParse(input);
    if (!parsed.success) throw new VmError("BAD_SPEC", `invalid VM spec: ${parsed.error.message}`);
    const spec = parsed.data;
    return this.locked(spec.instanceId, async () => {
      const dir = join(this.vmsDir, spec.instanceId);
      if (existsSync(join(dir, "state.json")))
        throw new VmError("EXISTS", `VM ${spec.instanceId} already exists`);
      if (!existsSync(spec.imagePath))
        throw new VmError("BAD_SPEC", `image ${spec.imagePath} does not exist`);
      await mkdir(dir, { recursive: true });
      const hash = createHash("sha256").update(`${this.opts.dataDir}\0${spec.instanceId}`).digest("hex");
      const state: TVmState = {
        spec,
        status: "created",
        pid: null,
        tap: shortIfName("fmt", `${this.opts.dataDir}\0${spec.instanceId}`),
        mac: macFor(hash),
        dir,
        overlayPath: join(dir, "disk.qcow2"),
        serialLogPath: join(dir, "serial.log"),
        qmpPath: join(dir, "qmp.sock"),
        pidfilePath: join(dir, "qemu.pid"),
        hostKeyPath: join(dir, "ssh_host_ed25519_key"),
        hostKeyPublic: "",
        startedAt: null,
        restarts: [],
      };
      await createOverlay({ backing: spec.imagePath, path: state.overlayPath, sizeGb: spec.diskGb });
      await run([
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        `root@${spec.instanceId}`,
        "-f",
        state.hostKeyPath,
      ]);
      state.hostKeyPublic = (await readFile(`${state.hostKeyPath}.pub`, "utf8")).trim();
      await this.save(state);
      return info(state);
    });
  }

  start(instanceId: string): Promise<TVmInfo> {
    return this.locked(instanceId, () => this.startUnlocked(instanceId));
  }

  private async startUnlocked(instanceId: string): Promise<TVmInfo> {
    const state = await this.load(instanceId);
    if (state.status === "running" && state.pid !== null && (await isVmProcess(state.pid, state.pidfilePath)))
      return info(state);
    const { spec } = state;
    await ensureBridge({ name: spec.network.bridge, gatewayIp: spec.network.gatewayIp });
    await guardBridge(spec.network.bridge);
    await createTap({ name: state.tap, bridge: spec.network.bridge });
    await isolatePort({ tap: state.tap, mac: state.mac, ip: spec.ipv4, bridge: spec.network.bridge });
    await addHostRoute({ ip: spec.ipv4, bridge: spec.network.bridge });
    await rm(state.pidfilePath, { force: true });
    await rm(state.qmpPath, { force: true });
    await prepareSerialLog({ path: state.serialLogPath });
    const argv = qemuArgv({
      state,
      accelerator: this.opts.accelerator,
      kernelPath: this.opts.kernel.vmlinuz,
      initrdPath: await this.guestInitrd(),
      confinement: await this.confinement(),
    });
    try {
      // With -daemonize the command returns once the VM is set up, and the pidfile is written.
      await run(argv, { timeoutMs: 60_000 });
    } catch (err) {
      await this.releaseNetwork(state);
      throw new VmError(
        "START_FAILED",
        `QEMU failed to start VM ${instanceId}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const pid = Number((await readFile(state.pidfilePath, "utf8")).trim());
    await this.confineToCgroup(state, pid);
    state.pid = pid;
    state.status = "running";
    state.startedAt = new Date().toISOString();
    await this.save(state);
    this.log.info({ instanceId, pid, tap: state.tap, ip: spec.ipv4 }, "vm started");
    this.opts.onEvent?.({ type: "started", instanceId, pid });
    this.watch();
    return info(state);
  }

  stop(instanceId: string, opts: { timeoutMs?: number } = {}): Promise<TVmInfo> {
    return this.locked(instanceId, () => this.stopUnlocked(instanceId, opts.timeoutMs ?? 60_000));
  }

  private async stopUnlocked(instanceId: string, timeoutMs: number): Promise<TVmInfo> {
    const state = await this.load(instanceId);
    const pid = state.pid;
    this.stopping.add(instanceId);
    try {
      if (pid !== null && (await isVmProcess(pid, state.pidfilePath))) {
        let graceful = false;
        if (timeoutMs > 0) {
          try {
            await qmpCommand({ socketPath: state.qmpPath, command: "system_powerdown" });
            graceful = await waitForExit(pid, timeoutMs);
          } catch (err) {
            this.log.warn({ instanceId, err }, "ACPI shutdown over QMP failed; killing");
          }
        }
        if (!graceful) {
          process.kill(pid, "SIGKILL");
          await waitForExit(pid, 10_000);
        }
        this.log.info({ instanceId, graceful }, "vm stopped");
      }
      await this.releaseNetwork(state);
      state.status = "stopped";
      state.pid = null;
      await this.save(state);
      this.opts.onEvent?.({ type: "stopped", instanceId });
      return info(state);
    } finally {
      this.stopping.delete(instanceId);
    }
  }

  restart(instanceId: string): Promise<TVmInfo> {
    return this.locked(instanceId, async () => {
      await this.stopUnlocked(instanceId, 60_000);
      return this.startUnlocked(instanceId);
    });
  }

  delete(instanceId: string): Promise<void> {
    return this.locked(instanceId, async () => {
      const state = await this.load(instanceId);
      // Deleting throws the disk away: no need for a clean guest shutdown.
      await this.stopUnlocked(instanceId, 0);
      await rm(state.dir, { recursive: true, force: true });
      this.log.info({ instanceId }, "vm deleted");
    });
  }

  async list(): Promise<TVmInfo[]> {
    const ids = await readdir(this.vmsDir).catch(() => [] as string[]);
    const out: TVmInfo[] = [];
    for (const id of ids) {
      const state = await this.tryLoad(id);
      if (state) out.push(info(state, this.restarting.has(id)));
    }
    return out;
  }

  async get(instanceId: string): Promise<TVmInfo | null> {
    const state = await this.tryLoad(instanceId);
    return state ? info(state, this.restarting.has(instanceId)) : null;
  }

  async adopt(): Promise<{ adopted: string[]; cleaned: string[] }> {
    const adopted: string[] = [];
    const cleaned: string[] = [];
    const known = new Set<string>();
    for (const id of await readdir(this.vmsDir).catch(() => [] as string[])) {
      const state = await this.tryLoad(id);
      if (!state) {
        // A directory without readable state is a half-created VM: nothing can run it again.
        await rm(join(this.vmsDir, id), { recursive: true, force: true });
        cleaned.push(id);
        continue;
      }
      known.add(state.pidfilePath);
      if (state.status !== "running") continue;
      if (state.pid !== null && (await isVmProcess(state.pid, state.pidfilePath))) {
        adopted.push(id);
        this.opts.onEvent?.({ type: "adopted", instanceId: id, pid: state.pid });
      } else {
        // QEMU died while no agent watched it (the agent crashed with it, or the host rebooted):
        // the console may have placed the replica elsewhere meanwhile, so it decides what happens
        // next (a crashed replica it still wants is replaced) instead of a blind restart here.
        cleaned.push(id);
        await this.onUnexpectedExit(state, { restart: false });
      }
    }
    // QEMU processes of this agent that no state file knows about are orphans: end them.
    for (const p of await qemuProcessesUnder(this.vmsDir)) {
      if (known.has(p.pidfilePath)) continue;
      this.log.warn({ pid: p.pid, pidfile: p.pidfilePath }, "killing orphan QEMU");
      process.kill(p.pid, "SIGKILL");
      await waitForExit(p.pid, 10_000);
      cleaned.push(p.pidfilePath);
    }
    this.watch();
    return { adopted, cleaned };
  }

  async metrics(instanceId: string): Promise<TVmMetrics> {
    const state = await this.load(instanceId);
    const running = state.pid !== null && (await isVmProcess(state.pid, state.pidfilePath));
    const usage =
      running && state.pid !== null ? await processUsage(state.pid) : { cpuSeconds: 0, rssBytes: 0 };
    const disk = await stat(state.overlayPath).catch(() => null);
    const net = await linkStats(state.tap);
    return {
      instanceId,
      at: new Date().toISOString(),
      running,
      ...usage,
      diskBytes: disk ? disk.blocks * 512 : 0,
      netRxBytes: net.rxBytes,
      netTxBytes: net.txBytes,
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.poll().catch((err: unknown) => this.log.error({ err }, "vm poll failed"));
    }, this.opts.pollMs ?? 1000);
    // The daemon's own work keeps the process alive; the watcher must not.
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    for (const id of await readdir(this.vmsDir).catch(() => [] as string[])) {
      if (this.stopping.has(id) || this.locks.has(id)) continue;
      const state = await this.tryLoad(id);
      if (state?.status !== "running" || state.pid === null) continue;
      if (await isVmProcess(state.pid, state.pidfilePath)) continue;
      await this.locked(id, async () => {
        const fresh = await this.tryLoad(id);
        if (fresh?.status === "running" && !this.stopping.has(id)) await this.onUnexpectedExit(fresh);
      });
    }
  }

  /** QEMU went away without the agent asking: free its network, then restart per policy. */
  private async onUnexpectedExit(
    state: TVmState,
    opts: { restart: boolean } = { restart: true },
  ): Promise<void> {
    const id = state.spec.instanceId;
    const now = Date.now();
    const recent = state.restarts.filter((t) => now - Date.parse(t) < RESTART_WINDOW_MS);
    const restarting = opts.restart && state.spec.restartPolicy === "always" && recent.length < MAX_RESTARTS;
    // Until it runs again the VM is listed as restarting, not crashed: a heartbeat in between
    // must not tell the console it failed (the console would replace a VM that is coming back).
    if (restarting) this.restarting.add(id);
    try {
      await this.restartAfterExit(state, { now, recent, restarting });
    } finally {
      this.restarting.delete(id);
    }
  }

  private async restartAfterExit(
    state: TVmState,
    opts: { now: number; recent: string[]; restarting: boolean },
  ): Promise<void> {
    const { now, recent, restarting } = opts;
    const id = state.spec.instanceId;
    await this.releaseNetwork(state);
    state.status = "crashed";
    state.pid = null;
    state.restarts = recent;
    await this.save(state);
    this.log.warn({ instanceId: id, restarting, recentRestarts: recent.length }, "vm exited unexpectedly");
    this.opts.onEvent?.({ type: "crashed", instanceId: id, restarting });
    if (!restarting) return;
    state.restarts.push(new Date(now).toISOString());
    await this.save(state);
    let failure = "";
    for (let attempt = 1; attempt <= RESTART_TRIES; attempt++) {
      try {
        const started = await this.startUnlocked(id);
        if (started.pid !== null)
          this.opts.onEvent?.({ type: "restarted", instanceId: id, pid: started.pid });
        return;
      } catch (err) {
        failure = err instanceof Error ? err.message : String(err);
        this.log.warn({ instanceId: id, attempt, err }, "restarting the vm failed");
        if (attempt < RESTART_TRIES) await new Promise((r) => setTimeout(r, attempt * 1000));
      }
    }
    this.opts.onEvent?.({
      type: "crashed",
      instanceId: id,
      restarting: false,
      reason: `restarting it failed ${RESTART_TRIES} times: ${failure}`,
    });
  }

  private async releaseNetwork(state: TVmState): Promise<void> {
    await deleteLink(state.tap);
    await deleteHostRoute({ ip: state.spec.ipv4, bridge: state.spec.network.bridge });
    await releasePort({ ip: state.spec.ipv4, bridge: state.spec.network.bridge });
    await removeVmCgroup(state.tap);
  }

  /** CPU, memory, pids and disk limits for the VM's QEMU (see host/vm-cgroup.ts). */
  private async confineToCgroup(state: TVmState, pid: number): Promise<void> {
    const { instanceId, vcpu, memoryMb } = state.spec;
    try {
      const r = await confineVmProcess(state.tap, pid, {
        vcpu,
        memoryMb,
        diskPath: state.overlayPath,
        accelerator: this.opts.accelerator,
      });
      if (r.skipped.length > 0)
        this.log.warn({ instanceId, skipped: r.skipped }, "some VM cgroup limits not applied");
    } catch (err) {
      this.log.warn(
        { instanceId, err },
        "VM runs without cgroup limits: the host's cgroups are not writable",
      );
    }
  }

  /** The unprivileged user and empty root every VM's QEMU ends up in (see TQemuConfinement). */
  private confinement(): Promise<TQemuConfinement> {
    this.confined ??= (async () => {
      const user = await ensureVmUser();
      const chrootDir = join(this.opts.cacheDir ?? "/var/cache/formation", "qemu-root");
      await mkdir(chrootDir, { recursive: true, mode: 0o555 });
      return { user: user.name, chrootDir };
    })();
    return this.confined;
  }

  private async guestInitrd(): Promise<string> {
    this.initrd ??= await ensureGuestInitrd({
      cacheDir: this.opts.cacheDir ?? "/var/cache/formation",
      kernelVersion: this.opts.kernel.version,
      modulesDir: this.opts.kernel.modulesDir,
    });
    return this.initrd;
  }

  /** Serialises operations per VM (start/stop/delete/poll never interleave for one instance). */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    try {
      return await next;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  private async tryLoad(id: string): Promise<TVmState | null> {
    try {
      return ZVmState.parse(JSON.parse(await readFile(join(this.vmsDir, id, "state.json"), "utf8")));
    } catch {
      return null;
    }
  }

  private async load(id: string): Promise<TVmState> {
    const state = await this.tryLoad(id);
    if (!state) throw new VmError("NOT_FOUND", `no VM ${id} on this node`);
    return state;
  }

  /** Atomic write (tmp + rename) so a crash mid-write never leaves a torn state file. */
  private async save(state: TVmState): Promise<void> {
    await writeFileAtomic(join(state.dir, "state.json"), `${JSON.stringify(state, null, 2)}\n`, {
      mode: 0o644,
    });
  }
}

function info(state: TVmState, restarting = false): TVmInfo {
  return {
    instanceId: state.spec.instanceId,
    status: state.status,
    ...(restarting ? { restarting: true } : {}),
    pid: state.pid,
    ipv4: state.spec.ipv4,
    tap: state.tap,
    serialLogPath: state.serialLogPath,
    startedAt: state.startedAt,
    sshHostKey: state.hostKeyPublic,
    imagePath: state.spec.imagePath,
  };
}

/** Polls until the process is gone; true if it exited within the deadline. */
async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !pidAlive(pid);
}
