import { type Authorizer, authorizeWrite, type TAuthorizeResult } from "../../lib/statestore/authorize";
import type { EntityDoc } from "./entity-doc";
import type { TVerifiedChange } from "./envelope";

export type TCheckResult = TAuthorizeResult & { created: Map<string, string> };

/**
 * Everything a replica checks about a verified change whose deps are present: admitted signer,
 * one change per (actor, seq), no seq gaps, known objects, and the authorization rules. Depends
 * only on the change and its causal past, so all replicas decide alike.
 */
export function checkChange(opts: {
  entity: EntityDoc;
  change: TVerifiedChange;
  authorizer: Authorizer;
}): TCheckResult {
  const { entity, change } = opts;
  const { envelope, decoded } = change;
  const created = new Map<string, string>();
  const roles = opts.authorizer.rolesOf(envelope.signer);
  if (roles.length === 0) {
    return { ok: false, code: "unknown-signer", detail: `${envelope.signer} is not admitted`, created };
  }
  const slot = entity.slot(decoded.actor, decoded.seq);
  if (slot !== undefined && slot !== decoded.hash) {
    return {
      ok: false,
      code: "equivocation",
      detail: `${decoded.actor}#${decoded.seq} already is ${slot}`,
      created,
    };
  }
  // An actor's changes form a chain (each session writes sequentially), so a gap is forged.
  if (decoded.seq > 1 && entity.slot(decoded.actor, decoded.seq - 1) === undefined) {
    return {
      ok: false,
      code: "bad-seq",
      detail: `${decoded.actor}#${decoded.seq} without #${decoded.seq - 1}`,
      created,
    };
  }
  const touched = entity.roots.touched(decoded);
  if (!touched.ok) return { ok: false, code: "unknown-object", detail: touched.detail, created };
  const hostOf = () => {
    const node = entity.viewAt(decoded.deps).node;
    return typeof node === "string" ? node : undefined;
  };
  const verdict = authorizeWrite({
    key: envelope.key,
    signer: envelope.signer,
    roles,
    touched: touched.fields,
    hostOf,
  });
  return { ...verdict, created: touched.created };
}

/**
 * Verified changes waiting for their deps, bounded: past `max` the oldest is dropped (it comes
 * back with the next heads exchange), so a peer cannot grow memory without limit.
 */
export class PendingChanges<T extends { change: TVerifiedChange }> {
  readonly #max: number;
  readonly #held = new Map<string, T>();
  readonly #waiting = new Map<string, Set<string>>();
  dropped = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#held.size;
  }

  has(hash: string): boolean {
    return this.#held.has(hash);
  }

  hold(item: T, missing: readonly string[]): void {
    if (this.#held.size >= this.#max) {
      const oldest = this.#held.keys().next().value;
      if (oldest !== undefined) this.#held.delete(oldest);
      this.dropped += 1;
    }
    const hash = item.change.decoded.hash;
    this.#held.set(hash, item);
    for (const dep of missing) {
      const set = this.#waiting.get(dep) ?? new Set<string>();
      set.add(hash);
      this.#waiting.set(dep, set);
    }
  }

  /** Held changes unblocked by the arrival of `hash` (all their deps now `present`). */
  release(hash: string, present: (dep: string) => boolean): T[] {
    const ready: T[] = [];
    for (const waiter of this.#waiting.get(hash) ?? []) {
      const item = this.#held.get(waiter);
      if (item?.change.decoded.deps.every(present)) {
        this.#held.delete(waiter);
        ready.push(item);
      }
    }
    this.#waiting.delete(hash);
    return ready;
  }
}
