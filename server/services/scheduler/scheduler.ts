import type { TJobKind } from "@/lib/protocol";
import type { TInstancesRepository } from "@/server/db/repositories/instances-repository";
import type { TJobRow, TJobsRepository } from "@/server/db/repositories/jobs-repository";
import type { TNodeRow, TNodesRepository } from "@/server/db/repositories/nodes-repository";
import { DeclineBackoff } from "./decline-backoff";
import {
  fairOrder,
  HEAVY_KINDS,
  hasRoom,
  jobsAhead,
  ownerTurns,
  pickBuildNode,
  type TNodeSlots,
} from "./dispatch";
import { capacityFor, describeWait, placeReplicas, type TCandidateNode, type TPlacement } from "./placement";
import { NO_RESOURCES, type TResources } from "./resources";

/** The agent sockets of this console, with what each agent announced it runs at once. */
export interface LocalAgents {
  connectedNodeIds(): string[];
  isConnected(nodeId: string): boolean;
  /** Build and boot jobs the node's agent runs at once (hello `jobSlots`); null when it did not say. */
  slotsOf(nodeId: string): number | null;
}

export type TSchedulerOptions = {
  /** Read only: the queue and what each node runs. The job service changes job states. */
  jobs: TJobsRepository;
  /** Read only: capacity, announced slots and health of nodes. */
  nodes: TNodesRepository;
  /** Read only: resources promised to instances on each node. */
  instances: TInstancesRepository;
  agents: LocalAgents;
  /** Whether a node counts as healthy (online, connected, heartbeating): NodeService.isHealthy. */
  isHealthy: (node: TNodeRow) => boolean;
  /** Builds one node runs at once, whatever its slots (FORMATION_MAX_BUILDS_PER_NODE). */
  maxBuildsPerNode: number;
  now?: () => Date;
  random?: () => number;
};

/** A queued job the dispatcher offers now, and to which node. */
export type TDispatch = { job: TJobRow; nodeId: string };

/**
 * Where work runs: the one place that decides which node builds a build, which nodes host a
 * deployment's replicas, and why a queued job still waits.
 *
 * - **Dispatch** (`dispatchPlan`): queued jobs go to this console's connected agents. A targeted
 *   job (boot, stop, …) goes to its node; a build goes to the node with the fewest builds, then the
 *   fewest build/boot jobs, then the most free capacity. Builds and boots count against the slots
 *   the agent announced in hello (and builds against FORMATION_MAX_BUILDS_PER_NODE), so nodes are
 *   not offered what they would decline. Owners take turns for builds (`fairOrder`): one owner's
 *   hundred builds do not starve another owner's one.
 * - **Declines** are not failed attempts (the job service refunds the attempt); the node that
 *   declined gets no build or boot offer for a back-off (1 s doubling to 30 s), ended when it
 *   takes or finishes work (`DeclineBackoff`).
 * - **Placement** (`placeReplicas`, `capacity`): replicas go on distinct healthy nodes with the
 *   Formfile's resources free, spread across operators (pure rules in placement.ts).
 * - **Waiting** (`waitReasons`): every queued job can say why it waits and for what.
 */
export class Scheduler {
  readonly #o: TSchedulerOptions;
  readonly #now: () => Date;
  readonly backoff: DeclineBackoff;
  /** When this console last gave each owner a build slot (ms): the least recently served goes first. */
  readonly #lastServed = new Map<string | null, number>();

  constructor(options: TSchedulerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.backoff = new DeclineBackoff(() => this.#now().getTime());
  }

  // --- dispatch ---------------------------------------------------------------------------------

  /** What this console's agents (or one of them) are offered now, in order. */
  async dispatchPlan(opts: { nodeId?: string } = {}): Promise<TDispatch[]> {
    const connected =
      opts.nodeId === undefined
        ? this.#o.agents.connectedNodeIds()
        : [opts.nodeId].filter((id) => this.#o.agents.isConnected(id));
    if (connected.length === 0) return [];
    const [targeted, owners] = await Promise.all([
      this.#queuedTargeted(connected),
      this.#o.jobs.queuedOwners(),
    ]);
    if (targeted.length === 0 && owners.length === 0) return [];
    const slots = await this.#slots(connected);
    const plan: TDispatch[] = [];
    for (const job of targeted) {
      const node = job.nodeId === null ? undefined : slots.get(job.nodeId);
      if (!node) continue;
      if (HEAVY_KINDS.has(job.kind)) {
        // Held until the node has a free slot (or its back-off ends): it would decline it now.
        if (this.backoff.holds(node.nodeId, job.kind) || !hasRoom(node, { build: false, maxBuilds: 0 }))
          continue;
        node.heavy++;
      }
      plan.push({ job, nodeId: node.nodeId });
    }
    const maxBuilds = this.#o.maxBuildsPerNode;
    const open = [...slots.values()].filter(
      (n) => !this.backoff.holds(n.nodeId, "build") && hasRoom(n, { build: true, maxBuilds }),
    );
    if (open.length === 0) return plan;
    const budget = open.reduce((sum, n) => sum + Math.min(n.slots - n.heavy, maxBuilds - n.builds), 0);
    const queue = await this.#fairQueue(owners, Math.min(budget, 1000));
    if (queue.length > 0 && open.length > 1) await this.#headroom(open);
    for (const job of queue) {
      const node = pickBuildNode(open, { maxBuilds, ...(this.#o.random ? { random: this.#o.random } : {}) });
      if (!node) break;
      node.builds++;
      node.heavy++;
      this.#lastServed.set(
        job.owner,
        Math.max(this.#now().getTime(), (this.#lastServed.get(job.owner) ?? 0) + 1),
      );
      plan.push({ job, nodeId: node.nodeId });
    }
    return plan;
  }

  /**
   * Whether a job of `kind` for `nodeId` may be offered at once (it was just enqueued and this
   * console holds the node's socket): a lifecycle job always, a build or boot while a slot is free.
   */
  async canOfferNow(nodeId: string, kind: TJobKind): Promise<boolean> {
    if (!this.#o.agents.isConnected(nodeId)) return false;
    if (!HEAVY_KINDS.has(kind)) return true;
    if (this.backoff.holds(nodeId, kind)) return false;
    const node = (await this.#slots([nodeId])).get(nodeId);
    return (
      node !== undefined && hasRoom(node, { build: kind === "build", maxBuilds: this.#o.maxBuildsPerNode })
    );
  }

  /** The node declined a job (busy): it gets no build or boot offer until its back-off ends. */
  declined(nodeId: string): void {
    this.backoff.declined(nodeId);
  }

  /** The node took or finished work: capacity may be free again, its back-off is over. */
  freed(nodeId: string): void {
    this.backoff.cleared(nodeId);
  }

  /** What the given nodes run now and what they take. */
  async #slots(nodeIds: readonly string[]): Promise<Map<string, TNodeSlots>> {
    const out = new Map<string, TNodeSlots>(
      nodeIds.map((nodeId) => [
        nodeId,
        { nodeId, builds: 0, heavy: 0, slots: this.#o.agents.slotsOf(nodeId) ?? Infinity, headroom: 0 },
      ]),
    );
    for (const row of await this.#o.jobs.activeByNodeAndKind(nodeIds)) {
      const node = out.get(row.nodeId);
      if (!node || !HEAVY_KINDS.has(row.kind)) continue;
      node.heavy += row.count;
      if (row.kind === "build") node.builds += row.count;
    }
    return out;
  }

  /** Fills in each node's free capacity (a tie-break between equally busy nodes). */
  async #headroom(nodes: TNodeSlots[]): Promise<void> {
    const [rows, usage] = await Promise.all([this.#o.nodes.list(), this.#o.instances.usageByNode()]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const n of nodes) {
      const row = byId.get(n.nodeId);
      if (!row) continue;
      const used = usage.get(n.nodeId) ?? NO_RESOURCES;
      n.headroom = Math.min(
        (row.vcpu - used.vcpu) / row.vcpu,
        (row.memoryMb - used.memoryMb) / row.memoryMb,
        (row.diskGb - used.diskGb) / row.diskGb,
      );
    }
  }

  /**
   * Queued targeted jobs of the given nodes, oldest first. They are normally offered at enqueue, so
   * the queue holds few: read them all and keep ours; scanning by node id (500 per query) is the
   * fallback for a long queue (at thousands of agents it cost ten queries every dispatch).
   */
  async #queuedTargeted(nodeIds: readonly string[]): Promise<TJobRow[]> {
    if (nodeIds.length === 1) return this.#o.jobs.queuedTargeted([...nodeIds], 1000);
    const all = await this.#o.jobs.queuedTargetedAll(1000);
    if (all.length < 1000) {
      const mine = new Set(nodeIds);
      return all.filter((job) => job.nodeId !== null && mine.has(job.nodeId));
    }
    const out: TJobRow[] = [];
    for (let i = 0; i < nodeIds.length; i += 500) {
      out.push(...(await this.#o.jobs.queuedTargeted(nodeIds.slice(i, i + 500), 1000)));
    }
    return out;
  }

  /** The next `limit` queued builds in fair order across `owners` (those with builds queued). */
  async #fairQueue(
    owners: readonly { owner: string | null; queued: number; oldest: Date }[],
    limit: number,
  ): Promise<TJobRow[]> {
    if (limit <= 0 || owners.length === 0) return [];
    const turns = ownerTurns(await this.#turns(owners)).slice(0, limit);
    const queues = await Promise.all(
      turns.map(async (o) => ({ ...o, jobs: await this.#o.jobs.queuedUntargetedOf(o.owner, limit) })),
    );
    return fairOrder(queues, limit);
  }

  /** Each owner with queued builds, with what decides its turn. */
  async #turns<T extends { owner: string | null; oldest: Date }>(
    owners: readonly T[],
  ): Promise<(T & { active: number; lastServed: number })[]> {
    const active = await this.#o.jobs.activeOwners();
    return owners.map((o) => ({
      ...o,
      active: active.get(o.owner) ?? 0,
      lastServed: this.#lastServed.get(o.owner) ?? 0,
    }));
  }

  // --- placement --------------------------------------------------------------------------------

  /** Online nodes with their capacity and what is promised on them, as placement sees them. */
  async candidates(): Promise<TCandidateNode[]> {
    const [usage, nodes] = await Promise.all([this.#o.instances.usageByNode(), this.#o.nodes.listOnline()]);
    return nodes.map((n) => ({
      id: n.id,
      operator: n.operator,
      healthy: this.#o.isHealthy(n),
      capacity: { vcpu: n.vcpu, memoryMb: n.memoryMb, diskGb: n.diskGb },
      used: usage.get(n.id) ?? NO_RESOURCES,
      protocolVersion: n.protocolVersion,
    }));
  }

  /**
   * Nodes for `count` more replicas of a deployment: not one already `hosting` a replica (their
   * operators count as loaded, so replicas spread across operators), not one to `avoid` this round
   * (a boot failed there), with `resources` free. `wait` says why the rest wait.
   */
  placeReplicas(opts: {
    nodes: readonly TCandidateNode[];
    resources: TResources;
    count: number;
    hosting: ReadonlySet<string>;
    avoid: ReadonlySet<string>;
    seed: string;
  }): TPlacement {
    const operatorLoad = new Map<string, number>();
    for (const n of opts.nodes) {
      if (opts.hosting.has(n.id)) operatorLoad.set(n.operator, (operatorLoad.get(n.operator) ?? 0) + 1);
    }
    return placeReplicas({
      nodes: opts.nodes,
      resources: opts.resources,
      count: opts.count,
      excludeNodeIds: new Set([...opts.hosting, ...opts.avoid]),
      operatorLoad,
      seed: opts.seed,
    });
  }

  /**
   * What the network can place right now for one replica of `resources`: healthy nodes, how many
   * have room, the largest free amounts, and why a replica would wait (null when one fits).
   */
  async capacity(resources: TResources) {
    const nodes = await this.candidates();
    const summary = capacityFor({ nodes, resources });
    return { ...summary, wait: summary.fitting > 0 ? null : describeWait({ nodes, resources }) };
  }

  // --- why queued jobs wait ---------------------------------------------------------------------

  /**
   * Why each of `jobs` that is still queued waits, and for what, from the whole cluster's view
   * (every console's agents): "waiting for a free build slot: all 2 connected node(s) are busy
   * (2 builds, 1 boot running); 3 build(s) of other owners go first". Jobs not queued are absent.
   */
  async waitReasons(jobs: readonly TJobRow[]): Promise<Map<string, string>> {
    const queued = jobs.filter((j) => j.state === "queued");
    const out = new Map<string, string>();
    if (queued.length === 0) return out;
    const nodes = (await this.#o.nodes.listOnline()).filter(
      (n) => n.consoleId !== null && this.#o.isHealthy(n),
    );
    const load = new Map<string, TNodeSlots>(
      nodes.map((n) => [
        n.id,
        { nodeId: n.id, builds: 0, heavy: 0, slots: n.jobSlots ?? Infinity, headroom: 0 },
      ]),
    );
    for (const row of await this.#o.jobs.activeByNodeAndKind(nodes.map((n) => n.id))) {
      const node = load.get(row.nodeId);
      if (!node || !HEAVY_KINDS.has(row.kind)) continue;
      node.heavy += row.count;
      if (row.kind === "build") node.builds += row.count;
    }
    const untargeted = queued.filter((j) => !j.targeted);
    const ahead = untargeted.length > 0 ? await this.#ahead(untargeted) : new Map<string, number>();
    for (const job of queued) {
      out.set(
        job.id,
        job.targeted
          ? targetedWait(job, load)
          : buildWait([...load.values()], this.#o.maxBuildsPerNode, ahead.get(job.id) ?? 0),
      );
    }
    return out;
  }

  /** About how many builds of other owners go before each of `jobs` in the fair order. */
  async #ahead(jobs: readonly TJobRow[]): Promise<Map<string, number>> {
    const all = await this.#turns(await this.#o.jobs.queuedOwners());
    const out = new Map<string, number>();
    for (const job of jobs) {
      const mine = all.find((o) => o.owner === job.owner);
      if (!mine) continue;
      const index = await this.#o.jobs.countQueuedBefore({ owner: job.owner, before: job.createdAt });
      out.set(job.id, jobsAhead({ owner: mine, index, others: all.filter((o) => o !== mine) }) - index);
    }
    return out;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Why a queued build waits, given every healthy connected node's load. */
function buildWait(nodes: readonly TNodeSlots[], maxBuilds: number, othersAhead: number): string {
  const turn = othersAhead > 0 ? `; ${plural(othersAhead, "build")} of other owners go first` : "";
  if (nodes.length === 0) return `waiting for a node: no node agent is connected${turn}`;
  const open = nodes.filter((n) => hasRoom(n, { build: true, maxBuilds }));
  if (open.length > 0)
    return `waiting to be offered: ${plural(open.length, "node")} with a free build slot${turn}`;
  const builds = nodes.reduce((s, n) => s + n.builds, 0);
  const boots = nodes.reduce((s, n) => s + n.heavy - n.builds, 0);
  return `waiting for a free build slot: all ${plural(nodes.length, "connected node")} are busy (${plural(builds, "build")}, ${plural(boots, "boot")} running)${turn}`;
}

/** Why a queued job for one node waits. */
function targetedWait(job: TJobRow, nodes: ReadonlyMap<string, TNodeSlots>): string {
  const node = job.nodeId === null ? undefined : nodes.get(job.nodeId);
  if (!node) return `waiting for node ${job.nodeId} to connect`;
  if (HEAVY_KINDS.has(job.kind) && !hasRoom(node, { build: false, maxBuilds: 0 })) {
    return `waiting for a free build/boot slot on node ${node.nodeId} (${node.heavy} of ${node.slots} in use)`;
  }
  return `waiting to be offered to node ${node.nodeId}`;
}
