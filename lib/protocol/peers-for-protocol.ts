import type { TFormnetPeer } from "./common";

/** Oldest agent protocol that knows formnet peers of kind `console`. */
export const CONSOLE_PEER_MIN_PROTOCOL = 3;

/**
 * The peer list as an agent speaking `protocolVersion` can read it: before version 3, console
 * members travel as kind `user`, which such agents treat alike (a peer with its own /32).
 */
export function peersForProtocol(peers: readonly TFormnetPeer[], protocolVersion: number): TFormnetPeer[] {
  if (protocolVersion >= CONSOLE_PEER_MIN_PROTOCOL) return [...peers];
  return peers.map((peer) => (peer.kind === "console" ? { ...peer, kind: "user" } : peer));
}
