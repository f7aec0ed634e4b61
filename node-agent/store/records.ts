import type { TEntityValue } from "@/core/statestore/entity-doc";

export { changedFields } from "@/core/statestore/changed-fields";

import { type TFormnetPeer, ZFormnetPeer } from "@/lib/protocol";

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
