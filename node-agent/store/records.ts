import type { TEntityValue } from "@/core/statestore/entity-doc";
import { type TFormnetPeer, ZFormnetPeer } from "@/lib/protocol";

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Fields of `wanted` that differ from `current` (an equal assignment would still be a change). */
export function changedFields(current: TEntityValue | undefined, wanted: TEntityValue): TEntityValue {
  const out: TEntityValue = {};
  for (const [field, value] of Object.entries(wanted)) {
    if (value !== undefined && stable(current?.[field]) !== stable(value)) out[field] = value;
  }
  return out;
}

/** The `formnet.peers` list from the store's console-signed `peers/*` entities. */
export function peersFromStore(entities: readonly { key: string; value: TEntityValue }[]): TFormnetPeer[] {
  const peers: TFormnetPeer[] = [];
  for (const { value } of entities) {
    if (value.released === true) continue;
    const parsed = ZFormnetPeer.safeParse({
      publicKey: value.publicKey,
      ip: value.ip,
      endpoints: Array.isArray(value.endpoints) ? value.endpoints : [],
      kind: value.kind,
      ref: value.ref,
    });
    if (parsed.success) peers.push(parsed.data);
  }
  return peers;
}
