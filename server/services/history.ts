import type { TInstancesRepository } from "@/server/db/repositories/instances-repository";
import type { TJobsRepository } from "@/server/db/repositories/jobs-repository";

export type THistoryPrunerOptions = {
  jobs: Pick<TJobsRepository, "pruneFinished">;
  instances: Pick<TInstancesRepository, "pruneDeleted">;
  /** FORMATION_HISTORY_RETENTION_MS. */
  retentionMs: number;
  now?: () => Date;
};

/**
 * Keeps the control plane's tables bounded (issue #21's soak): finished jobs and deleted replicas
 * older than the retention go. Builds, their logs and the audit log are the owners' record and
 * stay; metrics have their own, shorter retention (NodeService.pruneMetrics).
 */
export class HistoryPruner {
  readonly #o: THistoryPrunerOptions;

  constructor(options: THistoryPrunerOptions) {
    this.#o = options;
  }

  async prune(): Promise<{ jobs: number; instances: number }> {
    const before = new Date((this.#o.now?.() ?? new Date()).getTime() - this.#o.retentionMs);
    return {
      jobs: await this.#o.jobs.pruneFinished(before),
      instances: await this.#o.instances.pruneDeleted(before),
    };
  }
}
