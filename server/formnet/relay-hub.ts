import { decodeRelayDatagram, encodeRelayDatagram, isWireguardDatagram } from "@/lib/protocol/relay";

/** A member connected to the relay: its WireGuard key, and who it is. */
export type TRelayMember = { key: string; kind: "node" | "user"; owner: string | null };

export type TRelayClient = {
  member: TRelayMember;
  /** Sends a binary frame; false when the connection cannot take it now (dropped, as UDP would). */
  send(frame: Uint8Array): boolean;
};

export type TRelayStats = {
  forwarded: number;
  bytes: number;
  /** Frames whose payload is not shaped like a WireGuard message (never forwarded). */
  droppedNotWireguard: number;
  /** Frames between two members that may not talk (two users' laptops, a member to itself). */
  droppedForbidden: number;
  /** Frames for a key that is not connected to this relay. */
  droppedNoRoute: number;
};

/** A pair of members that exchanged datagrams through the relay (keys in sorted order). */
export type TRelayedPair = { keys: [string, string]; lastAt: number; datagrams: number; bytes: number };

/** Who may reach whom through the relay: what formnet's peer lists allow (laptops never talk). */
export function mayRelay(from: TRelayMember, to: TRelayMember): boolean {
  if (from.key === to.key) return false;
  return !(from.kind === "user" && to.kind === "user");
}

/**
 * The console's formnet relay: forwards WireGuard datagrams between connected members by public
 * key. It sees only ciphertext; it checks the shape of each datagram and that the pair may talk,
 * and counts what it drops.
 */
export class RelayHub {
  readonly #clients = new Map<string, TRelayClient>();
  readonly stats: TRelayStats = {
    forwarded: 0,
    bytes: 0,
    droppedNotWireguard: 0,
    droppedForbidden: 0,
    droppedNoRoute: 0,
  };

  readonly #pairs = new Map<string, TRelayedPair>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Members connected now (their keys). */
  connected(): string[] {
    return [...this.#clients.keys()];
  }

  /** Registers `client`; a newer connection of the same key replaces the older one. */
  attach(client: TRelayClient): () => void {
    this.#clients.set(client.member.key, client);
    return () => {
      if (this.#clients.get(client.member.key) === client) this.#clients.delete(client.member.key);
    };
  }

  /** Handles one binary frame from `from`; returns why it was dropped, or null when forwarded. */
  forward(from: TRelayClient, frame: Uint8Array): keyof TRelayStats | null {
    const datagram = decodeRelayDatagram(frame);
    if (!datagram || !isWireguardDatagram(datagram.payload)) {
      this.stats.droppedNotWireguard++;
      return "droppedNotWireguard";
    }
    const to = this.#clients.get(datagram.key);
    if (!to) {
      this.stats.droppedNoRoute++;
      return "droppedNoRoute";
    }
    if (!mayRelay(from.member, to.member)) {
      this.stats.droppedForbidden++;
      return "droppedForbidden";
    }
    if (to.send(encodeRelayDatagram(from.member.key, datagram.payload))) {
      this.stats.forwarded++;
      this.stats.bytes += datagram.payload.length;
      this.#count(from.member.key, to.member.key, datagram.payload.length);
    }
    return null;
  }

  /**
   * Pairs that used the relay within `windowMs` (what the network page shows as relayed); older
   * pairs are forgotten. WireGuard keepalives (every 25 s) keep a relayed idle pair listed.
   */
  recentPairs(windowMs = 60_000): TRelayedPair[] {
    const since = this.now() - windowMs;
    const out: TRelayedPair[] = [];
    for (const [id, pair] of this.#pairs) {
      if (pair.lastAt < since) this.#pairs.delete(id);
      else out.push({ ...pair, keys: [...pair.keys] });
    }
    return out;
  }

  #count(a: string, b: string, bytes: number): void {
    const keys: [string, string] = a < b ? [a, b] : [b, a];
    const id = keys.join(" ");
    const pair = this.#pairs.get(id) ?? { keys, lastAt: 0, datagrams: 0, bytes: 0 };
    pair.lastAt = this.now();
    pair.datagrams++;
    pair.bytes += bytes;
    this.#pairs.set(id, pair);
  }
}
