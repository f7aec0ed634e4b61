import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { PrivateKeyAccount } from "viem/accounts";
import { unpackContext } from "@/core/context";
import { ensureKeyFile } from "@/core/formnet/keys";
import { startRelayedPaths, type TRelayedPaths } from "@/core/formnet/relayed-paths";
import { WireguardInterface } from "@/core/formnet/wireguard-interface";
import { createLogger, type Logger } from "@/core/log";
import { formnetInterfaceName } from "@/lib/formnet/naming";
import { PEER_BLOB_PORT, PROTOCOL_VERSION, type THello } from "@/lib/protocol";
import { buildAgentChallenge } from "@/lib/signing/agent-auth";
import { PeerBlobServer } from "./blobs/peer-server";
import { registerOnChainInBackground } from "./config/chain-registration";
import { agentEnv } from "./config/env";
import { dataPaths, type TDataPaths } from "./config/paths";
import { PreflightError } from "./config/preflight-report";
import type { TAgentConfig } from "./config/schema";
import { type TAgentStatus, writeStatusFile } from "./config/status-file";
import { AgentConnection, type TSessionMessage, type TWelcome } from "./connection/agent-connection";
import { wireguardPeersFrom } from "./connection/formnet-peers";
import { answerSerialRequest } from "./connection/serial-log";
import { deleteBridge } from "./host/guest-isolation";
import { linkExists } from "./host/net";
import { runPreflight, type TAccelerator, type TPreflightReport } from "./host/preflight";
import { defaultNetwork, QemuHypervisor } from "./hypervisor/qemu";
import type { Hypervisor, TVmEvent, TVmNetwork } from "./hypervisor/types";
import { buildImage } from "./image/build";
import { collectImageGarbage } from "./image/gc";
import { cleanStaleBuildWork, clearBuildJobDirs } from "./image/stale-work";
import { buildExecutor } from "./jobs/executors/build";
import {
  bootExecutor,
  iptablesAccess,
  lifecycleExecutors,
  prefetchExecutor,
  type TInstanceExecutorDeps,
} from "./jobs/executors/instance";
import { JobRunner } from "./jobs/job-runner";
import { JobStore } from "./jobs/job-store";
import type { TJobExecutors } from "./jobs/types";
import { sampleHeartbeat } from "./metrics/heartbeat";
import { HostMetrics } from "./metrics/host-metrics";
import { InstanceMetrics, vmEventStatus, vmProtocolStatus } from "./metrics/instance-metrics";
import { AgentStoreReplica } from "./store/replica";

export const AGENT_VERSION = "0.1.0";

export interface TNodeAgentOptions {
  config: TAgentConfig;
  account: PrivateKeyAccount;
  logger?: Logger;
  /** Injected only by unit tests; the daemon always drives QEMU. */
  hypervisor?: Hypervisor;
  /** Only for tests that exercise the agent on hosts that cannot run VMs. */
  skipPreflight?: boolean;
  /** Overrides the instance firewall (tests with a test-double hypervisor). */
  access?: TInstanceExecutorDeps["access"];
}

/** A promise and the function that settles it (Node 20 has no Promise.withResolvers). */
function settleOnce(): { promise: Promise<void>; resolve: () => void; settled: () => boolean } {
  let done = false;
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = () => {
      done = true;
      r();
    };
  });
  return { promise, resolve: () => resolve(), settled: () => done };
}

/** How long a fetch waits for formnet (and its peers) after the agent starts before it uses the console only. */
const PEER_FETCH_WAIT_MS = 20_000;

/**
 * The node agent daemon: one process that registers the operator, keeps formnet up, adopts its
 * VMs, dials out to the console and runs the jobs it is offered. `stop()` ends the process's work
 * but leaves VMs (and the formnet interface they are reached through) running; the next `start()`
 * adopts them.
 */
export class NodeAgent {
  readonly #config: TAgentConfig;
  readonly #account: PrivateKeyAccount;
  readonly #paths: TDataPaths;
  readonly #options: TNodeAgentOptions;
  readonly #baseLog: Logger;
  #log: Logger;
  /** Latest `formnet.peers` push; kept so peers that arrive before the interface is up still apply. */
  #peers: Parameters<typeof wireguardPeersFrom>[0]["peers"] | undefined;
  #hypervisor: Hypervisor | undefined;
  #network: TVmNetwork;
  #runner: JobRunner | undefined;
  #connection: AgentConnection | undefined;
  #hostMetrics: HostMetrics;
  readonly #instanceMetrics = new InstanceMetrics();
  #accel: TAccelerator = "tcg";
  #formnetKey = { privateKeyPath: "", publicKey: "" };
  #iface: WireguardInterface | undefined;
  /** Serves this node's blobs to other formnet nodes, on its formnet address (protocol 6). */
  #peerBlobs: PeerBlobServer | undefined;
  /** This node's formnet address while its interface is up. */
  #formnetAddress: string | undefined;
  /**
   * Settles once this node can fetch from its peers (formnet up, its peers applied, blobs served)
   * or never will (formnet off or failed): a job accepted right after a restart waits for it
   * rather than taking every piece from the console.
   */
  readonly #peerFetchReady = settleOnce();
  #welcome: TWelcome | undefined;
  #tokenWaiters: (() => void)[] = [];
  #cancelRegistration: () => void = () => {};
  #store: AgentStoreReplica | undefined;
  #lastHeartbeatAt: string | null = null;
  readonly #startedAt = new Date().toISOString();
  #stopped = false;
  #imageGcRunning = false;
  /** Pending retry of a failed `#formnetUp`, and how many attempts failed in a row. */
  #formnetRetry: NodeJS.Timeout | undefined;
  #formnetFailures = 0;
  /** Relay link and path selection of the formnet interface (direct first, relay as fallback). */
  #formnetPaths: TRelayedPaths | undefined;

  constructor(options: TNodeAgentOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#account = options.account;
    this.#paths = dataPaths(options.config.dataDir, options.config);
    this.#baseLog = options.logger ?? createLogger("node-agent", { operator: options.account.address });
    this.#log = this.#baseLog;
    this.#network = this.#config.network.bridgeName
      ? { bridge: this.#config.network.bridgeName, gatewayIp: defaultNetwork(this.#paths.root).gatewayIp }
      : defaultNetwork(this.#paths.root);
    this.#hostMetrics = new HostMetrics({ diskPath: this.#paths.root });
  }

  async start(): Promise<void> {
    for (const dir of [this.#paths.root, this.#paths.jobs, this.#paths.images, this.#paths.builds]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
    if (!this.#options.skipPreflight) await this.#preflight();
    this.#formnetKey = await ensureKeyFile(join(this.#paths.root, "formnet", "wg.key"));
    this.#hypervisor = this.#options.hypervisor ?? (await this.#createHypervisor());
    const { adopted, cleaned } = await this.#hypervisor.adopt();
    this.#log.info({ adopted, cleaned }, "VMs adopted");
    await this.#cleanStaleBuilds();
    await this.#collectImages("start");

    this.#connection = new AgentConnection({
      consoleUrl: this.#config.console.url,
      logger: this.#log.child({ part: "connection" }),
      hello: (challenge) => this.#hello(challenge.nonce, challenge.origin),
      heartbeat: () => this.#heartbeatBody(),
      onWelcome: (welcome) => this.#onWelcome(welcome),
      onMessage: (message) => this.#onMessage(message),
      onDisconnect: () => this.#writeStatus(),
    });
    this.#runner = new JobRunner({
      store: new JobStore(this.#paths.jobs),
      executors: this.#executors(this.#hypervisor),
      sink: this.#connection,
      logger: this.#log.child({ part: "jobs" }),
      maxConcurrent: this.#config.jobs.maxConcurrent,
    });
    await this.#runner.init();
    const registration = registerOnChainInBackground({
      config: this.#config,
      account: this.#account,
      formnetPublicKey: this.#formnetKey.publicKey,
      logger: this.#log.child({ part: "chain" }),
    });
    this.#cancelRegistration = registration.cancel;
    // The console admits only registered operators: dial once the first registration attempt has
    // settled (bounded, so an unreachable chain does not keep the node from serving).
    await Promise.race([registration.firstAttempt, new Promise((r) => setTimeout(r, 30_000).unref())]);
    this.#connection.start();
    // The store is an extra path: an agent whose replica cannot open still runs jobs.
    await this.#startStore(this.#hypervisor).catch((error: unknown) =>
      this.#log.error({ err: error }, "cannot open the state-store replica"),
    );
    await this.#writeStatus();
    this.#log.info({ console: this.#config.console.url, accel: this.#accel }, "node agent started");
  }

  /** Graceful stop: decline new jobs, let running ones finish within the grace period, disconnect. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#log.info("stopping: declining new jobs");
    clearTimeout(this.#formnetRetry);
    this.#cancelRegistration();
    await this.#runner?.drain(this.#config.jobs.shutdownGraceMs);
    await this.#connection?.stop();
    await this.#store?.close();
    await this.#formnetPaths?.stop();
    this.#formnetPaths = undefined;
    await this.#peerBlobs?.close();
    this.#peerBlobs = undefined;
    const ephemeral = agentEnv().FORMATION_AGENT_EPHEMERAL;
    if (ephemeral) await this.#teardownHost();
    else await this.#hostDownIfIdle();
    this.#hypervisor?.close();
    for (const wake of this.#tokenWaiters) wake();
    await this.#writeStatus();
    this.#log.info(
      ephemeral ? "node agent stopped (host torn down)" : "node agent stopped (VMs keep running)",
    );
  }

  /**
   * A stopping agent keeps formnet and the VM bridge up while VMs run here (they stay reachable
   * over WireGuard until it is back, and the next start adopts the interface); with no VM there is
   * nothing to keep reachable: a leftover wireguard-go holding the formnet CIDR would collide with
   * the next formnet on this host, and the bridge (with its guard rules) is made again by the next
   * VM's boot.
   */
  async #hostDownIfIdle(): Promise<void> {
    if (!this.#hypervisor) return;
    const vms = await this.#hypervisor.list().catch(() => null);
    if (vms === null || vms.length > 0) return;
    await this.#iface?.down().catch((err: unknown) => this.#log.warn({ err }, "could not remove formnet"));
    this.#iface = undefined;
    if (linkExists(this.#network.bridge))
      await deleteBridge(this.#network.bridge).catch((err: unknown) =>
        this.#log.warn({ err, bridge: this.#network.bridge }, "could not remove the VM bridge"),
      );
  }

  /**
   * Ephemeral agents (FORMATION_AGENT_EPHEMERAL=1: throwaway test platforms) leave nothing behind:
   * every VM is deleted (QEMU, tap, overlay, routes), then the bridge and the formnet interface go.
   */
  async #teardownHost(): Promise<void> {
    const hypervisor = this.#hypervisor;
    if (hypervisor) {
      const access = this.#options.access ?? iptablesAccess;
      for (const vm of await hypervisor.list()) {
        await hypervisor.delete(vm.instanceId).catch((err: unknown) => {
          this.#log.warn({ err, instanceId: vm.instanceId }, "could not delete VM during teardown");
        });
        await access.remove({ vmIp: vm.ipv4, bridge: this.#network.bridge }).catch((err: unknown) => {
          this.#log.warn({ err, instanceId: vm.instanceId }, "could not remove the VM's access chain");
        });
      }
    }
    if (linkExists(this.#network.bridge)) await deleteBridge(this.#network.bridge).catch(() => undefined);
    await this.#iface?.down().catch((err: unknown) => this.#log.warn({ err }, "could not remove formnet"));
    this.#iface = undefined;
  }

  /**
   * Replicated state store (issue #7, node-agent/store): this node's operator-signed record and its
   * instances' statuses, synced with the console's /ws/store; while the console is unreachable the
   * store's console-signed `peers/*` are the formnet peer source.
   */
  async #startStore(hypervisor: Hypervisor): Promise<void> {
    const metrics = new HostMetrics({ diskPath: this.#paths.root });
    const capacity = this.#config.node.capacity;
    this.#store = await AgentStoreReplica.open({
      dataDir: this.#paths.root,
      account: this.#account,
      consoleUrl: this.#config.console.url,
      logger: this.#log.child({ part: "statestore" }),
      node: async () => ({
        capabilities: { accel: this.#accel, region: this.#config.node.region, agentVersion: AGENT_VERSION },
        capacity: { vcpu: capacity.vcpu, memMb: capacity.memoryMb, diskGb: capacity.diskGb },
        metrics: await metrics.sample(),
      }),
      instances: async () =>
        (await hypervisor.list()).map((vm) => ({
          instanceId: vm.instanceId,
          status: vmProtocolStatus(vm),
        })),
      onPeers: (peers) => {
        if (!this.#connection?.welcome) this.#applyPeers(peers);
      },
    });
    this.#store.start();
  }

  async #preflight(): Promise<TPreflightReport> {
    const report = await runPreflight({ cacheDir: this.#config.cacheDir });
    this.#accel = report.accelerator;
    for (const check of report.checks.filter((c) => !c.ok)) {
      this.#log.warn({ check: check.id, detail: check.detail, fix: check.fix }, "preflight check failed");
    }
    if (!report.ok) throw new PreflightError(report);
    return report;
  }

  async #createHypervisor(): Promise<Hypervisor> {
    return QemuHypervisor.forHost({
      dataDir: this.#paths.root,
      cacheDir: this.#config.cacheDir,
      accelerator: this.#accel,
      logger: this.#log.child({ part: "hypervisor" }),
      onEvent: (event) => this.#onVmEvent(event),
      snapshots: this.#config.vms.snapshots,
    });
  }

  #executors(hypervisor: Hypervisor): TJobExecutors {
    const common = {
      paths: this.#paths,
      consoleUrl: this.#config.console.url,
      token: (signal: AbortSignal) => this.#token(signal),
      formnetAddress: async () => {
        if (!this.#peerFetchReady.settled())
          await Promise.race([
            this.#peerFetchReady.promise,
            sleep(PEER_FETCH_WAIT_MS, undefined, { ref: false }),
          ]);
        return this.#peerBlobs ? this.#formnetAddress : undefined;
      },
    };
    const instanceDeps: TInstanceExecutorDeps = {
      ...common,
      hypervisor,
      network: this.#network,
      sshReadyTimeoutMs: this.#config.jobs.sshReadyTimeoutMs,
      access: this.#options.access ?? iptablesAccess,
    };
    return {
      build: buildExecutor({
        ...common,
        cacheDir: this.#config.cacheDir,
        buildImage: async (options) => {
          const image = await buildImage({ ...options, accelerator: this.#accel });
          // The fresh image is the most recent one and younger than the GC's minimum age: safe.
          void this.#collectImages("build");
          return image;
        },
        unpackContext: async ({ archivePath, destDir }) => {
          await unpackContext({ tarGz: await readFile(archivePath), destDir });
        },
      }),
      boot: bootExecutor(instanceDeps),
      prefetch: prefetchExecutor({ ...common, hypervisor, network: this.#network }),
      ...lifecycleExecutors(instanceDeps),
    };
  }

  /**
   * Unmounts and deletes what builds killed mid-way (this agent crashed) left in the cache, and
   * the build jobs' directories of the agent's data dir.
   */
  async #cleanStaleBuilds(): Promise<void> {
    try {
      const { removed } = await cleanStaleBuildWork({ cacheDir: this.#config.cacheDir });
      removed.push(...(await clearBuildJobDirs(this.#paths.builds)));
      if (removed.length > 0) this.#log.info({ removed }, "removed build work left by a crashed build");
    } catch (error) {
      this.#log.warn({ err: error }, "cleaning stale build work failed");
    }
  }

  /**
   * Image GC (node-agent/image/gc.ts): drops images no VM here uses that are not among the most
   * recently used. One run at a time; skipped while a boot job runs, so an image it has just
   * found in the store cannot vanish before its VM is created.
   */
  async #collectImages(reason: "start" | "build"): Promise<void> {
    if (this.#imageGcRunning || !this.#hypervisor) return;
    if (this.#runner?.snapshot().some((job) => job.kind === "boot" && job.state === "running")) return;
    this.#imageGcRunning = true;
    try {
      const vms = await this.#hypervisor.list();
      const result = await collectImageGarbage({
        storeDir: this.#paths.images,
        cacheDir: this.#config.cacheDir,
        vmImagePaths: vms.flatMap((vm) => (vm.imagePath ? [vm.imagePath] : [])),
        keepRecent: this.#config.images.keepRecent,
        minAgeMs: this.#config.images.minAgeMinutes * 60_000,
      });
      if (result.deleted.length > 0) {
        this.#log.info(
          { reason, deleted: result.deleted.length, kept: result.kept, freedBytes: result.freedBytes },
          "image GC",
        );
        await this.#hypervisor.forgetMissingImages?.();
      }
    } catch (error) {
      this.#log.warn({ err: error, reason }, "image GC failed");
    } finally {
      this.#imageGcRunning = false;
    }
  }

  /** The blob token of the live session; waits through an outage (or until the job is cancelled). */
  async #token(signal: AbortSignal): Promise<string> {
    for (;;) {
      const welcome = this.#connection?.welcome;
      if (welcome) return welcome.agentToken;
      if (this.#stopped) throw new Error("the node agent is stopping");
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#tokenWaiters.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  async #hello(nonce: string, origin: string): Promise<THello> {
    const instances = (await this.#requireHypervisor().list()).map((vm) => ({
      instanceId: vm.instanceId,
      status: vmProtocolStatus(vm),
    }));
    return {
      type: "hello",
      protocolVersion: PROTOCOL_VERSION,
      agentVersion: AGENT_VERSION,
      operator: this.#account.address,
      signature: await this.#account.signMessage({ message: buildAgentChallenge(nonce, origin) }),
      node: {
        region: this.#config.node.region,
        capacity: this.#config.node.capacity,
        accel: this.#accel,
        // What the job runner declines beyond: the console's scheduler offers no more than this.
        jobSlots: this.#config.jobs.maxConcurrent,
        formnet: {
          publicKey: this.#formnetKey.publicKey,
          listenPort: this.#config.formnet.listenPort,
          endpoints: this.#config.formnet.endpoints,
        },
      },
      instances,
      jobs: this.#runner?.helloJobs() ?? [],
    };
  }

  async #onWelcome(welcome: TWelcome): Promise<void> {
    this.#welcome = welcome;
    this.#log = this.#baseLog.child({ nodeId: welcome.nodeId });
    const waiters = this.#tokenWaiters;
    this.#tokenWaiters = [];
    for (const wake of waiters) wake();
    // Node id first, so `status` (and tests) see the session before formnet is up.
    await this.#writeStatus();
    await this.#formnetUp(welcome);
    await this.#runner?.resendUnreported();
    for (const vm of await this.#requireHypervisor().list()) {
      this.#connection?.send({
        type: "instance.status",
        instanceId: vm.instanceId,
        status: vmProtocolStatus(vm),
        formnetIp: vm.ipv4,
      });
    }
    await this.#writeStatus();
  }

  async #formnetUp(welcome: TWelcome): Promise<void> {
    if (!this.#config.formnet.enabled) this.#peerFetchReady.resolve();
    if (!this.#config.formnet.enabled || this.#iface) return;
    const prefix = welcome.formnet.cidr.split("/")[1] ?? "16";
    const name =
      this.#config.formnet.interfaceName ?? formnetInterfaceName({ role: "node", id: welcome.nodeId });
    try {
      const iface = await WireguardInterface.up({
        name,
        address: `${welcome.formnet.address}/${prefix}`,
        listenPort: this.#config.formnet.listenPort,
        privateKeyPath: this.#formnetKey.privateKeyPath,
        logPath: join(this.#paths.root, "formnet", "wireguard-go.log"),
        logger: this.#log.child({ part: "formnet" }),
      });
      this.#iface = iface;
      this.#formnetFailures = 0;
      this.#formnetPaths = await startRelayedPaths({
        iface,
        consoleUrl: this.#config.console.url,
        headers: async () => ({ authorization: `Bearer ${await this.#token(new AbortController().signal)}` }),
        statusPath: join(this.#paths.root, "formnet", "paths.json"),
        logger: this.#log.child({ part: "formnet" }),
      });
      await this.#servePeerBlobs(welcome.formnet.address);
      // Peer fetches are ready once the peers are applied (#applyPeers), or now when none are known.
      if (this.#peers) this.#applyPeers(this.#peers);
      else this.#peerFetchReady.resolve();
    } catch (error) {
      this.#peerFetchReady.resolve();
      // Jobs can still build and boot, but VMs here are unreachable until formnet is up: retry
      // with backoff while this session lasts (the next welcome retries too). The operator sees why.
      this.#scheduleFormnetRetry(welcome);
      const port = this.#config.formnet.listenPort;
      const inUse = String(error instanceof Error ? error.message : error).includes("address already in use");
      this.#log.error(
        {
          err: error,
          iface: name,
          ...(inUse && {
            hint: `UDP port ${port} is held by another process on this host (another agent?): pick a free one with \`node-agent init --formnet-port <port>\``,
          }),
        },
        "cannot bring up the formnet interface",
      );
    }
  }

  #scheduleFormnetRetry(welcome: TWelcome): void {
    if (this.#formnetRetry || this.#stopped) return;
    const delayMs = Math.min(30_000, 1_000 * 2 ** this.#formnetFailures);
    this.#formnetFailures += 1;
    this.#formnetRetry = setTimeout(() => {
      this.#formnetRetry = undefined;
      // Only for the session that failed: a newer welcome has already tried again.
      if (this.#stopped || this.#welcome !== welcome) return;
      void this.#formnetUp(welcome);
    }, delayMs);
    this.#formnetRetry.unref();
  }

  #onMessage(message: TSessionMessage): void {
    const runner = this.#runner;
    switch (message.type) {
      case "job.offer":
        runner?.offer(message);
        return;
      case "job.cancel":
        if (!runner?.cancel(message.jobId, message.reason)) {
          this.#log.info({ jobId: message.jobId }, "cancel for a job that is not running");
        }
        return;
      case "formnet.peers":
        this.#applyPeers(message.peers);
        return;
      case "instance.serial.request":
        void answerSerialRequest({
          request: message,
          // Matched against the hypervisor's own VM list, never used to build a path.
          lookup: async (id) => (await this.#hypervisor?.list())?.find((vm) => vm.instanceId === id) ?? null,
          send: (reply) => this.#connection?.send(reply) ?? false,
          log: this.#log,
        });
        return;
      case "error":
        this.#log.warn(
          { code: message.code, inReplyTo: message.inReplyTo },
          `console error: ${message.message}`,
        );
        return;
    }
  }

  /**
   * Serves the store's blobs to other nodes on this node's formnet address; without it this node
   * still fetches from the console (and asks no peer: they would not see it as a formnet node).
   */
  async #servePeerBlobs(address: string): Promise<void> {
    this.#formnetAddress = address;
    const server =
      this.#peerBlobs ??
      new PeerBlobServer({ paths: this.#paths, logger: this.#log.child({ part: "peer-blobs" }) });
    try {
      await server.listen(address);
      this.#peerBlobs = server;
    } catch (error) {
      this.#peerFetchReady.resolve();
      this.#log.warn(
        { err: error, address, port: PEER_BLOB_PORT },
        "cannot serve blobs to formnet nodes: images are fetched from the console only",
      );
    }
  }

  #applyPeers(peers: Parameters<typeof wireguardPeersFrom>[0]["peers"]): void {
    this.#peers = peers;
    this.#peerBlobs?.setAllowedSources(peers.filter((p) => p.kind === "node").map((p) => p.ip));
    const iface = this.#iface;
    if (!iface) return;
    const wanted = wireguardPeersFrom({ peers, selfPublicKey: this.#formnetKey.publicKey });
    this.#formnetPaths?.setPlan(wanted);
    iface
      .setPeers(wanted)
      .then(() => {
        if (this.#peerBlobs) this.#peerFetchReady.resolve();
      })
      .catch((error: unknown) => {
        this.#peerFetchReady.resolve();
        this.#log.error({ err: error }, "cannot apply formnet peers");
      });
  }

  #onVmEvent(event: TVmEvent): void {
    this.#log.info({ instanceId: event.instanceId, event: event.type }, "VM event");
    this.#connection?.send({
      type: "instance.status",
      instanceId: event.instanceId,
      ...vmEventStatus(event),
    });
  }

  async #heartbeatBody() {
    const sample = await sampleHeartbeat({
      hypervisor: this.#requireHypervisor(),
      host: this.#hostMetrics,
      instances: this.#instanceMetrics,
    });
    this.#lastHeartbeatAt = new Date().toISOString();
    void this.#writeStatus();
    return { ...sample, jobs: this.#runner?.activeJobIds() ?? [] };
  }

  #requireHypervisor(): Hypervisor {
    if (!this.#hypervisor) throw new Error("the node agent has not started");
    return this.#hypervisor;
  }

  async #writeStatus(): Promise<void> {
    const vms = this.#hypervisor ? await this.#hypervisor.list().catch(() => []) : [];
    const status: TAgentStatus = {
      pid: process.pid,
      agentVersion: AGENT_VERSION,
      startedAt: this.#startedAt,
      updatedAt: new Date().toISOString(),
      operator: this.#account.address,
      consoleUrl: this.#config.console.url,
      connection: this.#connection?.state ?? "idle",
      ...(this.#connection?.problem ? { connectionProblem: this.#connection.problem } : {}),
      nodeId: this.#welcome?.nodeId ?? null,
      formnet: {
        address: this.#welcome?.formnet.address ?? null,
        interface: this.#iface?.name ?? null,
        publicKey: this.#formnetKey.publicKey,
      },
      accel: this.#accel,
      lastHeartbeatAt: this.#lastHeartbeatAt,
      instances: vms.map((vm) => ({ instanceId: vm.instanceId, status: vm.status, ipv4: vm.ipv4 })),
      jobs: this.#runner?.snapshot() ?? [],
      stopped: this.#stopped,
    };
    await writeStatusFile(this.#paths.status, status).catch((error: unknown) =>
      this.#log.warn({ err: error }, "cannot write status file"),
    );
  }
}
