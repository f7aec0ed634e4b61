import { createHash, randomBytes } from "node:crypto";
import { closeSync, constants, existsSync, openSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
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
import { createGuestChannel, sendIdentity, waitGuestReady } from "./guest-channel";
import { ensureGuestInitrd } from "./initrd";
import { saveVmState, waitIncomingDone } from "./migration";
import { isVmProcess, pidAlive, processUsage, qemuProcessesUnder } from "./proc";
import { channelBase, macFor, qemuArgv, type TQemuConfinement, vmFiles, vmHostname } from "./qemu-args";
import { qmpCommand } from "./qmp";
import { prepareSerialLog } from "./serial-log-file";
import { makeSnapshot } from "./snapshot-maker";
import { SnapshotStore, type TSnapshot, type TSnapshotShape } from "./snapshots";
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
  /**
   * Snapshot-restored launches (snapshots.ts): after the first cold boot of an image and VM shape,
   * the node makes a snapshot of a pristine template VM of it; later new VMs of that shape restore
   * from it. Off unless asked for (the agent turns it on; see its config).
   */
  snapshots?: boolean;
};

/** How a VM's QEMU was started by `start`: for logs and the bench. */
export type TLaunchMode = "cold" | "restored" | "resumed";

/** A suspended VM's saved memory and devices, beside its disk. */
const SUSPEND_FILE = "suspend.bin";
/** How long a restored guest's identity hook may take to answer before the VM boots cold instead. */
const IDENTITY_TIMEOUT_MS = 20_000;

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
  private qemuVersion: Promise<string> | undefined;
  readonly snapshotStore: SnapshotStore;
  /** Snapshots being made (by key) and the one-at-a-time queue they run in. */
  private readonly making = new Map<string, Promise<TSnapshot | null>>();
  private makeQueue: Promise<unknown> = Promise.resolve();
  /** Aborted by close(): template VMs being snapshotted are ended. */
  private readonly closing = new AbortController();
  private readonly templatePids = new Set<number>();
  /** How each VM's last start went (cold boot, snapshot restore, resume), for logs and benches. */
  readonly lastLaunch = new Map<string, { mode: TLaunchMode; ms: number; fallback?: string }>();

  constructor(private readonly opts: TQemuHypervisorOptions) {
    this.log = opts.logger ?? createLogger("hypervisor");
    this.vmsDir = join(opts.dataDir, "vms");
    this.snapshotStore = new SnapshotStore(join(opts.dataDir, "snapshots"), this.log);
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
        ...vmFiles(dir),
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
    const t0 = Date.now();
    await ensureBridge({ name: spec.network.bridge, gatewayIp: spec.network.gatewayIp });
    await guardBridge(spec.network.bridge);
    await createTap({ name: state.tap, bridge: spec.network.bridge });
    await isolatePort({ tap: state.tap, mac: state.mac, ip: spec.ipv4, bridge: spec.network.bridge });
    await addHostRoute({ ip: spec.ipv4, bridge: spec.network.bridge });
    const firstStart = state.status === "created";
    let mode: TLaunchMode = "cold";
    let fallback: string | undefined;
    let pid: number | undefined;
    try {
      if (state.status === "suspended" && existsSync(join(state.dir, SUSPEND_FILE))) {
        pid = await this.resume(state).catch(async (err: unknown) => {
          fallback = `resuming from saved memory failed (${errText(err)}); booting from its disk`;
          return undefined;
        });
        if (pid !== undefined) mode = "resumed";
      } else if (firstStart && this.opts.snapshots) {
        const snapshot = await this.snapshotStore.find(await this.shapeOf(spec));
        if (snapshot) {
          pid = await this.restore(state, snapshot).catch(async (err: unknown) => {
            fallback = `restoring snapshot ${snapshot.key} failed (${errText(err)}); cold boot`;
            return undefined;
          });
          if (pid !== undefined) mode = "restored";
        }
      }
      if (fallback) this.log.warn({ instanceId, fallback }, "vm falls back to a cold boot");
      await rm(join(state.dir, SUSPEND_FILE), { force: true });
      pid ??= await this.launch(state);
    } catch (err) {
      await this.releaseNetwork(state);
      throw new VmError("START_FAILED", `QEMU failed to start VM ${instanceId}: ${errText(err)}`, {
        cause: err,
      });
    }
    state.pid = pid;
    state.status = "running";
    state.startedAt = new Date().toISOString();
    await this.save(state);
    const ms = Date.now() - t0;
    this.lastLaunch.set(instanceId, { mode, ms, ...(fallback ? { fallback } : {}) });
    this.log.info({ instanceId, pid, tap: state.tap, ip: spec.ipv4, mode, ms }, "vm started");
    this.opts.onEvent?.({ type: "started", instanceId, pid });
    this.watch();
    if (mode === "cold" && firstStart && this.opts.snapshots) this.snapshotAfterBoot(state);
    return info(state);
  }

  /**
   * Starts QEMU for `state` (daemonized, confined, in its cgroup) and returns its pid. `incoming`:
   * an open file QEMU loads saved state from, staying paused until `cont`.
   */
  private async launch(
    state: TVmState,
    opts: { nic?: "tap" | "none"; incomingFd?: number } = {},
  ): Promise<number> {
    await rm(state.pidfilePath, { force: true });
    await rm(state.qmpPath, { force: true });
    await prepareSerialLog({ path: state.serialLogPath });
    await createGuestChannel(channelBase(state));
    const argv = qemuArgv({
      state,
      accelerator: this.opts.accelerator,
      kernelPath: this.opts.kernel.vmlinuz,
      initrdPath: await this.guestInitrd(),
      confinement: await this.confinement(),
      nic: opts.nic ?? "tap",
      incoming: opts.incomingFd !== undefined,
    });
    // With -daemonize the command returns once the VM is set up, and the pidfile is written.
    await run(argv, {
      timeoutMs: 60_000,
      ...(opts.incomingFd !== undefined ? { fd3: opts.incomingFd } : {}),
    });
    const pid = Number((await readFile(state.pidfilePath, "utf8")).trim());
    await this.confineToCgroup(state, pid);
    return pid;
  }

  /** Starts QEMU loading `stateFile`, waits until it is loaded (and `check` passed), then runs it. */
  private async launchIncoming(state: TVmState, stateFile: string, check?: Promise<void>): Promise<number> {
    // Awaited below, after QEMU is up; a failure before then must not count as unhandled.
    check?.catch(() => undefined);
    const fd = openSync(stateFile, constants.O_RDONLY);
    let pid: number | undefined;
    try {
      pid = await this.launch(state, { incomingFd: fd });
      const qemuPid = pid;
      await Promise.all([
        waitIncomingDone({ qmpPath: state.qmpPath, timeoutMs: 120_000, alive: () => pidAlive(qemuPid) }),
        check,
      ]);
      await qmpCommand({ socketPath: state.qmpPath, command: "cont" });
      return pid;
    } catch (err) {
      if (pid !== undefined) await killAndWait(pid);
      throw err;
    } finally {
      closeSync(fd);
    }
  }

  /** A new VM from an image's snapshot: its disk and memory, then this VM's own identity. */
  private async restore(state: TVmState, snapshot: TSnapshot): Promise<number> {
    const t0 = Date.now();
    await copyFile(snapshot.diskPath, state.overlayPath);
    try {
      const pid = await this.launchIncoming(state, snapshot.statePath, this.snapshotStore.verify(snapshot));
      const loaded = Date.now();
      try {
        const answer = await sendIdentity(
          channelBase(state),
          {
            now: Date.now() / 1000,
            ip: state.spec.ipv4,
            gw: state.spec.network.gatewayIp,
            mac: state.mac,
            hostname: vmHostname(state.spec),
            machineId: randomBytes(16).toString("hex"),
            seed: randomBytes(64),
            hostKey: {
              privateKey: await readFile(state.hostKeyPath, "utf8"),
              publicKey: await readFile(`${state.hostKeyPath}.pub`, "utf8"),
            },
            ...(state.spec.rootAuthorizedKeys.length > 0
              ? { rootAuthorizedKeys: state.spec.rootAuthorizedKeys }
              : {}),
          },
          IDENTITY_TIMEOUT_MS,
        );
        this.log.info(
          {
            instanceId: state.spec.instanceId,
            snapshot: snapshot.key,
            loadMs: loaded - t0,
            identityMs: Date.now() - loaded,
            machineId: answer.machineId,
            reseeded: answer.reseeded,
          },
          "vm restored from snapshot",
        );
        return pid;
      } catch (err) {
        await killAndWait(pid);
        throw err;
      }
    } catch (err) {
      // The cold boot that follows needs an untouched overlay over the image.
      await rm(state.overlayPath, { force: true });
      await createOverlay({
        backing: state.spec.imagePath,
        path: state.overlayPath,
        sizeGb: state.spec.diskGb,
      });
      throw err;
    }
  }

  /** A suspended VM again, from the memory and devices saved beside its disk. */
  private async resume(state: TVmState): Promise<number> {
    const file = join(state.dir, SUSPEND_FILE);
    const pid = await this.launchIncoming(state, file);
    // Its wall clock stood still while it was suspended; a guest that does not answer still runs.
    await sendIdentity(channelBase(state), { now: Date.now() / 1000 }, 5_000).catch((err: unknown) =>
      this.log.warn({ instanceId: state.spec.instanceId, err }, "resumed guest did not set its clock"),
    );
    this.log.info({ instanceId: state.spec.instanceId }, "vm resumed from saved memory");
    return pid;
  }

  /** The shape a snapshot must have to serve `spec` on this node. */
  private async shapeOf(spec: TVmState["spec"]): Promise<TSnapshotShape> {
    this.qemuVersion ??= run(["qemu-system-x86_64", "--version"]).then((r) => r.stdout.split("\n")[0] ?? "");
    return {
      imagePath: spec.imagePath,
      vcpu: spec.vcpu,
      memoryMb: spec.memoryMb,
      diskGb: spec.diskGb,
      accelerator: this.opts.accelerator,
      kernel: `${this.opts.kernel.version} ${this.opts.kernel.vmlinuz}`,
      initrd: await this.guestInitrd(),
      qemu: await this.qemuVersion,
    };
  }

  /**
   * After the first cold boot of an image and shape: once that VM's boot has finished (its hook
   * says `ready`), a template VM of the same shape is booted and snapshotted, one at a time.
   */
  private snapshotAfterBoot(state: TVmState): void {
    const { spec } = state;
    void (async () => {
      await waitGuestReady(channelBase(state), 10 * 60_000, this.closing.signal);
      await this.ensureSnapshot(spec);
    })().catch((err: unknown) =>
      this.log.warn({ instanceId: spec.instanceId, err }, "no snapshot made after the first boot"),
    );
  }

  async prepareSnapshot(shape: {
    imagePath: string;
    vcpu: number;
    memoryMb: number;
    diskGb: number;
    network: TVmNetwork;
  }): Promise<{ key: string } | null> {
    if (!this.opts.snapshots) return null;
    const snapshot = await this.ensureSnapshot(
      ZVmSpec.parse({ instanceId: "template", ipv4: "169.254.42.2", ...shape }),
    );
    return snapshot ? { key: snapshot.key } : null;
  }

  /** The snapshot of `spec`'s shape, made now (queued behind others) unless it exists. */
  async ensureSnapshot(spec: TVmState["spec"]): Promise<TSnapshot | null> {
    const shape = await this.shapeOf(spec);
    const existing = await this.snapshotStore.find(shape);
    if (existing) return existing;
    const key = JSON.stringify(shape);
    const pending = this.making.get(key);
    if (pending) return pending;
    const made = this.makeQueue.then(async () => {
      if (this.closing.signal.aborted) return null;
      return (
        (await this.snapshotStore.find(shape)) ??
        makeSnapshot({
          store: this.snapshotStore,
          shape,
          spec,
          chrootDir: (await this.confinement()).chrootDir,
          launch: async (s, o) => {
            const pid = await this.launch(s, o);
            this.templatePids.add(pid);
            return pid;
          },
          kill: async (s) => {
            if (s.pid !== null) {
              await killAndWait(s.pid);
              this.templatePids.delete(s.pid);
            }
            await removeVmCgroup(s.tap);
          },
          log: this.log,
          signal: this.closing.signal,
        })
      );
    });
    this.making.set(key, made);
    this.makeQueue = made.catch(() => undefined);
    try {
      return await made;
    } finally {
      this.making.delete(key);
    }
  }

  stop(instanceId: string, opts: { timeoutMs?: number; suspend?: boolean } = {}): Promise<TVmInfo> {
    return this.locked(instanceId, () =>
      opts.suspend
        ? this.suspendUnlocked(instanceId)
        : this.stopUnlocked(instanceId, opts.timeoutMs ?? 60_000),
    );
  }

  /** Saves a running VM's memory and devices beside its disk and ends its QEMU (status suspended). */
  private async suspendUnlocked(instanceId: string): Promise<TVmInfo> {
    const state = await this.load(instanceId);
    const pid = state.pid;
    if (state.status === "suspended") return info(state);
    if (state.status !== "running" || pid === null || !(await isVmProcess(pid, state.pidfilePath)))
      throw new VmError(
        "BAD_STATE",
        `VM ${instanceId} is ${state.status}, not running: only a running VM can be suspended`,
      );
    const t0 = Date.now();
    this.stopping.add(instanceId);
    try {
      const tmp = join(state.dir, `${SUSPEND_FILE}.tmp`);
      try {
        const saved = await saveVmState({
          qmpPath: state.qmpPath,
          chrootDir: (await this.confinement()).chrootDir,
          name: state.tap,
          outFile: tmp,
          timeoutMs: 120_000,
        });
        await rename(tmp, join(state.dir, SUSPEND_FILE));
        this.log.info({ instanceId, bytes: saved.bytes, ms: Date.now() - t0 }, "vm suspended");
      } catch (err) {
        // The guest keeps running (it was only paused): the user may try again or stop it.
        await rm(tmp, { force: true });
        await qmpCommand({ socketPath: state.qmpPath, command: "cont" }).catch(() => undefined);
        throw new VmError("BAD_STATE", `suspending VM ${instanceId} failed: ${errText(err)}`, { cause: err });
      }
      await killAndWait(pid);
      await this.releaseNetwork(state);
      state.status = "suspended";
      state.pid = null;
      await this.save(state);
      this.opts.onEvent?.({ type: "suspended", instanceId });
      return info(state);
    } finally {
      this.stopping.delete(instanceId);
    }
  }

  private async stopUnlocked(instanceId: string, timeoutMs: number): Promise<TVmInfo> {
    const state = await this.load(instanceId);
    const pid = state.pid;
    this.stopping.add(instanceId);
    try {
      // A plain stop of a suspended VM discards its saved memory: its next start boots its disk.
      await rm(join(state.dir, SUSPEND_FILE), { force: true });
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
        if (!graceful) await killAndWait(pid);
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
    // A template VM whose agent died while it was being snapshotted: nothing will finish it.
    for (const p of await qemuProcessesUnder(this.snapshotStore.dir)) {
      this.log.warn({ pid: p.pid, pidfile: p.pidfilePath }, "killing a left-over snapshot template QEMU");
      await killAndWait(p.pid);
      cleaned.push(p.pidfilePath);
    }
    await this.forgetMissingImages();
    this.watch();
    return { adopted, cleaned };
  }

  async forgetMissingImages(): Promise<string[]> {
    return this.snapshotStore.prune();
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
    this.closing.abort();
    for (const pid of this.templatePids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
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

async function killAndWait(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
  await waitForExit(pid, 10_000);
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Polls until the process is gone; true if it exited within the deadline. */
async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !pidAlive(pid);
}
