import type { TEntityKind } from "../../lib/statestore/entities";
import { sha256Hex } from "./digest";
import type { EntityDoc, TEntityValue } from "./entity-doc";
import type { TEnvelope } from "./envelope";
import type { THeadsMessage } from "./wire";

export type THistoryEntry = {
  hash: string;
  signer: string;
  time: number;
  deps: readonly string[];
  actor: string;
  seq: number;
};
type TDocs = ReadonlyMap<string, EntityDoc>;

// Documents are created before their first change is accepted; only non-empty ones exist for readers.
function live(docs: TDocs, prefix = ""): EntityDoc[] {
  return [...docs.values()]
    .filter((e) => e.order.length > 0 && e.key.startsWith(prefix))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
}

export function listEntities(docs: TDocs, kind?: TEntityKind): { key: string; value: TEntityValue }[] {
  return live(docs, kind ? `${kind}/` : "").map((e) => ({ key: e.key, value: e.value() }));
}

export function historyOf(entity: EntityDoc | undefined): THistoryEntry[] {
  if (!entity) return [];
  return entity.order.flatMap((hash) => {
    const r = entity.changes.get(hash);
    return r
      ? [{ hash, signer: r.envelope.signer, time: r.time, deps: r.deps, actor: r.actor, seq: r.seq }]
      : [];
  });
}

/** Digest of the materialized state: equal on two replicas iff they show the same entities. */
export function stateDigest(docs: TDocs): string {
  return sha256Hex(
    `[${live(docs)
      .map((e) => `[${JSON.stringify(e.key)},${e.canonical()}]`)
      .join(",")}]`,
  );
}

/** Digest of every document's heads (the handshake's cheap "are we in sync" check). */
export function headsDigest(docs: TDocs): string {
  return sha256Hex(
    live(docs)
      .map((e) => `${e.key}:${e.heads().sort().join(",")}`)
      .join("\n"),
  );
}

export function headsMessage(docs: TDocs, keys?: readonly string[]): THeadsMessage {
  const entities = keys ? keys.flatMap((k) => docs.get(k) ?? []) : [...docs.values()];
  return {
    t: "heads",
    full: keys === undefined,
    docs: entities.filter((e) => e.order.length > 0).map((e) => ({ key: e.key, heads: e.heads() })),
  };
}

/** Envelopes the sender of `msg` lacks, in an order that respects deps. */
export function missingFor(docs: TDocs, msg: THeadsMessage): TEnvelope[] {
  const theirs = new Map(msg.docs.map((d) => [d.key, d.heads]));
  const keys = msg.full ? [...docs.keys()] : msg.docs.map((d) => d.key);
  return keys.flatMap((key) => docs.get(key)?.missingFor(theirs.get(key) ?? []) ?? []);
}
