import * as Automerge from "@automerge/automerge";
import { canonicalJson } from "./digest";
import type { TEnvelope, TVerifiedChange } from "./envelope";
import { ObjectRoots } from "./touched";

export type TEntityValue = Record<string, unknown>;

/** What the store remembers of each accepted change (served to peers and to `history`). */
export type TChangeRecord = {
  envelope: TEnvelope;
  deps: readonly string[];
  actor: string;
  seq: number;
  /** Writer's clock in seconds since the epoch, as recorded in the change (not trusted for ordering). */
  time: number;
};

/**
 * One entity: its Automerge document plus the index of accepted signed changes (the hash DAG).
 * Changes enter only after their deps, so `order` is a topological order of the DAG.
 */
export class EntityDoc {
  #doc: Automerge.Doc<TEntityValue>;
  // Accepted changes not yet given to Automerge: applying a batch costs a fraction of applying
  // each change on its own, so application waits until someone reads the document.
  #unapplied: Uint8Array[] = [];
  // Canonical JSON of the value, cached because replicas are polled for digests far more often
  // than a given entity changes.
  #canonical: string | undefined;
  readonly changes = new Map<string, TChangeRecord>();
  readonly order: string[] = [];
  readonly roots = new ObjectRoots();
  readonly #slots = new Map<string, string>();
  readonly #actor: string;

  constructor(key: string, actor: string, saved?: Uint8Array) {
    this.key = key;
    this.#actor = actor;
    this.#doc = saved ? Automerge.load(saved, { actor }) : Automerge.init({ actor });
  }

  /** The Automerge document with every accepted change applied. */
  get doc(): Automerge.Doc<TEntityValue> {
    if (this.#unapplied.length > 0) {
      const batch = this.#unapplied;
      this.#unapplied = [];
      [this.#doc] = Automerge.applyChanges(this.#doc, batch);
    }
    return this.#doc;
  }

  set doc(doc: Automerge.Doc<TEntityValue>) {
    this.#unapplied = [];
    this.#canonical = undefined;
    this.#doc = doc;
  }

  readonly key: string;

  has(hash: string): boolean {
    return this.changes.has(hash);
  }

  heads(): string[] {
    return Automerge.getHeads(this.doc);
  }

  /** Hash already accepted for this (actor, seq), if any: a different hash there is equivocation. */
  slot(actor: string, seq: number): string | undefined {
    return this.#slots.get(`${actor}:${seq}`);
  }

  /** Indexes a verified, authorized change; `apply` false when the document already contains it (snapshot). */
  record(change: TVerifiedChange, created: ReadonlyMap<string, string>, apply: boolean): void {
    if (apply) this.#unapplied.push(change.bytes);
    this.#canonical = undefined;
    const { decoded } = change;
    this.changes.set(decoded.hash, {
      envelope: change.envelope,
      deps: decoded.deps,
      actor: decoded.actor,
      seq: decoded.seq,
      time: decoded.time,
    });
    this.order.push(decoded.hash);
    this.#slots.set(`${decoded.actor}:${decoded.seq}`, decoded.hash);
    this.roots.commit(created);
  }

  /** The document as of `heads` (the change's causal past); the live doc when nothing is concurrent. */
  viewAt(heads: readonly string[]): TEntityValue {
    const current = this.heads();
    if (current.length === heads.length && current.every((h) => heads.includes(h))) return this.doc;
    return Automerge.view(this.doc, [...heads]);
  }

  /** Envelopes of accepted changes that are not ancestors of `theirHeads` (what the peer lacks). */
  missingFor(theirHeads: readonly string[]): TEnvelope[] {
    const known = new Set<string>();
    const stack = theirHeads.filter((h) => this.changes.has(h));
    while (stack.length > 0) {
      const hash = stack.pop() as string;
      if (known.has(hash)) continue;
      known.add(hash);
      for (const dep of this.changes.get(hash)?.deps ?? []) if (!known.has(dep)) stack.push(dep);
    }
    const out: TEnvelope[] = [];
    for (const hash of this.order) {
      const record = this.changes.get(hash);
      if (record && !known.has(hash)) out.push(record.envelope);
    }
    return out;
  }

  /** Replaces the envelope of a recorded local change once the batch is signed. */
  setEnvelope(envelope: TEnvelope): void {
    const record = this.changes.get(envelope.hash);
    if (!record) throw new Error(`${this.key} has no change ${envelope.hash} to sign`);
    record.envelope = envelope;
  }

  /** Drops a local change that was recorded but never committed (a refused batch). */
  forget(hash: string): void {
    const record = this.changes.get(hash);
    if (!record) return;
    this.changes.delete(hash);
    this.order.splice(this.order.indexOf(hash), 1);
    this.#slots.delete(`${record.actor}:${record.seq}`);
  }

  /** Rebuilds the document from accepted changes, discarding a local change that was refused. */
  rebuild(): void {
    const bytes = this.order.map((h) => {
      const record = this.changes.get(h);
      if (!record) throw new Error(`index of ${this.key} lost change ${h}`);
      return new Uint8Array(Buffer.from(record.envelope.change, "base64"));
    });
    this.doc = Automerge.applyChanges(Automerge.init<TEntityValue>({ actor: this.#actor }), bytes)[0];
  }

  value(): TEntityValue {
    return Automerge.toJS(this.doc);
  }

  /** Canonical JSON of the value (sorted keys), for digests. */
  canonical(): string {
    this.#canonical ??= canonicalJson(this.value());
    return this.#canonical;
  }
}
