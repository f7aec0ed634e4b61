import { createHash } from "node:crypto";
import type { Logger } from "@/core/log";
import type { THello, TMetrics } from "@/lib/protocol";
import type { TInstancesRepository } from "@/server/db/repositories/instances-repository";
import type { TNodeRow, TNodesRepository } from "@/server/db/repositories/nodes-repository";
import { AppError, isAppError } from "@/server/errors";
import { METRICS_HISTORY_LIMIT, toMetricsSamples } from "@/server/services/metrics/metrics-dto";
import type { FormnetService } from "./formnet-service";
import {
  type TNodeDetailDto,
  type TNodeDto,
  type TPublicNodeDto,
  toNodeDto,
  toPublicNodeDto,
} from "./node-dto";

export type TNodeTiming = {
  heartbeatIntervalMs: number;
  /** A node whose last heartbeat is older than this is marked offline and its replicas move. */
  offlineAfterMs: number;
  /** At most one metrics history row per node (and instance) per this interval. */
  metricsSampleMs: number;
  metricsRetentionMs: number;
};

/** Stable node id for an operator's host: the same agent (same WireGuard key) gets the same id. */
export function nodeIdFor(operator: string, wgPublicKey: string): string {
  const digest = createHash("sha256").update(`${operator.toLowerCase()}\n${wgPublicKey}`).digest("hex");
  return `n-${digest.slice(0, 20)}`;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

type TPendingBeat = { seq: number; metrics: TMetrics };

/**
 * Node registry, health and metrics. Heartbeats are buffered in memory and flushed in batches
 * (one `updateMany` for the liveness column, one `createMany` for sampled metrics) so thousands
 * of agents heartbeating every few seconds cost a few statements per second.
 */
export class NodeService {
  readonly #repo: TNodesRepository;
  readonly #instances: TInstancesRepository;
  readonly #formnet: FormnetService;
  readonly #log: Logger;
  readonly timing: TNodeTiming;
  readonly #now: () => Date;
  /** When this console process began judging heartbeats. */
  readonly #startedAt: number;
  #pending = new Map<string, TPendingBeat>();
  readonly #lastSample = new Map<string, number>();

  constructor(options: {
    repo: TNodesRepository;
    /** Read for what is placed on each node (allocation, counts) and for instance metrics. */
    instances: TInstancesRepository;
    formnet: FormnetService;
    timing: TNodeTiming;
    log: Logger;
    now?: () => Date;
  }) {
    this.#repo = options.repo;
    this.#instances = options.instances;
    this.#formnet = options.formnet;
    this.timing = options.timing;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.#startedAt = this.#now().getTime();
  }

  /**
   * Registers (or refreshes) the node of an admitted hello and gives it a formnet address.
   * Answers a conflict reason when the WireGuard key belongs to another operator or to another
   * formnet member (a user's device, an instance).
   */
  async register(opts: {
    hello: THello;
    /** Endpoints peers dial, best first (`advertisedEndpoints`); the hello's own when absent. */
    endpoints?: string[];
    consoleId: string;
    agentToken: string;
  }): Promise<{ node: TNodeRow } | { conflict: string }> {
    const { hello } = opts;
    const endpoints = opts.endpoints ?? hello.node.formnet.endpoints;
    const operator = hello.operator.toLowerCase();
    const byKey = await this.#repo.findByKey(hello.node.formnet.publicKey);
    if (byKey && byKey.operator !== operator) {
      return { conflict: "this WireGuard key is registered to another operator; generate a new node key" };
    }
    const id = nodeIdFor(operator, hello.node.formnet.publicKey);
    // The address first, so the node row is written once with it (one statement less per join).
    // A key that a user's device or an instance already holds is refused (formnet keys are unique).
    let formnetIp: string;
    try {
      formnetIp = await this.#formnet.allocate({
        kind: "node",
        ref: id,
        publicKey: hello.node.formnet.publicKey,
        endpoints,
      });
    } catch (error) {
      if (isAppError(error, "CONFLICT")) return { conflict: error.message };
      throw error;
    }
    const node = await this.#repo.upsertOnHello(
      {
        id,
        operator,
        region: hello.node.region,
        accel: hello.node.accel,
        vcpu: hello.node.capacity.vcpu,
        memoryMb: hello.node.capacity.memoryMb,
        diskGb: hello.node.capacity.diskGb,
        wgPublicKey: hello.node.formnet.publicKey,
        listenPort: hello.node.formnet.listenPort,
        endpoints,
        agentVersion: hello.agentVersion,
        protocolVersion: hello.protocolVersion,
        jobSlots: hello.node.jobSlots ?? null,
        consoleId: opts.consoleId,
        agentTokenHash: sha256Hex(opts.agentToken),
        formnetIp,
      },
      this.#now(),
    );
    this.#pending.delete(id);
    return { node };
  }

  async disconnected(nodeId: string, consoleId: string): Promise<void> {
    this.#pending.delete(nodeId);
    await this.#repo.disconnected({ id: nodeId, consoleId });
  }

  /** Buffers a heartbeat; `flush` writes it. */
  heartbeat(nodeId: string, beat: TPendingBeat): void {
    this.#pending.set(nodeId, beat);
  }

  /** Whether a metrics sample for `key` is due now (and marks it taken). */
  sampleDue(key: string): boolean {
    const now = this.#now().getTime();
    const last = this.#lastSample.get(key) ?? 0;
    if (now - last < this.timing.metricsSampleMs) return false;
    this.#lastSample.set(key, now);
    return true;
  }

  /** Writes buffered heartbeats: liveness for all, metrics for those due a sample. */
  async flush(): Promise<number> {
    if (this.#pending.size === 0) return 0;
    const batch = this.#pending;
    this.#pending = new Map();
    const at = this.#now();
    await this.#repo.touchMany({ ids: [...batch.keys()], at });
    const samples: { nodeId: string; metrics: TMetrics }[] = [];
    for (const [nodeId, beat] of batch) {
      if (this.sampleDue(`node:${nodeId}`)) samples.push({ nodeId, metrics: beat.metrics });
    }
    if (samples.length > 0) await this.#repo.addSamples({ samples, at });
    return batch.size;
  }

  /**
   * Marks nodes offline whose heartbeats lapsed; returns the nodes that just went offline. Not in
   * the first `offlineAfterMs` of this console's life: while it was down no agent could send a
   * heartbeat, and each gets that long to reconnect before its silence counts (a console restart
   * must not turn every replica into a replacement).
   */
  async sweepOffline(): Promise<TNodeRow[]> {
    if (this.#now().getTime() - this.#startedAt < this.timing.offlineAfterMs) return [];
    const staleBefore = new Date(this.#now().getTime() - this.timing.offlineAfterMs);
    const gone: TNodeRow[] = [];
    for (const node of await this.#repo.staleOnline(staleBefore)) {
      const seconds = Math.round(this.timing.offlineAfterMs / 1000);
      const reason = `no heartbeat for more than ${seconds} s (last ${node.lastHeartbeatAt?.toISOString() ?? "never"})`;
      if (await this.#repo.markOffline({ id: node.id, staleBefore, reason })) {
        this.#log.warn({ nodeId: node.id, operator: node.operator }, `node offline: ${reason}`);
        gone.push(node);
      }
    }
    return gone;
  }

  async pruneMetrics(): Promise<number> {
    return this.#repo.pruneMetrics(new Date(this.#now().getTime() - this.timing.metricsRetentionMs));
  }

  /** Records an instance's metrics from a heartbeat, at most one history sample per interval. */
  async instanceMetrics(opts: { instanceId: string; nodeId: string; metrics: TMetrics; at: Date }) {
    if (!this.sampleDue(`instance:${opts.instanceId}`)) return;
    await this.#instances.recordMetrics({
      id: opts.instanceId,
      nodeId: opts.nodeId,
      metrics: opts.metrics,
      at: opts.at,
    });
  }

  /** The node holding a blob-endpoint bearer token (connected nodes only); null when none does. */
  async nodeIdForAgentToken(token: string): Promise<string | null> {
    return (await this.#repo.findByToken(sha256Hex(token)))?.id ?? null;
  }

  /** The node holding an agent bearer token (connected nodes only), with its formnet key; null when none does. */
  nodeForAgentToken(token: string): Promise<TNodeRow | null> {
    return this.#repo.findByToken(sha256Hex(token));
  }

  /** A node's stored row (serial log requests read its protocol version and socket holder). */
  find(nodeId: string): Promise<TNodeRow | null> {
    return this.#repo.find(nodeId);
  }

  /** Nodes of the network (optionally one operator's) with allocation, health and instance counts. */
  async list(opts: { operator?: string } = {}): Promise<TNodeDto[]> {
    const rows = await this.#repo.list(opts.operator ? { operator: opts.operator.toLowerCase() } : {});
    return this.#dtos(rows);
  }

  /** The public view of every node (the signed-out nodes page polls it). */
  async publicList(): Promise<TPublicNodeDto[]> {
    return (await this.#dtos(await this.#repo.list({}))).map(toPublicNodeDto);
  }

  /** One node with its metrics history since `sinceMinutes` ago. */
  async get(opts: { nodeId: string; sinceMinutes: number }): Promise<TNodeDetailDto> {
    const row = await this.#repo.find(opts.nodeId);
    if (!row) throw new AppError("NOT_FOUND", `No node ${opts.nodeId}`);
    const [dto] = await this.#dtos([row]);
    if (!dto) throw new AppError("INTERNAL", "node DTO missing");
    const history = await this.#repo.metricsHistory({
      nodeId: row.id,
      since: new Date(this.#now().getTime() - opts.sinceMinutes * 60_000),
      limit: METRICS_HISTORY_LIMIT,
    });
    return { ...dto, history: toMetricsSamples(history) };
  }

  /** Two grouped queries whatever the number of nodes and instances (the public page polls this). */
  async #dtos(rows: TNodeRow[]): Promise<TNodeDto[]> {
    if (rows.length === 0) return [];
    const [usage, counts] = await Promise.all([this.#instances.usageByNode(), this.#instances.countByNode()]);
    return rows.map((n) =>
      toNodeDto(n, {
        allocated: usage.get(n.id),
        instances: counts.get(n.id) ?? 0,
        healthy: this.isHealthy(n),
      }),
    );
  }

  /** Whether a node counts as healthy for placement. */
  isHealthy(node: TNodeRow): boolean {
    if (node.status !== "online" || node.consoleId === null || node.lastHeartbeatAt === null) return false;
    return this.#now().getTime() - node.lastHeartbeatAt.getTime() <= this.timing.offlineAfterMs;
  }
}
