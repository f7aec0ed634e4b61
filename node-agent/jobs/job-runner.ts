import type { Logger } from "@/core/log";
import type { TJobKind, TJobResult, TJobSpec } from "@/lib/protocol";
import { describeFailure } from "./job-error";
import type { JobStore, TJobRecord } from "./job-store";
import { LogBatcher } from "./log-batcher";
import type { TJobContext, TJobExecutors, TJobOffer, TMessageSink } from "./types";

/** Kinds that occupy CPU/disk for minutes; the others are quick VM lifecycle calls. */
const HEAVY_KINDS: ReadonlySet<TJobKind> = new Set(["build", "boot"]);

export interface TJobRunnerOptions {
  store: JobStore;
  executors: TJobExecutors;
  sink: TMessageSink;
  logger: Logger;
  /** Concurrent build/boot jobs; lifecycle jobs (stop/start/…) are never held back by them. */
  maxConcurrent: number;
  now?: () => Date;
}

interface TActiveJob {
  controller: AbortController;
  batcher: LogBatcher;
  done: Promise<void>;
  /** Why the job was aborted, if it was. */
  abort?: { kind: "cancel" | "shutdown"; reason: string };
}

export type THelloJobState = "running" | "completed" | "failed";

/**
 * Runs offered jobs: accepts or declines, persists state, dispatches to executors, streams progress
 * and logs, and reports the outcome exactly once per connection. Offers are idempotent by job id:
 * a re-offer of a running job is acknowledged again, a re-offer of a finished job gets its stored
 * outcome again; only jobs interrupted by an agent restart run a second time.
 */
export class JobRunner {
  readonly #store: JobStore;
  readonly #executors: TJobExecutors;
  readonly #sink: TMessageSink;
  readonly #logger: Logger;
  readonly #maxConcurrent: number;
  readonly #now: () => Date;
  readonly #active = new Map<string, TActiveJob>();
  #draining = false;

  constructor(options: TJobRunnerOptions) {
    this.#store = options.store;
    this.#executors = options.executors;
    this.#sink = options.sink;
    this.#logger = options.logger;
    this.#maxConcurrent = options.maxConcurrent;
    this.#now = options.now ?? (() => new Date());
  }

  /** Load persisted jobs. Jobs that were running when the previous process died are interrupted. */
  async init(): Promise<void> {
    const { corrupt } = await this.#store.load(this.#now().getTime());
    if (corrupt.length > 0) this.#logger.warn({ files: corrupt }, "moved unreadable job records aside");
    for (const record of this.#store.all()) {
      if (record.state !== "running") continue;
      this.#logger.warn(
        { jobId: record.jobId, kind: record.spec.kind },
        "job was interrupted by an agent restart",
      );
      await this.#store.put({
        ...record,
        state: "interrupted",
        failure: { reason: `interrupted: the node agent restarted during phase ${record.phase ?? "start"}` },
        reported: false,
        updatedAt: this.#now().toISOString(),
      });
    }
  }

  /** Jobs for `hello`: the ones still running and the outcomes the console has not seen yet. */
  helloJobs(): { jobId: string; state: THelloJobState }[] {
    return this.#store
      .all()
      .filter((r) => r.state === "running" || !r.reported)
      .map((r) => ({
        jobId: r.jobId,
        state: r.state === "running" ? "running" : r.state === "completed" ? "completed" : "failed",
      }));
  }

  /** Ids of running jobs, sent in heartbeats so the console extends their leases. */
  activeJobIds(): string[] {
    return [...this.#active.keys()];
  }

  /** Running jobs and unreported outcomes, for the status file. */
  snapshot(): { jobId: string; kind: string; state: string; phase?: string }[] {
    return this.#store
      .all()
      .filter((r) => r.state === "running" || !r.reported)
      .map((r) => ({
        jobId: r.jobId,
        kind: r.spec.kind,
        state: r.state,
        ...(r.phase === undefined ? {} : { phase: r.phase }),
      }));
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** After `welcome`: deliver outcomes that finished while no console was listening. */
  async resendUnreported(): Promise<void> {
    for (const record of this.#store.all()) {
      if (record.state !== "running" && !record.reported) await this.#reportOutcome(record);
    }
  }

  offer(offer: TJobOffer): void {
    const { type: _type, jobId: _jobId, leaseMs: _leaseMs, ...rest } = offer;
    const spec: TJobSpec = rest;
    const log = this.#logger.child({ jobId: offer.jobId, kind: offer.kind });
    const existing = this.#store.get(offer.jobId);
    if (existing && existing.state !== "interrupted") {
      log.info({ state: existing.state }, "duplicate offer: answering from the job record");
      this.#sink.send({ type: "job.ack", jobId: offer.jobId });
      if (existing.state !== "running") void this.#reportOutcome(existing);
      return;
    }
    if (this.#draining) {
      this.#sink.send({ type: "job.decline", jobId: offer.jobId, reason: "the node agent is shutting down" });
      return;
    }
    if (HEAVY_KINDS.has(offer.kind) && this.#heavyCount() >= this.#maxConcurrent) {
      const reason = `busy: ${this.#maxConcurrent} build/boot job(s) already running`;
      log.info(reason);
      this.#sink.send({ type: "job.decline", jobId: offer.jobId, reason });
      return;
    }
    this.#start(offer.jobId, spec, log);
  }

  cancel(jobId: string, reason: string): boolean {
    const active = this.#active.get(jobId);
    if (!active) return false;
    active.abort = { kind: "cancel", reason };
    active.controller.abort(new Error(`cancelled: ${reason}`));
    return true;
  }

  /**
   * Graceful stop: decline new offers, give running jobs `graceMs` to finish, then abort the rest
   * (their child processes are killed through the signal) and wait for them to unwind.
   */
  async drain(graceMs: number): Promise<void> {
    this.#draining = true;
    if (this.#active.size === 0) return this.#store.flushed();
    const all = () => Promise.allSettled([...this.#active.values()].map((a) => a.done));
    await raceTimeout(all(), graceMs);
    for (const [jobId, active] of this.#active) {
      this.#logger.warn({ jobId }, "aborting job for shutdown");
      active.abort = { kind: "shutdown", reason: "the node agent is shutting down" };
      active.controller.abort(new Error("agent shutdown"));
    }
    await all();
    await this.#store.flushed();
  }

  #heavyCount(): number {
    let count = 0;
    for (const jobId of this.#active.keys()) {
      const kind = this.#store.get(jobId)?.spec.kind;
      if (kind && HEAVY_KINDS.has(kind)) count += 1;
    }
    return count;
  }

  #start(jobId: string, spec: TJobSpec, logger: Logger): void {
    const now = this.#now().toISOString();
    const record: TJobRecord = {
      jobId,
      spec,
      state: "running",
      reported: false,
      acceptedAt: now,
      updatedAt: now,
    };
    const controller = new AbortController();
    const batcher = new LogBatcher({ flush: (lines) => this.#sink.send({ type: "job.log", jobId, lines }) });
    const active: TActiveJob = { controller, batcher, done: Promise.resolve() };
    this.#active.set(jobId, active);
    active.done = this.#run({ record, active, logger }).finally(() => this.#active.delete(jobId));
  }

  async #run(options: { record: TJobRecord; active: TActiveJob; logger: Logger }): Promise<void> {
    const { active, logger } = options;
    let record = options.record;
    await this.#store.put(record);
    this.#sink.send({ type: "job.ack", jobId: record.jobId });
    logger.info("job accepted");
    const ctx = this.#context(record, active, logger);
    let outcome: Pick<TJobRecord, "state" | "result" | "failure">;
    try {
      const result = await this.#dispatch(ctx, record.spec);
      outcome = { state: "completed", result };
      logger.info({ result }, "job completed");
    } catch (error) {
      const failure = active.abort ? { reason: active.abort.reason } : describeFailure(error);
      const state = active.abort?.kind === "cancel" ? "cancelled" : active.abort ? "interrupted" : "failed";
      outcome = { state, failure };
      logger.warn({ state, reason: failure.reason, err: error }, "job did not complete");
    }
    active.batcher.flush();
    record = { ...record, ...outcome, reported: false, updatedAt: this.#now().toISOString() };
    await this.#store.put(record);
    await this.#reportOutcome(record);
  }

  #context(record: TJobRecord, active: TActiveJob, logger: Logger): TJobContext {
    const jobId = record.jobId;
    return {
      jobId,
      signal: active.controller.signal,
      logger,
      progress: (phase, message) => {
        logger.info({ phase, message }, "job progress");
        this.#sink.send({
          type: "job.progress",
          jobId,
          phase,
          ...(message === undefined ? {} : { message }),
        });
        const current = this.#store.get(jobId);
        if (current?.state === "running") {
          this.#store
            .put({ ...current, phase, updatedAt: this.#now().toISOString() })
            .catch((error: unknown) => {
              logger.error({ err: error }, "cannot persist job phase");
            });
        }
      },
      log: (line) => active.batcher.push(line),
      instanceStatus: (report) => {
        this.#sink.send({ type: "instance.status", ...report });
      },
    };
  }

  #dispatch(ctx: TJobContext, spec: TJobSpec): Promise<TJobResult> {
    switch (spec.kind) {
      case "build":
        return this.#executors.build(ctx, spec.payload);
      case "boot":
        return this.#executors.boot(ctx, spec.payload);
      case "stop":
        return this.#executors.stop(ctx, spec.payload);
      case "start":
        return this.#executors.start(ctx, spec.payload);
      case "restart":
        return this.#executors.restart(ctx, spec.payload);
      case "delete":
        return this.#executors.delete(ctx, spec.payload);
      case "prefetch":
        return this.#executors.prefetch(ctx, spec.payload);
    }
  }

  async #reportOutcome(record: TJobRecord): Promise<void> {
    const sent =
      record.state === "completed" && record.result
        ? this.#sink.send({ type: "job.complete", jobId: record.jobId, result: record.result })
        : this.#sink.send({
            type: "job.fail",
            jobId: record.jobId,
            reason: record.failure?.reason ?? `job ended in state ${record.state}`,
            ...(record.failure?.line === undefined ? {} : { line: record.failure.line }),
            ...(record.state === "interrupted" ? { interrupted: true as const } : {}),
          });
    if (sent && !record.reported) await this.#store.put({ ...record, reported: true });
  }
}

async function raceTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
