import { FORMNET_KEEPALIVE_SECONDS, type TFormnetPeer as TWireguardPeer } from "@/lib/formnet/schemas";
import type { TFormnetPeer } from "@/lib/protocol";

/**
 * Turn the console's `formnet.peers` push into this node's WireGuard peer list: one peer per
 * public key (entries sharing a key — a node and VMs it fronts — merge their addresses), self
 * excluded, first advertised endpoint, keepalive for NAT.
 */
export function wireguardPeersFrom(options: {
  peers: readonly TFormnetPeer[];
  selfPublicKey: string;
}): TWireguardPeer[] {
  const byKey = new Map<string, { ips: Set<string>; endpoint: string | undefined }>();
  for (const peer of options.peers) {
    if (peer.publicKey === options.selfPublicKey) continue;
    const entry = byKey.get(peer.publicKey) ?? { ips: new Set<string>(), endpoint: undefined };
    entry.ips.add(`${peer.ip}/32`);
    entry.endpoint ??= peer.endpoints.find((e) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(e));
    byKey.set(peer.publicKey, entry);
  }
  return [...byKey.entries()]
    .map(([publicKey, entry]) => ({
      publicKey,
      ...(entry.endpoint === undefined ? {} : { endpoint: entry.endpoint }),
      allowedIps: [...entry.ips].sort(),
      persistentKeepalive: FORMNET_KEEPALIVE_SECONDS,
    }))
    .sort((a, b) => a.publicKey.localeCompare(b.publicKey));
}
