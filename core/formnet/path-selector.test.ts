import { describe, expect, it } from "vitest";
import { PathSelector } from "./path-selector";
import type { TWgPeerStatus } from "./wg-dump";

const PEER = `${"A".repeat(43)}=`;
const DIRECT = "203.0.113.7:51820";
const SHIM = "127.0.0.1:40001";

/**
 * A WireGuard interface with one peer, driven by the test: what the selector sets is the endpoint
 * (as `wg set` would), what the peer sends is `receive()` (rx grows, a handshake happens).
 */
function harness(opts: { relayUp?: boolean } = {}) {
  const peer: TWgPeerStatus = {
    publicKey: PEER,
    endpoint: DIRECT,
    allowedIps: ["10.42.0.2/32"],
    latestHandshake: null,
    rxBytes: 0,
    txBytes: 0,
  };
  const setEndpoints: string[] = [];
  const pokes: string[] = [];
  let now = 1_000_000;
  const selector = new PathSelector({
    iface: {
      dump: async () => ({ publicKey: "self", listenPort: 51820, peers: [{ ...peer }] }),
      setEndpoint: async (_key, endpoint) => {
        peer.endpoint = endpoint;
        setEndpoints.push(endpoint);
      },
    },
    relay: {
      up: opts.relayUp ?? true,
      endpointFor: async () => SHIM,
      isShim: async (endpoint) => endpoint === SHIM,
    },
    poke: (key) => pokes.push(key),
    directTimeoutMs: 15_000,
    silenceMs: 70_000,
    retryMs: 30_000,
    retryMaxMs: 120_000,
    trialMs: 8_000,
  });
  selector.setPlan([{ publicKey: PEER, endpoint: DIRECT }]);
  return {
    peer,
    setEndpoints,
    pokes,
    /** Advances the clock by `ms` and runs one round. */
    async after(ms: number) {
      now += ms;
      await selector.tick(now);
      return selector.status()[0]?.path;
    },
    receive() {
      peer.rxBytes += 148;
      peer.latestHandshake = new Date(now);
    },
  };
}

describe("PathSelector", () => {
  it("keeps a working direct path direct", async () => {
    const h = harness();
    expect(await h.after(0)).toBe("direct");
    for (let i = 0; i < 10; i++) {
      h.receive();
      expect(await h.after(20_000)).toBe("direct");
    }
    expect(h.setEndpoints).toEqual([]);
  });

  it("moves a peer that never shook hands to its relay shim after the direct timeout", async () => {
    const h = harness();
    expect(await h.after(0)).toBe("direct");
    expect(await h.after(10_000)).toBe("direct");
    expect(await h.after(6_000)).toBe("relayed");
    expect(h.setEndpoints).toEqual([SHIM]);
  });

  it("stays direct when there is no relay to fall back to", async () => {
    const h = harness({ relayUp: false });
    await h.after(0);
    expect(await h.after(60_000)).toBe("direct");
    expect(h.setEndpoints).toEqual([]);
  });

  it("gives up a direct path that went silent (NAT changed) for the relay", async () => {
    const h = harness();
    h.receive();
    await h.after(0);
    expect(await h.after(60_000)).toBe("direct");
    expect(await h.after(11_000)).toBe("relayed");
  });

  it("tries direct again after the back-off, upgrades when traffic comes back that way", async () => {
    const h = harness();
    await h.after(0);
    await h.after(16_000); // relayed
    expect(await h.after(29_000)).toBe("relayed");
    expect(await h.after(2_000)).toBe("trying-direct");
    expect(h.peer.endpoint).toBe(DIRECT);
    expect(h.pokes).toEqual([PEER]);
    h.receive();
    expect(await h.after(2_000)).toBe("direct");
    expect(h.setEndpoints).toEqual([SHIM, DIRECT]);
  });

  it("re-aims a try at the direct endpoint when a late relayed datagram moved WireGuard back", async () => {
    const h = harness();
    await h.after(0);
    await h.after(16_000); // relayed
    expect(await h.after(30_000)).toBe("trying-direct");
    h.peer.endpoint = SHIM; // roamed back by a datagram still in the relay
    h.receive();
    expect(await h.after(2_000)).toBe("trying-direct");
    expect(h.peer.endpoint).toBe(DIRECT);
    h.receive();
    expect(await h.after(2_000)).toBe("direct");
  });

  it("returns to the relay when a try shows nothing, and doubles the wait before the next", async () => {
    const h = harness();
    await h.after(0);
    await h.after(16_000); // relayed, next try in 30 s
    expect(await h.after(30_000)).toBe("trying-direct");
    expect(await h.after(8_000)).toBe("relayed");
    expect(h.peer.endpoint).toBe(SHIM);
    expect(await h.after(59_000)).toBe("relayed");
    expect(await h.after(1_000)).toBe("trying-direct");
  });

  it("follows the peer when it reaches us directly while relayed (WireGuard roaming)", async () => {
    const h = harness();
    await h.after(0);
    await h.after(16_000); // relayed
    h.peer.endpoint = "198.51.100.9:40000";
    h.receive();
    expect(await h.after(1_000)).toBe("direct");
  });
});
