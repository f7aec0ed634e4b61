import type { TControlLeaseRepository } from "@/server/db/repositories/formnet-repository";

/**
 * Named cluster-wide leases (one holder at a time across console replicas, until its TTL lapses):
 * the console modules that run a loop on one console only (the ingress health recorder, the ACME
 * renewals) take them here.
 */
export class ControlLeases {
  readonly #repo: TControlLeaseRepository;

  constructor(repo: TControlLeaseRepository) {
    this.#repo = repo;
  }

  /** Takes or extends the lease `name` for `holder`; false while another holder has it. */
  acquire(opts: { name: string; holder: string; now: Date; ttlMs: number }): Promise<boolean> {
    return this.#repo.acquire(opts);
  }

  release(opts: { name: string; holder: string }): Promise<void> {
    return this.#repo.release(opts);
  }
}
