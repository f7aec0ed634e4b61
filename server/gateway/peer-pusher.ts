import type { Logger } from "@/core/log";
import {
  CAPABILITY_PEER_DELTAS,
  CONSOLE_PEER_MIN_PROTOCOL,
  encodeMessage,
  peersForProtocol,
  type TFormnetPeer,
} from "@/lib/protocol";
import type { FormnetService } from "@/server/services/nodes/formnet-service";
import type { AgentConnection } from "./agent-connection";
import type { AgentSockets } from "./agent-sockets";
import type { Notifier } from "./notifier";

export type TPeerPusherOptions = {
  formnet: FormnetService;
  agents: AgentSockets;
  notifier: Notifier;
  timing: {
    /** Shortest coalescing window of peer changes. */
    coalesceMs: number;
    /** Longest window (it grows with the number of sockets). */
    coalesceMaxMs: number;
    /** Peers per `formnet.peers` frame of a full list for agents that merge deltas. */
    pageSize: number;
  };
  log: Logger;
};

/**
 * Pushes formnet peer changes to this console's agents: every `formation_peers` notice (from any
 * replica) marks a ref changed; changes are coalesced and sent as one delta frame (or a full list
 * after a removal), encoded once for all sockets. A welcomed agent gets the whole list (`pushAll`).
 */
export class PeerPusher {
  readonly #o: TPeerPusherOptions;
  #timer: NodeJS.Timeout | null = null;
  #changed = new Set<string>();
  #unsubscribe: (() => void) | null = null;

  constructor(options: TPeerPusherOptions) {
    this.#o = options;
  }

  start(): void {
    this.#unsubscribe = this.#o.notifier.subscribe("formation_peers", (ref) => this.#schedule(ref));
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /**
   * Sends the full peer list to one agent (on welcome): the cached encoded frames, paged for
   * agents that merge deltas.
   */
  async pushAll(only: AgentConnection): Promise<void> {
    if (only.protocolVersion < CONSOLE_PEER_MIN_PROTOCOL) {
      for (const f of legacyPeerFrames(await this.#o.formnet.peers())) only.sendEncoded(f);
      return;
    }
    const paged = only.capabilities.has(CAPABILITY_PEER_DELTAS);
    const frames = await this.#o.formnet.fullFrames(paged ? this.#o.timing.pageSize : undefined);
    for (const f of frames) only.sendEncoded(f);
  }

  #schedule(ref: string): void {
    this.#o.formnet.invalidatePeers(ref);
    this.#changed.add(ref);
    if (this.#timer) return;
    // Coalesce bursts (agents joining, instances booting) into one delta push per interval; the
    // interval grows with the number of sockets so a join storm does not turn into n² sends.
    const { coalesceMs, coalesceMaxMs } = this.#o.timing;
    const windowMs = Math.min(coalesceMaxMs, Math.max(coalesceMs, Math.round(this.#o.agents.size / 4)));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#push().catch((error: unknown) => this.#o.log.error({ err: error }, "formnet peers push failed"));
    }, windowMs);
  }

  async #push(): Promise<void> {
    const changed = this.#changed;
    this.#changed = new Set();
    const peers = await this.#o.formnet.peers();
    const delta = peers.filter((p) => changed.has(p.ref));
    // A changed ref that is no longer a peer was removed: only a full list can say so.
    const removed = changed.has("*") || delta.length < changed.size;
    // Encoded once and shared by every socket (JSON.stringify per agent dominated at thousands).
    let deltaFrame: string[] | null = null;
    let fullFrames: string[] | null = null;
    let singleFull: string[] | null = null;
    for (const c of this.#o.agents.all()) {
      let frames: string[];
      if (c.protocolVersion < CONSOLE_PEER_MIN_PROTOCOL) {
        frames = legacyPeerFrames(peers);
      } else if (!c.capabilities.has(CAPABILITY_PEER_DELTAS)) {
        singleFull ??= await this.#o.formnet.fullFrames();
        frames = singleFull;
      } else if (removed) {
        fullFrames ??= await this.#o.formnet.fullFrames(this.#o.timing.pageSize);
        frames = fullFrames;
      } else {
        deltaFrame ??= [encodeMessage({ type: "formnet.peers", peers: delta, full: false })];
        frames = deltaFrame;
      }
      for (const f of frames) c.sendEncoded(f);
    }
  }
}

/** One full `formnet.peers` frame for agents older than protocol 3 (rare; not cached). */
function legacyPeerFrames(peers: readonly TFormnetPeer[]): string[] {
  return [encodeMessage({ type: "formnet.peers", peers: peersForProtocol(peers, 2), full: true })];
}
