import { run } from "./command";
import { parseWgDump, type TWgPeerStatus } from "./wg-dump";

/** WireGuard rekeys every 2 minutes; no handshake for 3 minutes means the peer is not reachable. */
export const HANDSHAKE_STALE_MS = 180_000;

export type TFormnetPeerStatus = TWgPeerStatus & { connected: boolean };

export type TFormnetStatus = {
  interfaceName: string;
  publicKey: string;
  listenPort: number;
  peers: TFormnetPeerStatus[];
};

/** Status of a formnet interface from `wg show IFACE dump`: handshakes, endpoints, rx/tx. */
export async function formnetStatus(options: {
  name: string;
  netns?: string;
  now?: Date;
}): Promise<TFormnetStatus> {
  const dump = parseWgDump(await run("wg", ["show", options.name, "dump"], { netns: options.netns }));
  const now = (options.now ?? new Date()).getTime();
  return {
    interfaceName: options.name,
    publicKey: dump.publicKey,
    listenPort: dump.listenPort,
    peers: dump.peers.map((peer) => ({
      ...peer,
      connected: peer.latestHandshake !== null && now - peer.latestHandshake.getTime() < HANDSHAKE_STALE_MS,
    })),
  };
}

/**
 * Endpoints this member has seen its peers send from (WireGuard roaming). The console can offer them
 * to other members as `observed` candidates — e.g. a laptop behind NAT, whose address only its
 * current peers know, so that a restarted node can dial it at once instead of waiting for the
 * laptop's data timeout.
 */
export function observedPeerEndpoints(status: TFormnetStatus): Map<string, string> {
  const seen = new Map<string, string>();
  for (const peer of status.peers) if (peer.endpoint !== undefined) seen.set(peer.publicKey, peer.endpoint);
  return seen;
}
