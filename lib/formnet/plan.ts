import { hostCidr } from "./cidr";
import { chooseEndpoint } from "./endpoint";
import {
  FORMNET_KEEPALIVE_SECONDS,
  type TFormnetInstance,
  type TFormnetMember,
  type TFormnetPeer,
} from "./schemas";

export type TPlanPeersOptions = {
  /** The member whose interface is being configured. */
  viewer: TFormnetMember;
  /** All WireGuard-running members of the network (the viewer may be among them). */
  members: readonly TFormnetMember[];
  /** All instance VMs with a formnet address. */
  instances: readonly TFormnetInstance[];
  persistentKeepalive?: number;
};

function sameOwner(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}

function sortedIps(ips: string[]): string[] {
  return [...new Set(ips)].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

/**
 * The peer list of one member's WireGuard interface — the first layer of the reachability model:
 * - a node or the console sees every node with its own /32 plus all VMs it hosts, the console's
 *   /32 and every laptop's /32 (so replies to laptops are routed back);
 * - a user's laptop sees the console's /32 and every node with the node's /32 plus only the VMs that
 *   user owns on it; other users' laptops are not peers at all.
 * The node's host firewall (`applyInstanceAccess`) is the second layer, since a laptop controls its
 * own configuration.
 */
export function planPeersFor(options: TPlanPeersOptions): TFormnetPeer[] {
  const { viewer } = options;
  const keepalive = options.persistentKeepalive ?? FORMNET_KEEPALIVE_SECONDS;
  const peers: TFormnetPeer[] = [];
  for (const member of options.members) {
    if (member.publicKey === viewer.publicKey || member.id === viewer.id) continue;
    let allowed: string[];
    if (member.role === "node") {
      const vms = options.instances.filter(
        (vm) => vm.nodeId === member.id && (viewer.role !== "user" || sameOwner(viewer.owner, vm.owner)),
      );
      allowed = [hostCidr(member.address), ...vms.map((vm) => hostCidr(vm.address))];
    } else if (member.role === "console") {
      allowed = [hostCidr(member.address)];
    } else {
      // Laptops are peers of nodes and of the console only.
      if (viewer.role === "user") continue;
      allowed = [hostCidr(member.address)];
    }
    const endpoint = chooseEndpoint({ viewer: viewer.endpoints, peer: member.endpoints });
    peers.push({
      publicKey: member.publicKey,
      ...(endpoint === undefined ? {} : { endpoint }),
      allowedIps: sortedIps(allowed),
      persistentKeepalive: keepalive,
    });
  }
  return peers.sort((a, b) => a.publicKey.localeCompare(b.publicKey));
}
