import type { TJobKind } from "@/lib/protocol";
import { HEAVY_KINDS } from "./dispatch";

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

/**
 * Nodes that declined a heavy job are not offered heavy jobs again until a back-off ends: 1 s after
 * the first decline, doubling up to 30 s while they keep declining. A node that accepts a heavy job
 * or finishes any job (capacity freed) is offered work at once again. In memory: each console
 * replica backs off the agents whose sockets it holds.
 */
export class DeclineBackoff {
  readonly #now: () => number;
  readonly #nodes = new Map<string, { until: number; delayMs: number }>();

  constructor(now: () => number) {
    this.#now = now;
  }

  declined(nodeId: string): void {
    const previous = this.#nodes.get(nodeId);
    const delayMs = previous ? Math.min(previous.delayMs * 2, MAX_BACKOFF_MS) : FIRST_BACKOFF_MS;
    this.#nodes.set(nodeId, { until: this.#now() + delayMs, delayMs });
  }

  /** The node took or finished work: its back-off is over. */
  cleared(nodeId: string): void {
    this.#nodes.delete(nodeId);
  }

  /** True when a job of `kind` should not be offered to `nodeId` now. */
  holds(nodeId: string, kind: TJobKind): boolean {
    if (!HEAVY_KINDS.has(kind)) return false;
    const entry = this.#nodes.get(nodeId);
    return entry !== undefined && entry.until > this.#now();
  }
}
