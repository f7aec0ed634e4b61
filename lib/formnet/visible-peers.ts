import type { TFormnetPeer } from "../protocol";

/**
 * What a user may see of the mesh: every node (their tunnels go through nodes) and their own
 * devices; other users' laptops and keys stay private. Admins see everything. (The node firewall,
 * not this list, is what keeps others out of a VM.)
 */
export function visiblePeers(
  peers: readonly TFormnetPeer[],
  viewer: { address: string; isAdmin: boolean },
): TFormnetPeer[] {
  if (viewer.isAdmin) return [...peers];
  const own = `${viewer.address.toLowerCase()}:`;
  return peers.filter((p) => p.kind === "node" || (p.kind === "user" && p.ref.toLowerCase().startsWith(own)));
}
