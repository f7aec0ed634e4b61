/** One peer line of `wg show IFACE dump`. */
export type TWgPeerStatus = {
  publicKey: string;
  endpoint?: string;
  allowedIps: string[];
  /** Null when no handshake happened yet. */
  latestHandshake: Date | null;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive?: number;
};

export type TWgDump = {
  publicKey: string;
  listenPort: number;
  peers: TWgPeerStatus[];
};

/**
 * Parse `wg show IFACE dump` (tab-separated; first line is the interface, one line per peer). The
 * interface's private key is in that first line and deliberately not kept.
 */
export function parseWgDump(text: string): TWgDump {
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const head = lines[0]?.split("\t");
  if (head === undefined || head.length < 3) throw new Error("empty or malformed `wg show dump` output");
  const peers = lines.slice(1).map((line): TWgPeerStatus => {
    const [
      publicKey = "",
      ,
      endpoint = "",
      allowed = "",
      handshake = "0",
      rx = "0",
      tx = "0",
      keepalive = "off",
    ] = line.split("\t");
    const handshakeSeconds = Number(handshake);
    const peer: TWgPeerStatus = {
      publicKey,
      allowedIps: allowed === "(none)" || allowed === "" ? [] : allowed.split(","),
      latestHandshake: handshakeSeconds > 0 ? new Date(handshakeSeconds * 1000) : null,
      rxBytes: Number(rx),
      txBytes: Number(tx),
    };
    if (endpoint !== "(none)" && endpoint !== "") peer.endpoint = endpoint;
    if (keepalive !== "off" && keepalive !== "") peer.persistentKeepalive = Number(keepalive);
    return peer;
  });
  return { publicKey: head[1] ?? "", listenPort: Number(head[2]), peers };
}
