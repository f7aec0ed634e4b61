import { randomUUID } from "node:crypto";
import type { Logger } from "@/core/log";
import { type TJobKind, type TJobResult, type TJobSpec, ZJobSpec } from "@/lib/protocol";
import type { TJobRow, TJobsRepository } from "@/server/db/repositories/jobs-repository";
import type { Notifier } from "@/server/gateway/notifier";
import type { Scheduler } from "@/server/services/scheduler/scheduler";
import type { AgentLinks, TJobEvent, TJobListener, TJobTiming } from "./types";

export type TEnqueue = TJobSpec & {
  /** Target node (instance jobs); null lets any suitable node lease it (builds). */
  nodeId: string | null;
  /** Same key ⇒ same job: enqueueing twice is harmless. */
  idempotencyKey: string;
  /** The account the job works for: owners take turns in the queue. */
  owner?: string;
  buildId?: string;
  instanceId?: string;
  maxAttempts?: number;
};

export type TJobServiceOptions = {
  jobs: TJobsRepository;
  links: AgentLinks;
  /** Decides which queued job goes to which node (server/services/scheduler). */
  scheduler: Scheduler;
  notifier: Notifier;
  timing: TJobTiming;
  log: Logger;
  now?: () => Date;
};

/**
 * Leased job queue. Jobs live in the database; a console offers a job only to agents whose socket
 * it holds, and every state change is a conditional update, so several consoles can share the
 * queue. Which job goes to which node is the scheduler's decision; this service carries it out
 * (lease, offer, ack, results). A lease that lapses (agent gone) puts the job back in the queue;
 * job ids make redelivery idempotent on the agent, and results for jobs already final are ignored.
 */
export class JobService {
  readonly #o: TJobServiceOptions;
  readonly #listeners: TJobListener[] = [];
  readonly #now: () => Date;
  #dispatching = false;
  #dispatchAgain = false;

  constructor(options: TJobServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  onEvent(listener: TJobListener): void {
    this.#listeners.push(listener);
  }

  async #emit(event: TJobEvent): Promise<void> {
    for (const listener of this.#listeners) {
      try {
        await listener(event);
      } catch (error) {
        this.#o.log.error({ err: error, jobId: event.job.id, event: event.type }, "job listener failed");
      }
    }
  }

  #until(ms: number): Date {
    return new Date(this.#now().getTime() + ms);
  }

  async enqueue(spec: TEnqueue): Promise<TJobRow> {
    // Fast path: this process holds the target's socket, so the job is inserted already leased to
    // it and offered at once (one statement, no queue scan). Nobody else can lease it meanwhile.
    const offer =
      spec.nodeId !== null && (await this.#o.scheduler.canOfferNow(spec.nodeId, spec.kind))
        ? ZJobSpec.safeParse({ kind: spec.kind, payload: spec.payload })
        : null;
    const direct = offer?.success === true;
    const { job, created } = await this.#o.jobs.enqueue({
      id: randomUUID(),
      kind: spec.kind,
      payload: JSON.stringify(spec.payload),
      nodeId: spec.nodeId,
      idempotencyKey: spec.idempotencyKey,
      owner: spec.owner ?? null,
      buildId: spec.buildId ?? null,
      instanceId: spec.instanceId ?? null,
      ...(spec.maxAttempts === undefined ? {} : { maxAttempts: spec.maxAttempts }),
      ...(direct ? { leaseUntil: this.#until(this.#o.timing.ackTimeoutMs) } : {}),
    });
    if (!created) return job;
    if (offer?.success && spec.nodeId !== null) {
      await this.#sendOffer(job, spec.nodeId, offer.data);
    } else {
      await this.#o.notifier.publish("formation_jobs", spec.nodeId ?? "*");
    }
    return job;
  }

  /** Offers queued jobs to the agents connected to this process. Coalesces concurrent calls. */
  async dispatch(): Promise<void> {
    if (this.#dispatching) {
      this.#dispatchAgain = true;
      return;
    }
    this.#dispatching = true;
    try {
      do {
        this.#dispatchAgain = false;
        await this.#dispatchOnce();
      } while (this.#dispatchAgain);
    } finally {
      this.#dispatching = false;
    }
  }

  /** Offers queued work to one node that just connected (cheaper than a scan over all sockets). */
  async dispatchNode(nodeId: string): Promise<void> {
    for (const { job, nodeId: to } of await this.#o.scheduler.dispatchPlan({ nodeId }))
      await this.#offer(job, to);
  }

  async #dispatchOnce(): Promise<void> {
    for (const { job, nodeId } of await this.#o.scheduler.dispatchPlan()) await this.#offer(job, nodeId);
  }

  /** A slot may have come free on `nodeId`: offer it queued work now rather than at the next round. */
  #freed(nodeId: string, kind: TJobRow["kind"]): void {
    this.#o.scheduler.freed(nodeId);
    if (kind !== "build" && kind !== "boot") return;
    this.dispatch().catch((error: unknown) =>
      this.#o.log.error({ err: error, nodeId }, "job dispatch failed"),
    );
  }

  async #offer(job: TJobRow, nodeId: string): Promise<boolean> {
    const spec = ZJobSpec.safeParse({ kind: job.kind, payload: JSON.parse(job.payload) });
    if (!spec.success) {
      await this.#o.jobs.finish({
        id: job.id,
        nodeId: null,
        state: "cancelled",
        error: "payload no longer valid",
      });
      this.#o.log.error(
        { jobId: job.id, issues: spec.error.issues },
        "stored job payload is invalid; cancelled",
      );
      return false;
    }
    if (job.attempts >= job.maxAttempts) {
      await this.#failExhausted(job);
      return false;
    }
    if (
      !(await this.#o.jobs.lease({ id: job.id, nodeId, until: this.#until(this.#o.timing.ackTimeoutMs) }))
    ) {
      return false;
    }
    return this.#sendOffer(
      { ...job, state: "leased", nodeId, attempts: job.attempts + 1 },
      nodeId,
      spec.data,
    );
  }

  /** Sends the offer of a job already leased to `nodeId`; gives it back if the socket is gone. */
  async #sendOffer(leased: TJobRow, nodeId: string, spec: TJobSpec): Promise<boolean> {
    // Build listeners must see the lease before the agent can answer (the ack would race the
    // "claimed" phase); instance jobs are latency-sensitive and nobody needs their lease first.
    const early = leased.kind === "build";
    if (early) await this.#emit({ type: "leased", job: leased, nodeId });
    const sent = this.#o.links.send(nodeId, {
      type: "job.offer",
      jobId: leased.id,
      leaseMs: this.#o.timing.leaseMs,
      ...spec,
    });
    if (!sent) {
      // The socket went away between listing and sending: give the job straight back.
      if (await this.#o.jobs.requeue({ id: leased.id, nodeId })) {
        await this.#emit({
          type: "requeued",
          job: leased,
          reason: `node ${nodeId} disconnected before the offer`,
        });
        await this.#o.notifier.publish("formation_jobs", nodeId);
      }
      return false;
    }
    if (!early) await this.#emit({ type: "leased", job: leased, nodeId });
    return true;
  }

  async #failExhausted(job: TJobRow): Promise<void> {
    const reason = `gave up after ${job.attempts} attempts: no agent finished the job within its lease`;
    if (await this.#o.jobs.finish({ id: job.id, nodeId: null, state: "failed", error: reason })) {
      await this.#emit({ type: "failed", job, reason });
    }
  }

  /** Loads a job and checks it is held by `nodeId`; null (and a reason) otherwise. */
  async #held(jobId: string, nodeId: string): Promise<TJobRow | null> {
    const job = await this.#o.jobs.find(jobId);
    if (!job || job.nodeId !== nodeId) return null;
    return job;
  }

  /** The agent accepted the offer. Returns false when the job is not leased to it. */
  async ack(nodeId: string, jobId: string): Promise<boolean> {
    const job = await this.#held(jobId, nodeId);
    if (!job) return false;
    if (job.state !== "leased" && job.state !== "running") return job.state === "done";
    await this.#o.jobs.touch({ id: jobId, nodeId, until: this.#until(this.#o.timing.leaseMs) });
    if (job.kind === "build" || job.kind === "boot") this.#o.scheduler.freed(nodeId);
    if (job.state === "leased")
      await this.#emit({ type: "running", job: { ...job, state: "running" }, nodeId });
    return true;
  }

  async decline(nodeId: string, jobId: string, reason: string): Promise<boolean> {
    const job = await this.#held(jobId, nodeId);
    if (!job) return false;
    this.#o.scheduler.declined(nodeId);
    if (await this.#o.jobs.requeue({ id: jobId, nodeId, refundAttempt: true })) {
      await this.#emit({ type: "requeued", job, reason: `declined by node ${nodeId}: ${reason}` });
      await this.#o.notifier.publish("formation_jobs", job.targeted ? nodeId : "*");
    }
    return true;
  }

  async progress(opts: { nodeId: string; jobId: string; phase: string; message?: string }): Promise<boolean> {
    const job = await this.#held(opts.jobId, opts.nodeId);
    if (!job) return false;
    const until = this.#until(this.#o.timing.leaseMs);
    if (!(await this.#o.jobs.touch({ id: opts.jobId, nodeId: opts.nodeId, until, phase: opts.phase })))
      return true;
    if (job.state === "leased") await this.#emit({ type: "running", job, nodeId: opts.nodeId });
    await this.#emit({
      type: "progress",
      job,
      phase: opts.phase,
      ...(opts.message === undefined ? {} : { message: opts.message }),
    });
    return true;
  }

  async log(opts: { nodeId: string; jobId: string; lines: string[] }): Promise<boolean> {
    const job = await this.#held(opts.jobId, opts.nodeId);
    if (!job) return false;
    const until = this.#until(this.#o.timing.leaseMs);
    if (!(await this.#o.jobs.touch({ id: opts.jobId, nodeId: opts.nodeId, until }))) return true;
    await this.#emit({ type: "log", job, lines: opts.lines });
    return true;
  }

  /** Extends leases of the jobs an agent lists in its heartbeat. */
  async heartbeat(nodeId: string, jobIds: string[]): Promise<void> {
    await this.#o.jobs.touchMany({ ids: jobIds, nodeId, until: this.#until(this.#o.timing.leaseMs) });
  }

  async complete(opts: { nodeId: string; jobId: string; result: TJobResult }): Promise<boolean> {
    const job = await this.#held(opts.jobId, opts.nodeId);
    if (!job) return false;
    if (opts.result.kind !== job.kind) return false;
    const done = await this.#o.jobs.finish({
      id: opts.jobId,
      nodeId: opts.nodeId,
      state: "done",
      result: JSON.stringify(opts.result),
    });
    // A duplicate completion (redelivery after a reconnect) is acknowledged but changes nothing.
    if (done) await this.#emit({ type: "completed", job, nodeId: opts.nodeId, result: opts.result });
    this.#freed(opts.nodeId, job.kind);
    return true;
  }

  /**
   * The agent reports the job failed. `interrupted`: it stopped mid-job (restart, shutdown), which
   * is not the job's own failure — the job is offered again while it has attempts left.
   */
  async fail(opts: {
    nodeId: string;
    jobId: string;
    reason: string;
    line?: number;
    interrupted?: boolean;
  }): Promise<boolean> {
    const job = await this.#held(opts.jobId, opts.nodeId);
    if (!job) return false;
    if (opts.interrupted && (job.state === "leased" || job.state === "running")) {
      await this.#retryElsewhere(job, opts.reason);
      this.#freed(opts.nodeId, job.kind);
      return true;
    }
    const failed = await this.#o.jobs.finish({
      id: opts.jobId,
      nodeId: opts.nodeId,
      state: "failed",
      error: opts.reason,
      ...(opts.line === undefined ? {} : { errorLine: opts.line }),
    });
    if (failed) {
      await this.#emit({
        type: "failed",
        job,
        reason: opts.reason,
        ...(opts.line === undefined ? {} : { line: opts.line }),
      });
    }
    this.#freed(opts.nodeId, job.kind);
    return true;
  }

  /** Cancels a job wherever it is; the agent holding it (on any console) gets `job.cancel`. */
  async cancel(jobId: string, reason: string): Promise<boolean> {
    const job = await this.#o.jobs.find(jobId);
    if (!job) return false;
    if (!(await this.#o.jobs.finish({ id: jobId, nodeId: null, state: "cancelled", error: reason })))
      return false;
    if (job.nodeId && (job.state === "leased" || job.state === "running")) {
      await this.#o.notifier.publish(
        "formation_cancel",
        JSON.stringify({ jobId, nodeId: job.nodeId, reason }),
      );
    }
    await this.#emit({ type: "cancelled", job, reason });
    return true;
  }

  /** Jobs by id (listings look up the job of each build they show). */
  find(ids: readonly string[]): Promise<TJobRow[]> {
    return this.#o.jobs.findMany(ids);
  }

  /** Open jobs of several instances (listings explain why replicas wait). */
  openJobsForInstances(instanceIds: readonly string[]): Promise<TJobRow[]> {
    return this.#o.jobs.openForInstances(instanceIds);
  }

  /** Jobs of an instance that are not final yet. */
  openJobsForInstance(instanceId: string): Promise<TJobRow[]> {
    return this.#o.jobs.openForInstance(instanceId);
  }

  /** The newest job of `kind` for an instance, in any state (finished ones until pruned). */
  latestJobForInstance(instanceId: string, kind: TJobKind): Promise<TJobRow | null> {
    return this.#o.jobs.latestForInstance(instanceId, kind);
  }

  /** Delivers a cancel notice to a locally connected agent (called for every `formation_cancel`). */
  deliverCancel(payload: string): void {
    try {
      const notice = JSON.parse(payload) as { jobId?: unknown; nodeId?: unknown; reason?: unknown };
      if (typeof notice.jobId !== "string" || typeof notice.nodeId !== "string") return;
      this.#o.links.send(notice.nodeId, {
        type: "job.cancel",
        jobId: notice.jobId,
        reason: typeof notice.reason === "string" ? notice.reason.slice(0, 500) : "cancelled",
      });
    } catch (error) {
      this.#o.log.warn({ err: error }, "ignoring malformed cancel notice");
    }
  }

  /** Requeues jobs whose lease lapsed; gives up after `maxAttempts`. */
  async sweepExpired(): Promise<number> {
    const expired = await this.#o.jobs.expiredLeases(this.#now(), 500);
    let requeued = 0;
    for (const job of expired) {
      const why = `lease on node ${job.nodeId} expired (${job.state === "leased" ? "no ack" : "agent silent"})`;
      if ((await this.#retryElsewhere(job, why, { publish: false })) === "requeued") requeued++;
    }
    if (requeued > 0) await this.#o.notifier.publish("formation_jobs", "*");
    return requeued;
  }

  /**
   * A job its node stopped working on (lease lapsed, agent restarted mid-job): queued again while
   * it has attempts left (the interrupted one counts), failed with `gave up after N attempts`
   * otherwise. `publish: false` leaves waking the dispatchers to the caller (one wake per sweep).
   */
  async #retryElsewhere(
    job: TJobRow,
    why: string,
    opts: { publish?: boolean } = {},
  ): Promise<"requeued" | "failed" | null> {
    if (job.attempts >= job.maxAttempts) {
      const reason = `gave up after ${job.attempts} attempts: ${why}`;
      if (!(await this.#o.jobs.finish({ id: job.id, nodeId: null, state: "failed", error: reason })))
        return null;
      await this.#emit({ type: "failed", job, reason });
      return "failed";
    }
    if (!(await this.#o.jobs.requeue({ id: job.id, nodeId: job.nodeId }))) return null;
    this.#o.log.info({ jobId: job.id, nodeId: job.nodeId }, `job queued again: ${why}`);
    await this.#emit({ type: "requeued", job, reason: why });
    if (opts.publish !== false) await this.#o.notifier.publish("formation_jobs", "*");
    return "requeued";
  }

  /** An agent's socket closed: offers it never acknowledged go straight back to the queue. */
  async disconnected(nodeId: string): Promise<void> {
    let any = false;
    for (const job of await this.#o.jobs.leasedUnackedOn(nodeId)) {
      if (await this.#o.jobs.requeue({ id: job.id, nodeId })) {
        any = true;
        await this.#emit({
          type: "requeued",
          job,
          reason: `node ${nodeId} disconnected before acknowledging`,
        });
      }
    }
    if (any) await this.#o.notifier.publish("formation_jobs", "*");
  }

  /**
   * Reconciles the jobs a (re)connecting agent says it holds: running ones it may keep are
   * re-leased to it; ones that were cancelled, finished or handed to another node are cancelled
   * on the agent. Returns the ids the agent was told to cancel.
   */
  async adopt(
    nodeId: string,
    held: { jobId: string; state: "running" | "completed" | "failed" }[],
  ): Promise<string[]> {
    const cancelled: string[] = [];
    // Jobs leased to this node that its agent does not hold: the process that took them is gone
    // (it died before recording them). They go back to the queue now, not when the lease lapses.
    const heldIds = new Set(held.map((h) => h.jobId));
    for (const job of await this.#o.jobs.activeOn(nodeId)) {
      if (!heldIds.has(job.id))
        await this.#retryElsewhere(job, `node ${nodeId} came back without the job (its agent restarted)`);
    }
    for (const h of held) {
      const job = await this.#o.jobs.find(h.jobId);
      if (h.state !== "running") continue; // the agent re-sends job.complete / job.fail itself
      const mine = job && (job.nodeId === nodeId || (job.state === "queued" && !job.targeted));
      const reclaimed =
        job &&
        mine &&
        (await this.#o.jobs.reclaim({ id: job.id, nodeId, until: this.#until(this.#o.timing.leaseMs) }));
      if (!reclaimed) {
        cancelled.push(h.jobId);
        this.#o.links.send(nodeId, {
          type: "job.cancel",
          jobId: h.jobId,
          reason: "job is no longer assigned to this node",
        });
      }
    }
    return cancelled;
  }
}
