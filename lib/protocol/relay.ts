import { z } from "zod";

/**
 * formnet relay protocol (`/ws/relay`), member ⇄ console: WireGuard datagrams between two formnet
 * members that have no direct path (symmetric NAT, inbound UDP dropped), carried over the console's
 * own HTTPS/WebSocket port. The relay only ever sees WireGuard's ciphertext: it checks the packet's
 * type and length and that the two keys may talk, nothing else (it holds no WireGuard key).
 *
 * Binary frames: 1 byte kind (`RELAY_DATAGRAM`) + 32 bytes WireGuard public key + the datagram.
 * Upward the key names the destination; downward, the source. Text frames: JSON control frames.
 *
 * History:
 *   1 — 2026-12: datagrams, ready/error/pong ↓, ping ↑. Members authenticate in the upgrade: node
 *       agents with their session's agent token, laptops with a CLI read token and `key=` one of
 *       their own joined devices' keys.
 */
export const RELAY_PROTOCOL_VERSION = 1;
export const RELAY_WS_PATH = "/ws/relay";

export const RELAY_DATAGRAM = 1;
const HEADER = 33;
/** Largest datagram relayed (WireGuard's own packets stay far below: MTU 1420 + 32). */
export const RELAY_MAX_DATAGRAM = 65_535;

/** Decodes a base64 WireGuard key into its 32 bytes, or null. */
export function keyBytes(key: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(key)) return null;
  const bin = atob(key);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function keyString(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** One relayed datagram: `[kind][32-byte key][payload]`. */
export function encodeRelayDatagram(key: string, payload: Uint8Array): Uint8Array {
  const k = keyBytes(key);
  if (!k) throw new Error("not a WireGuard key");
  const frame = new Uint8Array(HEADER + payload.length);
  frame[0] = RELAY_DATAGRAM;
  frame.set(k, 1);
  frame.set(payload, HEADER);
  return frame;
}

/** Parses a binary relay frame; null when it is not a well-formed datagram frame. */
export function decodeRelayDatagram(frame: Uint8Array): { key: string; payload: Uint8Array } | null {
  if (frame.length <= HEADER || frame.length > HEADER + RELAY_MAX_DATAGRAM || frame[0] !== RELAY_DATAGRAM)
    return null;
  return { key: keyString(frame.subarray(1, HEADER)), payload: frame.subarray(HEADER) };
}

/**
 * True for a datagram shaped like one of WireGuard's four messages (type byte, three zero bytes,
 * then the fixed sizes of the handshake initiation, response and cookie reply, or a transport data
 * message of at least its 16-byte header and 16-byte tag — its padding stops at the MTU, so a
 * full-size packet is not a multiple of 16). The relay forwards nothing else.
 */
export function isWireguardDatagram(payload: Uint8Array): boolean {
  if (payload.length < 4 || payload[1] !== 0 || payload[2] !== 0 || payload[3] !== 0) return false;
  switch (payload[0]) {
    case 1:
      return payload.length === 148;
    case 2:
      return payload.length === 92;
    case 3:
      return payload.length === 64;
    case 4:
      return payload.length >= 32;
    default:
      return false;
  }
}

export const ZRelayServerFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), v: z.literal(RELAY_PROTOCOL_VERSION), key: z.string() }),
  z.object({ type: z.literal("pong"), t: z.number() }),
  z.object({ type: z.literal("error"), code: z.string(), message: z.string() }),
]);
export type TRelayServerFrame = z.infer<typeof ZRelayServerFrame>;

export const ZRelayClientFrame = z.object({ type: z.literal("ping"), t: z.number() });
export type TRelayClientFrame = z.infer<typeof ZRelayClientFrame>;

/** Parses a JSON control frame of `schema`; null when invalid. */
export function parseRelayFrame<T>(schema: z.ZodType<T>, text: string): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The relay's WebSocket URL on the console at `consoleUrl` (http(s) → ws(s)). */
export function relayUrl(consoleUrl: string, key: string): string {
  const url = new URL(RELAY_WS_PATH, consoleUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("key", key);
  return url.toString();
}
