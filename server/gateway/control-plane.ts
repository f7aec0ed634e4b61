import { randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "@/core/log";
import { advertisedEndpoints } from "@/lib/formnet/endpoint";
import {
  CAPABILITY_PEER_DELTAS,
  CONSOLE_PEER_MIN_PROTOCOL,
  encodeMessage,
  peersForProtocol,
  type TAgentToConsole,
  type TConsoleToAgent,
  type TFormnetPeer,
  type THello,
  type TMessageOf,
} from "@/lib/protocol";
import type { TDatabase } from "@/server/db/client";
import {
  createBlobReferencesRepository,
  createContextUploadsRepository,
} from "@/server/db/repositories/blobs-repository";
import { createBuildsRepository } from "@/server/db/repositories/builds-repository";
import { createDeploymentsRepository } from "@/server/db/repositories/deployments-repository";
import {
  createControlLeaseRepository,
  createFormnetRepository,
} from "@/server/db/repositories/formnet-repository";
import { createInstancesRepository } from "@/server/db/repositories/instances-repository";
import { createJobsRepository } from "@/server/db/repositories/jobs-repository";
import { createNodesRepository } from "@/server/db/repositories/nodes-repository";
import { AppUrls } from "@/server/ingress/app-urls";
import { BlobGc } from "@/server/services/blobs/blob-gc";
import { BlobStore } from "@/server/services/blobs/blob-store";
import { ContextUploads } from "@/server/services/blobs/context-uploads";
import { BuildService } from "@/server/services/builds/build-service";
import { DeploymentService } from "@/server/services/deployments/deployment-service";
import { Reconciler } from "@/server/services/deployments/reconciler";
import { JobService } from "@/server/services/jobs/job-service";
import type { AgentLinks } from "@/server/services/jobs/types";
import { FormnetService } from "@/server/services/nodes/formnet-service";
import { NodeService } from "@/server/services/nodes/node-service";
import { AgentConnection, type AgentSessionHandler, CLOSE } from "./agent-connection";
import type { TControlPlaneConfig } from "./config";
import type { Notifier } from "./notifier";
import { SerialLogRequests } from "./serial-log";

export type TAdmissionCheck = { isAdmitted(address: string): Promise<boolean> };

export type TControlPlaneOptions = {
  db: TDatabase;
  config: TControlPlaneConfig;
  dataDir: string;
  /** Console origin agents sign in their challenge answer. */
  origin: string;
  notifier: Notifier;
  admission: TAdmissionCheck;
  log: Logger;
};

type TErrorFrame = TMessageOf<TConsoleToAgent, "error">;

/**
 * The console's control plane: agent sessions, job queue, builds, deployments, node health and
 * formnet. One instance per console process; several processes may share a PostgreSQL database
 * (cluster-wide loops run on the process holding the `sweeper` ControlLease, offers and cancels
 * travel over the Notifier to the process holding the agent's socket).
 */
export class ControlPlane implements AgentSessionHandler, AgentLinks {
  readonly consoleId = `c-${randomUUID()}`;
  readonly config: TControlPlaneConfig;
  readonly log: Logger;
  readonly db: TDatabase;
  readonly connections = new Map<string, AgentConnection>();
  /** Serial console logs read from the hosting agent over its socket (server/gateway/serial-log.ts). */
  readonly serial = new SerialLogRequests({
    connections: this.connections,
    findNode: (id) => this.repos.nodes.find(id),
  });
  readonly jobs: JobService;
  readonly builds: BuildService;
  readonly deployments: DeploymentService;
  readonly reconciler: Reconciler;
  readonly nodes: NodeService;
  readonly formnet: FormnetService;
  readonly blobs: BlobStore;
  /** Uploaded build contexts with their owners and quota (issue #23). */
  readonly contexts: ContextUploads;
  readonly blobGc: BlobGc;
  /** The apps' URLs in every DTO; configured by the ingress module (server/ingress). */
  readonly appUrls = new AppUrls();
  readonly repos;
  readonly #o: TControlPlaneOptions;
  readonly #unsubscribe: (() => void)[] = [];
  #timer: NodeJS.Timeout | null = null;
  #ticks = 0;
  #ticking = false;
  #tickRun: Promise<void> = Promise.resolve();
  #peersTimer: NodeJS.Timeout | null = null;
  #changedPeers = new Set<string>();
  readonly #instanceStatus = new Map<string, string>();

  constructor(options: TControlPlaneOptions) {
    this.#o = options;
    this.config = options.config;
    this.log = options.log;
    this.db = options.db;
    const db = options.db;
    this.repos = {
      jobs: createJobsRepository(db),
      nodes: createNodesRepository(db),
      builds: createBuildsRepository(db),
      deployments: createDeploymentsRepository(db),
      instances: createInstancesRepository(db),
      formnet: createFormnetRepository(db),
      leases: createControlLeaseRepository(db),
      contextUploads: createContextUploadsRepository(db),
    };
    const c = options.config;
    const limits = c.limits;
    this.blobs = new BlobStore({ dataDir: options.dataDir });
    this.contexts = new ContextUploads({
      repo: this.repos.contextUploads,
      blobs: this.blobs,
      maxContextBytes: c.maxContextBytes,
      quotaBytes: limits.contextQuotaBytes,
      gcGraceMs: limits.blobGcGraceMs,
    });
    this.blobGc = new BlobGc({
      blobs: this.blobs,
      references: createBlobReferencesRepository(db),
      contexts: this.repos.contextUploads,
      graceMs: limits.blobGcGraceMs,
      intervalMs: limits.blobGcIntervalMs,
      log: options.log.child({ component: "blob-gc" }),
    });
    this.formnet = new FormnetService({
      repo: this.repos.formnet,
      cidr: c.formnetCidr,
      notifier: options.notifier,
      maxDevicesPerUser: limits.formnetMaxDevices,
    });
    this.nodes = new NodeService({
      repo: this.repos.nodes,
      formnet: this.formnet,
      log: options.log,
      timing: {
        heartbeatIntervalMs: c.heartbeatIntervalMs,
        offlineAfterMs: c.offlineAfterMs,
        metricsSampleMs: c.metricsSampleMs,
        metricsRetentionMs: c.metricsRetentionMs,
      },
    });
    this.jobs = new JobService({
      jobs: this.repos.jobs,
      links: this,
      notifier: options.notifier,
      log: options.log,
      timing: { leaseMs: c.leaseMs, ackTimeoutMs: c.ackTimeoutMs, maxBuildsPerNode: c.maxBuildsPerNode },
    });
    this.builds = new BuildService({
      builds: this.repos.builds,
      jobs: this.jobs,
      blobs: this.blobs,
      contexts: this.contexts,
      policy: c.policy,
      maxContextBytes: c.maxContextBytes,
      maxImageBytes: c.maxImageBytes,
      deadlines: c.buildDeadlines,
      log: options.log,
      appUrls: this.appUrls,
    });
    this.reconciler = new Reconciler({
      deployments: this.repos.deployments,
      instances: this.repos.instances,
      builds: this.repos.builds,
      buildService: this.builds,
      nodes: this.repos.nodes,
      nodeService: this.nodes,
      jobs: this.jobs,
      formnet: this.formnet,
      log: options.log,
    });
    this.deployments = new DeploymentService({
      deployments: this.repos.deployments,
      instances: this.repos.instances,
      builds: this.repos.builds,
      jobs: this.jobs,
      reconciler: this.reconciler,
      replicas: c.replicas,
      log: options.log,
      appUrls: this.appUrls,
    });
  }

  // --- AgentLinks -------------------------------------------------------------------------------

  send(nodeId: string, message: TConsoleToAgent): boolean {
    return this.connections.get(nodeId)?.send(message) ?? false;
  }

  isConnected(nodeId: string): boolean {
    return this.connections.get(nodeId)?.isOpen ?? false;
  }

  connectedNodeIds(): string[] {
    return [...this.connections.keys()];
  }

  // --- lifecycle --------------------------------------------------------------------------------

  /** Creates the session for a freshly upgraded agent WebSocket. */
  accept(
    socket: ConstructorParameters<typeof AgentConnection>[0]["socket"],
    peer: { remoteAddress?: string | undefined } = {},
  ): AgentConnection {
    return new AgentConnection({
      socket,
      remoteAddress: peer.remoteAddress,
      origin: this.#o.origin,
      handler: this,
      log: this.log.child({ consoleId: this.consoleId }),
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      leaseMs: this.config.leaseMs,
      handshakeTimeoutMs: this.config.handshakeTimeoutMs,
      maxMalformed: this.config.maxMalformed,
    });
  }

  /** Calls `handler` whenever the formnet peer list may have changed (any console replica). */
  onPeersChanged(handler: () => void): () => void {
    return this.#o.notifier.subscribe("formation_peers", () => handler());
  }

  start(): void {
    const n = this.#o.notifier;
    this.#unsubscribe.push(
      n.subscribe("formation_jobs", () => void this.#safe("dispatch", () => this.jobs.dispatch())),
      n.subscribe("formation_cancel", (payload) => this.jobs.deliverCancel(payload)),
      n.subscribe("formation_peers", (ref) => this.#schedulePeers(ref)),
      n.subscribe("formation_node", (payload) => this.#onNodeNotice(payload)),
    );
    this.#timer = setInterval(() => {
      this.#tickRun = this.tick().catch((error: unknown) =>
        this.log.error({ err: error }, "control plane tick failed"),
      );
    }, this.config.sweepIntervalMs);
    this.blobGc.start();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.blobGc.stop();
    if (this.#peersTimer) clearTimeout(this.#peersTimer);
    // Let a sweep in flight finish before the database goes away underneath it.
    await this.#tickRun;
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const c of this.connections.values()) c.close(CLOSE.shutdown, "console shutting down");
    await Promise.all([...this.connections.values()].map((c) => c.settled()));
    await this.#safe("flush", () => this.nodes.flush());
    await this.repos.leases.release({ name: "sweeper", holder: this.consoleId });
  }

  async #safe(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.log.error({ err: error }, `control plane ${what} failed`);
    }
  }

  /** One round of periodic work (exposed for tests and benchmarks). */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      this.#ticks++;
      await this.#safe("heartbeat flush", () => this.nodes.flush());
      const leader = await this.repos.leases.acquire({
        name: "sweeper",
        holder: this.consoleId,
        now: new Date(),
        ttlMs: Math.max(3 * this.config.sweepIntervalMs, 3000),
      });
      if (leader) {
        await this.#safe("lease sweep", () => this.jobs.sweepExpired());
        await this.#safe("offline sweep", async () => {
          for (const node of await this.nodes.sweepOffline()) await this.reconciler.nodeOffline(node);
        });
        await this.#safe("deadline sweep", () => this.builds.sweepDeadlines());
        await this.#safe("boot deadline sweep", () =>
          this.reconciler.sweepBootDeadlines(this.config.bootTimeoutMs),
        );
        if (this.#ticks % 5 === 0) await this.#safe("reconcile", () => this.reconcileAll());
        if (this.#ticks % 60 === 0) await this.#safe("metrics prune", () => this.nodes.pruneMetrics());
      }
      if (this.#ticks % 2 === 0) await this.#safe("dispatch", () => this.jobs.dispatch());
    } finally {
      this.#ticking = false;
    }
  }

  async reconcileAll(): Promise<void> {
    for (const d of await this.repos.deployments.list({})) await this.reconciler.reconcile(d.id);
  }

  #schedulePeers(ref: string): void {
    this.formnet.invalidatePeers(ref);
    this.#changedPeers.add(ref);
    if (this.#peersTimer) return;
    // Coalesce bursts (agents joining, instances booting) into one delta push per interval; the
    // interval grows with the number of sockets so a join storm does not turn into n² sends.
    const windowMs = Math.min(
      this.config.peersCoalesceMaxMs,
      Math.max(this.config.peersCoalesceMs, Math.round(this.connections.size / 4)),
    );
    this.#peersTimer = setTimeout(() => {
      this.#peersTimer = null;
      void this.#safe("peers push", () => this.#pushPeerChanges());
    }, windowMs);
  }

  async #pushPeerChanges(): Promise<void> {
    const changed = this.#changedPeers;
    this.#changedPeers = new Set();
    const peers = await this.formnet.peers();
    const delta = peers.filter((p) => changed.has(p.ref));
    // A changed ref that is no longer a peer was removed: only a full list can say so.
    const removed = changed.has("*") || delta.length < changed.size;
    // Encoded once and shared by every socket (JSON.stringify per agent dominated at thousands).
    let deltaFrame: string[] | null = null;
    let fullFrames: string[] | null = null;
    let singleFull: string[] | null = null;
    for (const c of this.connections.values()) {
      let frames: string[];
      if (c.protocolVersion < CONSOLE_PEER_MIN_PROTOCOL) {
        frames = legacyPeerFrames(peers);
      } else if (!c.capabilities.has(CAPABILITY_PEER_DELTAS)) {
        singleFull ??= await this.formnet.fullFrames();
        frames = singleFull;
      } else if (removed) {
        fullFrames ??= await this.formnet.fullFrames(this.config.peersPageSize);
        frames = fullFrames;
      } else {
        deltaFrame ??= [encodeMessage({ type: "formnet.peers", peers: delta, full: false })];
        frames = deltaFrame;
      }
      for (const f of frames) c.sendEncoded(f);
    }
  }

  /**
   * Sends the full peer list to one agent (on welcome): the cached encoded frames, paged for
   * agents that merge deltas.
   */
  async pushPeers(only: AgentConnection): Promise<void> {
    if (only.protocolVersion < CONSOLE_PEER_MIN_PROTOCOL) {
      for (const f of legacyPeerFrames(await this.formnet.peers())) only.sendEncoded(f);
      return;
    }
    const paged = only.capabilities.has(CAPABILITY_PEER_DELTAS);
    const frames = await this.formnet.fullFrames(paged ? this.config.peersPageSize : undefined);
    for (const f of frames) only.sendEncoded(f);
  }

  #onNodeNotice(payload: string): void {
    const [nodeId, consoleId] = payload.split(" ");
    if (!nodeId || consoleId === this.consoleId) return;
    // The agent reconnected to another console: this socket is stale.
    this.connections.get(nodeId)?.close(CLOSE.replaced, "agent connected elsewhere");
  }

  // --- AgentSessionHandler ----------------------------------------------------------------------

  isAdmitted(operator: string): Promise<boolean> {
    return this.#o.admission.isAdmitted(operator);
  }

  async register(hello: THello, connection: AgentConnection) {
    const agentToken = randomBytes(32).toString("hex");
    const endpoints = advertisedEndpoints({
      configured: hello.node.formnet.endpoints,
      observedAddress: connection.remoteAddress,
      listenPort: hello.node.formnet.listenPort,
    });
    const result = await this.nodes.register({ hello, endpoints, consoleId: this.consoleId, agentToken });
    if ("conflict" in result)
      return { ok: false as const, reason: "forbidden" as const, message: result.conflict };
    const { node } = result;
    const previous = this.connections.get(node.id);
    if (previous && previous !== connection) previous.close(CLOSE.replaced, "agent reconnected");
    this.connections.set(node.id, connection);
    await this.#o.notifier.publish("formation_node", `${node.id} ${this.consoleId}`);
    return {
      ok: true as const,
      nodeId: node.id,
      agentToken,
      formnet: { address: node.formnetIp ?? "", cidr: this.formnet.cidr },
    };
  }

  async welcomed(hello: THello, connection: AgentConnection): Promise<void> {
    const nodeId = connection.nodeId;
    if (!nodeId) return;
    await this.jobs.adopt(nodeId, hello.jobs);
    await this.reconciler.adopt(nodeId, hello.instances);
    for (const i of hello.instances) this.#instanceStatus.set(i.instanceId, i.status);
    await this.pushPeers(connection);
    await this.jobs.dispatchNode(nodeId);
  }

  async handle(message: TAgentToConsole, connection: AgentConnection): Promise<TErrorFrame | null> {
    const nodeId = connection.nodeId;
    if (!nodeId) return { type: "error", code: "unexpected", message: "not welcomed" };
    const notYours = (what: string): TErrorFrame => ({
      type: "error",
      code: "notYours",
      message: `${what} is not assigned to node ${nodeId}`,
      inReplyTo: message.type,
    });
    switch (message.type) {
      case "hello":
        return { type: "error", code: "unexpected", message: "already welcomed", inReplyTo: "hello" };
      case "heartbeat":
        await this.#heartbeat(nodeId, message);
        return null;
      case "job.ack":
        return (await this.jobs.ack(nodeId, message.jobId)) ? null : notYours(`job ${message.jobId}`);
      case "job.decline":
        return (await this.jobs.decline(nodeId, message.jobId, message.reason))
          ? null
          : notYours(`job ${message.jobId}`);
      case "job.progress":
        return (await this.jobs.progress({ nodeId, ...message })) ? null : notYours(`job ${message.jobId}`);
      case "job.log":
        return (await this.jobs.log({ nodeId, jobId: message.jobId, lines: message.lines }))
          ? null
          : notYours(`job ${message.jobId}`);
      case "job.complete":
        return (await this.jobs.complete({ nodeId, jobId: message.jobId, result: message.result }))
          ? null
          : notYours(`job ${message.jobId}`);
      case "job.fail":
        return (await this.jobs.fail({
          nodeId,
          jobId: message.jobId,
          reason: message.reason,
          ...(message.line === undefined ? {} : { line: message.line }),
        }))
          ? null
          : notYours(`job ${message.jobId}`);
      case "instance.status":
        this.#instanceStatus.set(message.instanceId, message.status);
        return (await this.reconciler.report(nodeId, message))
          ? null
          : notYours(`instance ${message.instanceId}`);
      case "instance.serial.reply":
        return this.serial.onReply(nodeId, message) ? null : notYours(`serial request ${message.requestId}`);
    }
  }

  async #heartbeat(nodeId: string, beat: TMessageOf<TAgentToConsole, "heartbeat">): Promise<void> {
    this.nodes.heartbeat(nodeId, { seq: beat.seq, metrics: beat.metrics });
    if (beat.jobs && beat.jobs.length > 0) await this.jobs.heartbeat(nodeId, beat.jobs);
    const at = new Date();
    for (const i of beat.instances) {
      if (this.#instanceStatus.get(i.instanceId) !== i.status) {
        this.#instanceStatus.set(i.instanceId, i.status);
        await this.reconciler.report(nodeId, { instanceId: i.instanceId, status: i.status });
      }
      if (i.metrics && this.nodes.sampleDue(`instance:${i.instanceId}`)) {
        await this.repos.instances.recordMetrics({ id: i.instanceId, nodeId, metrics: i.metrics, at });
      }
    }
  }

  async closed(connection: AgentConnection): Promise<void> {
    const nodeId = connection.nodeId;
    if (!nodeId || this.connections.get(nodeId) !== connection) return;
    this.connections.delete(nodeId);
    this.serial.nodeGone(nodeId);
    connection.log.info("agent disconnected");
    await this.nodes.disconnected(nodeId, this.consoleId);
    await this.jobs.disconnected(nodeId);
  }
}

/** One full `formnet.peers` frame for agents older than protocol 3 (rare; not cached). */
function legacyPeerFrames(peers: readonly TFormnetPeer[]): string[] {
  return [encodeMessage({ type: "formnet.peers", peers: peersForProtocol(peers, 2), full: true })];
}
