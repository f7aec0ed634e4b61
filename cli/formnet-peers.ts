import type { TWireguardPeer } from "../lib/formnet/schemas";
import { wireguardPeersFrom } from "../lib/formnet/wireguard-peers";
import type { TFormnetPeer } from "../lib/protocol";

/**
 * The laptop's WireGuard peers from the console's `formnet.peers` list: nodes (and the console),
 * each with its own /32 plus the user's own instance VMs it hosts. Other users' laptops are never
 * peers of a laptop. The node's firewall still decides which VMs answer, since a laptop controls
 * its own configuration.
 */
export function laptopPeersFrom(options: {
  peers: readonly TFormnetPeer[];
  selfPublicKey: string;
  /** The user's own instances: each VM's /32 is routed to the node hosting it. */
  instances?: ReadonlyArray<{ nodeId: string; formnetIp: string | null }>;
}): TWireguardPeer[] {
  return wireguardPeersFrom({ ...options, skipUsers: true });
}
