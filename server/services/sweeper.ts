import type { Logger } from "@/core/log";
import type { TControlLeaseRepository } from "@/server/db/repositories/formnet-repository";
import type { BuildService } from "./builds/build-service";
import type { Reconciler } from "./deployments/reconciler";
import type { HistoryPruner } from "./history";
import type { JobService } from "./jobs/job-service";
import type { NodeService } from "./nodes/node-service";

export type TSweeperOptions = {
  consoleId: string;
  leases: TControlLeaseRepository;
  jobs: JobService;
  nodes: NodeService;
  builds: BuildService;
  reconciler: Reconciler;
  history: HistoryPruner;
  timing: { sweepIntervalMs: number; bootTimeoutMs: number };
  log: Logger;
};

/**
 * The control plane's periodic work, one round per `sweepIntervalMs`. Every console flushes its
 * buffered heartbeats and offers queued work to its own agents; the cluster-wide loops (expired
 * leases, offline nodes, phase and boot deadlines, reconcile, metrics and history pruning) run only on the
 * console holding the `sweeper` ControlLease, so several replicas on one database do them once.
 */
export class Sweeper {
  readonly #o: TSweeperOptions;
  #timer: NodeJS.Timeout | null = null;
  #ticks = 0;
  #ticking = false;
  #tickRun: Promise<void> = Promise.resolve();

  constructor(options: TSweeperOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#tickRun = this.tick().catch((error: unknown) =>
        this.#o.log.error({ err: error }, "control plane tick failed"),
      );
    }, this.#o.timing.sweepIntervalMs);
  }

  /** Stops the loop and lets a round in flight finish (before the database goes away under it). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#tickRun;
  }

  /** After the agents' sockets closed: writes their last heartbeats and hands the lease back. */
  async release(): Promise<void> {
    await this.#safe("flush", () => this.#o.nodes.flush());
    await this.#o.leases.release({ name: "sweeper", holder: this.#o.consoleId });
  }

  /** One round of periodic work (exposed for tests and benchmarks). */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      this.#ticks++;
      const { jobs, nodes, builds, reconciler } = this.#o;
      await this.#safe("heartbeat flush", () => nodes.flush());
      const leader = await this.#o.leases.acquire({
        name: "sweeper",
        holder: this.#o.consoleId,
        now: new Date(),
        ttlMs: Math.max(3 * this.#o.timing.sweepIntervalMs, 3000),
      });
      if (leader) {
        await this.#safe("lease sweep", () => jobs.sweepExpired());
        await this.#safe("offline sweep", async () => {
          for (const node of await nodes.sweepOffline()) await reconciler.nodeOffline(node);
        });
        await this.#safe("deadline sweep", () => builds.sweepDeadlines());
        await this.#safe("boot deadline sweep", () =>
          reconciler.sweepBootDeadlines(this.#o.timing.bootTimeoutMs),
        );
        if (this.#ticks % 5 === 0) await this.#safe("reconcile", () => reconciler.reconcileAll());
        if (this.#ticks % 60 === 0) {
          await this.#safe("metrics prune", () => nodes.pruneMetrics());
          await this.#safe("history prune", () => this.#o.history.prune());
        }
      }
      if (this.#ticks % 2 === 0) await this.#safe("dispatch", () => jobs.dispatch());
    } finally {
      this.#ticking = false;
    }
  }

  async #safe(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.#o.log.error({ err: error }, `control plane ${what} failed`);
    }
  }
}
