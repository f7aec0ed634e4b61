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
