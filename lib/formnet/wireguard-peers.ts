import type { TFormnetPeer } from "../protocol";
import { FORMNET_KEEPALIVE_SECONDS, isEndpoint, type TWireguardPeer } from "./schemas";

/**
 * A member's WireGuard peers from the console's `formnet.peers` list: one peer per public key
 * (entries sharing a key — a node and the VMs it fronts — merge their /32s), self excluded, the first
 * well-formed advertised endpoint, keepalive for NAT. Laptops pass `skipUsers` (other users' laptops
 * are never their peers) and their own `instances`, whose /32s they route to the hosting node.
 */
export function wireguardPeersFrom(options: {
  peers: readonly TFormnetPeer[];
  selfPublicKey: string;
  skipUsers?: boolean;
  instances?: ReadonlyArray<{ nodeId: string; formnetIp: string | null }>;
}): TWireguardPeer[] {
  const byKey = new Map<string, { ips: Set<string>; endpoint: string | undefined }>();
  for (const peer of options.peers) {
    if (peer.publicKey === options.selfPublicKey || (options.skipUsers && peer.kind === "user")) continue;
    const entry = byKey.get(peer.publicKey) ?? { ips: new Set<string>(), endpoint: undefined };
    entry.ips.add(`${peer.ip}/32`);
    if (peer.kind === "node") {
      for (const vm of options.instances ?? []) {
        if (vm.nodeId === peer.ref && vm.formnetIp) entry.ips.add(`${vm.formnetIp}/32`);
      }
    }
    entry.endpoint ??= peer.endpoints.find(isEndpoint);
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
