import { createLogger, type Logger } from "../log";
import type { TWgDump, TWgPeerStatus } from "./wg-dump";

/** How a peer is reached now. */
export type TPeerPath = "direct" | "relayed" | "trying-direct";

export type TPeerPathStatus = {
  publicKey: string;
  path: TPeerPath;
  endpoint: string | null;
  lastHandshake: string | null;
  rxBytes: number;
  txBytes: number;
};

export type TPathSelectorOptions = {
  iface: {
    dump(): Promise<TWgDump>;
    setEndpoint(publicKey: string, endpoint: string): Promise<void>;
  };
  relay: {
    readonly up: boolean;
    endpointFor(peerKey: string): Promise<string>;
    isShim(endpoint: string | undefined): Promise<boolean>;
  };
  logger?: Logger;
  /**
   * Sends something to the peer through the tunnel (a ping to its address), so that a try of the
   * direct path has traffic to show even when the tunnel is idle.
   */
  poke?: (publicKey: string) => void;
  /** A direct path that shows no handshake for this long is given up for the relay. */
  directTimeoutMs?: number;
  /** A direct path whose peer sent nothing for this long (keepalives every 25 s) is given up. */
  silenceMs?: number;
  /** First wait before trying direct again from the relay; doubles after each failed try. */
  retryMs?: number;
  retryMaxMs?: number;
  /** How long a try of the direct path may take to show traffic from the peer. */
  trialMs?: number;
};

type TState = {
  mode: "direct" | "relayed" | "trial";
  since: number;
  backoffMs: number;
  nextTrialAt: number;
  trialRx: number;
  lastRx: number;
  lastRxAt: number;
};

/**
 * Chooses, for every peer that has a direct endpoint candidate, between that endpoint and the relay
 * (NAT traversal first, relay as fallback): a peer whose direct path shows no handshake or goes
 * silent is moved to its relay shim; a relayed peer is periodically tried direct again (its endpoint
 * set back for `trialMs`) and stays direct when traffic comes back that way. WireGuard's roaming
 * does the rest: a peer that sends from a new address (its shim, or a direct one) is answered there.
 * Sessions survive every switch (only the endpoint changes), so open connections are not dropped.
 */
export class PathSelector {
  readonly #o: Required<Omit<TPathSelectorOptions, "logger" | "poke">> & {
    logger: Logger;
    poke?: (publicKey: string) => void;
  };
  readonly #states = new Map<string, TState>();
  #plan = new Map<string, string | undefined>();
  #status: TPeerPathStatus[] = [];

  constructor(options: TPathSelectorOptions) {
    this.#o = {
      directTimeoutMs: 15_000,
      silenceMs: 70_000,
      retryMs: 30_000,
      retryMaxMs: 120_000,
      trialMs: 6_000,
      ...options,
      logger: (options.logger ?? createLogger("formnet")).child({ part: "paths" }),
    };
  }

  /** The planned peers: key → the direct endpoint to try (undefined when the peer offers none). */
  setPlan(peers: ReadonlyArray<{ publicKey: string; endpoint?: string }>): void {
    this.#plan = new Map(peers.map((p) => [p.publicKey, p.endpoint]));
    for (const key of this.#states.keys()) if (!this.#plan.has(key)) this.#states.delete(key);
  }

  /** Per-peer paths as of the last tick. */
  status(): TPeerPathStatus[] {
    return this.#status;
  }

  /** One round of decisions; call every couple of seconds. */
  async tick(now = Date.now()): Promise<void> {
    const dump = await this.#o.iface.dump();
    const status: TPeerPathStatus[] = [];
    for (const live of dump.peers) {
      const onShim = await this.#o.relay.isShim(live.endpoint);
      const state = this.#stateOf(live, onShim, now);
      if (live.rxBytes !== state.lastRx) {
        state.lastRx = live.rxBytes;
        state.lastRxAt = now;
      }
      const candidate = this.#plan.get(live.publicKey);
      if (candidate !== undefined) await this.#decide({ live, onShim, state, candidate, now });
      else state.mode = onShim ? "relayed" : "direct";
      status.push({
        publicKey: live.publicKey,
        path: state.mode === "trial" ? "trying-direct" : state.mode,
        endpoint: live.endpoint ?? null,
        lastHandshake: live.latestHandshake?.toISOString() ?? null,
        rxBytes: live.rxBytes,
        txBytes: live.txBytes,
      });
    }
    this.#status = status;
  }

  #stateOf(live: TWgPeerStatus, onShim: boolean, now: number): TState {
    let state = this.#states.get(live.publicKey);
    if (!state) {
      state = {
        mode: onShim ? "relayed" : "direct",
        since: now,
        backoffMs: this.#o.retryMs,
        nextTrialAt: now + this.#o.retryMs,
        trialRx: 0,
        lastRx: live.rxBytes,
        lastRxAt: now,
      };
      this.#states.set(live.publicKey, state);
    }
    return state;
  }

  async #decide(o: {
    live: TWgPeerStatus;
    onShim: boolean;
    state: TState;
    candidate: string;
    now: number;
  }): Promise<void> {
    const { live, onShim, state, candidate, now } = o;
    const key = live.publicKey;
    const handshakeAge = live.latestHandshake
      ? now - live.latestHandshake.getTime()
      : Number.POSITIVE_INFINITY;
    switch (state.mode) {
      case "direct": {
        if (onShim) {
          this.#enter(state, "relayed", now);
          return;
        }
        const neverShook = handshakeAge > 180_000 && now - state.since > this.#o.directTimeoutMs;
        const silent = now - state.lastRxAt > this.#o.silenceMs;
        if ((neverShook || silent) && this.#o.relay.up) {
          await this.#o.iface.setEndpoint(key, await this.#o.relay.endpointFor(key));
          this.#enter(state, "relayed", now);
          this.#o.logger.info({ peer: key, candidate, silent }, "no direct path to the peer: relayed");
        }
        return;
      }
      case "relayed": {
        if (!onShim && live.endpoint !== undefined && now - state.lastRxAt < 10_000) {
          // The peer reached us from a direct address (roaming): that path works.
          this.#enter(state, "direct", now);
          state.backoffMs = this.#o.retryMs;
          return;
        }
        if (now >= state.nextTrialAt) {
          state.trialRx = live.rxBytes;
          await this.#o.iface.setEndpoint(key, candidate);
          this.#enter(state, "trial", now);
          this.#o.poke?.(key);
        }
        return;
      }
      case "trial": {
        // The peer answered on the direct endpoint (it roamed to where our packets came from).
        if (!onShim && live.endpoint === candidate && live.rxBytes > state.trialRx) {
          this.#enter(state, "direct", now);
          state.backoffMs = this.#o.retryMs;
          this.#o.logger.info({ peer: key, endpoint: candidate }, "direct path to the peer works: upgraded");
          return;
        }
        if (now - state.since < this.#o.trialMs) {
          // A datagram still on its way through the relay moved WireGuard back to the shim: aim
          // at the direct endpoint again for the rest of the try.
          if (onShim) await this.#o.iface.setEndpoint(key, candidate);
          this.#o.poke?.(key);
          return;
        }
        await this.#o.iface.setEndpoint(key, await this.#o.relay.endpointFor(key));
        state.backoffMs = Math.min(state.backoffMs * 2, this.#o.retryMaxMs);
        this.#enter(state, "relayed", now);
      }
    }
  }

  #enter(state: TState, mode: TState["mode"], now: number): void {
    state.mode = mode;
    state.since = now;
    if (mode === "relayed") state.nextTrialAt = now + state.backoffMs;
  }
}
