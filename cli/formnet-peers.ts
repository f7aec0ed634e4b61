import { FORMNET_KEEPALIVE_SECONDS, type TFormnetPeer as TWireguardPeer } from "../lib/formnet/schemas";
import type { TFormnetPeer } from "../lib/protocol";

const ENDPOINT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/**
 * The laptop's WireGuard peers from the console's `formnet.peers` list: nodes (and the console),
 * each with its own /32 plus the instance VMs it fronts (instance entries carry their node's key).
 * Other users' laptops are never peers of a laptop. The node's firewall still decides which VMs
 * answer, since a laptop controls its own configuration.
 */
export function laptopPeersFrom(options: {
  peers: readonly TFormnetPeer[];
  selfPublicKey: string;
  /** The user's own instances: each VM's /32 is routed to the node hosting it. */
  instances?: ReadonlyArray<{ nodeId: string; formnetIp: string | null }>;
}): TWireguardPeer[] {
  const byKey = new Map<string, { ips: Set<string>; endpoint: string | undefined }>();
  for (const peer of options.peers) {
    if (peer.publicKey === options.selfPublicKey || peer.kind === "user") continue;
    const entry = byKey.get(peer.publicKey) ?? { ips: new Set<string>(), endpoint: undefined };
    entry.ips.add(`${peer.ip}/32`);
    // The console lists VMs under their node's key only when the agent reported one; the laptop
    // knows its own instances' nodes, so it routes them itself (planPeersFor's rule for laptops).
    if (peer.kind === "node") {
      for (const vm of options.instances ?? []) {
        if (vm.nodeId === peer.ref && vm.formnetIp) entry.ips.add(`${vm.formnetIp}/32`);
      }
    }
    entry.endpoint ??= peer.endpoints.find((e) => ENDPOINT.test(e));
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
