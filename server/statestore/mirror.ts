import type { Logger } from "pino";
import type { StateStore, TChangeEvent } from "@/core/statestore/store";
import { ZInstanceStatus, ZMetrics } from "@/lib/protocol";
import { parseEntityKey } from "@/lib/statestore/entities";
import type { TStateStoreRepository } from "@/server/db/repositories/statestore-repository";
import type { Reconciler } from "@/server/services/deployments/reconciler";

/**
 * Mirrors what agents write into the store back into the database: a node's heartbeat time and
 * metrics (`nodes/<operator>`), and the status hosts report for their instances
 * (`instances/<id>.status`, through the reconciler so adoption and redeploy rules still apply).
 * Changes are mirrored when they reach this console, including those written while it was down
 * and delivered by the catch-up sync. Work is coalesced per entity and runs one at a time.
 */
export class StoreMirror {
  readonly #store: StateStore;
  readonly #repo: TStateStoreRepository;
  readonly #log: Logger;
  readonly #reconciler: () => Reconciler | undefined;
  readonly #dirty = new Map<string, string>();
  #running: Promise<void> | undefined;
  #closed = false;
  mirrored = 0;

  constructor(opts: {
    store: StateStore;
    repo: TStateStoreRepository;
    log: Logger;
    reconciler: () => Reconciler | undefined;
  }) {
    this.#store = opts.store;
    this.#repo = opts.repo;
    this.#log = opts.log;
    this.#reconciler = opts.reconciler;
  }

  /** Store `change` listener: remote changes by someone other than the console are mirrored. */
  onChange(event: TChangeEvent): void {
    if (event.local || event.signer === this.#store.address) return;
    const ref = parseEntityKey(event.key);
    if (!ref || (ref.kind !== "nodes" && ref.kind !== "instances")) return;
    this.#dirty.set(event.key, event.signer);
    this.#kick();
  }

  /** Mirrors every node record once (on start: changes logged before this process began). */
  mirrorAllNodes(): void {
    for (const { key } of this.#store.list("nodes")) {
      const id = parseEntityKey(key)?.id;
      if (id) this.#dirty.set(key, id);
    }
    this.#kick();
  }

  /** Resolves once everything queued so far is mirrored. */
  async idle(): Promise<void> {
    for (let run = this.#running; run !== undefined; run = this.#running) await run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.idle();
  }

  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = (async () => {
      while (this.#dirty.size > 0 && !this.#closed) {
        const [key, signer] = this.#dirty.entries().next().value as [string, string];
        this.#dirty.delete(key);
        try {
          await this.#mirror(key, signer);
        } catch (error) {
          this.#log.error({ err: error, key }, "cannot mirror a state-store change into the database");
        }
      }
    })().finally(() => {
      this.#running = undefined;
    });
  }

  async #mirror(key: string, signer: string): Promise<void> {
    const ref = parseEntityKey(key);
    const value = this.#store.get(key);
    if (!ref || !value) return;
    if (ref.kind === "nodes") {
      if (typeof value.heartbeat === "number" && Number.isFinite(value.heartbeat)) {
        // The agent's clock: never in the future of ours.
        const at = new Date(Math.min(value.heartbeat, Date.now()));
        const touched = await this.#repo.heartbeatSeen({ operator: ref.id, at });
        const metrics = ZMetrics.safeParse(value.metrics);
        if (touched > 0 && metrics.success)
          await this.#repo.metricsSeen({ operator: ref.id, metrics: metrics.data, at });
        if (touched > 0) this.mirrored += 1;
      }
      return;
    }
    const status = ZInstanceStatus.safeParse(value.status);
    if (!status.success) return;
    const row = await this.#repo.instance(ref.id);
    if (!row || row.status === status.data) return;
    const node = await this.#repo.node(row.nodeId);
    // Only the host's word counts (the store already checked it was the host as of its deps).
    if (!node || node.operator.toLowerCase() !== signer) return;
    const reconciler = this.#reconciler();
    if (!reconciler) return;
    await reconciler.report(row.nodeId, { instanceId: row.id, status: status.data });
    this.mirrored += 1;
  }
}
