import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TWireguardPeer } from "@/lib/formnet/schemas";
import { PeerSync } from "./peer-sync";
import type { TSetPeersResult } from "./wireguard-interface";

const peer = (n: number): TWireguardPeer => ({
  publicKey: `${"A".repeat(42)}${"AEIM"[n] ?? "A"}=`,
  allowedIps: [],
});

function fakeIface() {
  const applied: TWireguardPeer[][] = [];
  return {
    name: "fn-test",
    applied,
    setPeers: async (peers: readonly TWireguardPeer[]): Promise<TSetPeersResult> => {
      applied.push([...peers]);
      return { added: peers.length, updated: 0, removed: 0 };
    },
  };
}

describe("PeerSync", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("syncs on start and then every interval", async () => {
    const iface = fakeIface();
    let version = 0;
    const sync = new PeerSync({ iface, intervalMs: 60_000, fetchPeers: async () => [peer(version++)] });
    sync.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(iface.applied).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(59_000);
    expect(iface.applied).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(iface.applied).toHaveLength(2);
    expect(iface.applied[1]).toEqual([peer(1)]);
    await sync.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(iface.applied).toHaveLength(2);
  });

  it("coalesces pushes that arrive while a refresh is queued and never overlaps refreshes", async () => {
    const iface = fakeIface();
    let inFlight = 0;
    let maxInFlight = 0;
    const sync = new PeerSync({
      iface,
      fetchPeers: async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 100));
        inFlight--;
        return [peer(0)];
      },
    });
    const first = sync.refreshNow();
    // A push before the first refresh has started fetching is served by it.
    expect(sync.refreshNow()).toBe(first);
    await vi.advanceTimersByTimeAsync(10);
    // Pushes while a refresh is in flight queue exactly one more.
    const second = sync.refreshNow();
    const third = sync.refreshNow();
    expect(second).toBe(third);
    expect(second).not.toBe(first);
    await vi.advanceTimersByTimeAsync(500);
    await Promise.all([first, second, third]);
    expect(iface.applied).toHaveLength(2);
    expect(maxInFlight).toBe(1);
  });

  it("keeps the last peers when a fetch fails and recovers on the next tick", async () => {
    const iface = fakeIface();
    let fail = true;
    const sync = new PeerSync({
      iface,
      intervalMs: 1_000,
      fetchPeers: async () => {
        if (fail) throw new Error("console unreachable");
        return [peer(2)];
      },
    });
    await expect(sync.refreshNow()).rejects.toThrow("console unreachable");
    expect(sync.lastError).toBeInstanceOf(Error);
    expect(iface.applied).toHaveLength(0);
    fail = false;
    sync.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(iface.applied).toEqual([[peer(2)]]);
    expect(sync.lastError).toBeUndefined();
    await sync.stop();
  });
});
