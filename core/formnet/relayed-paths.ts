import { writeFile } from "node:fs/promises";
import { createLogger, type Logger } from "../log";
import { run } from "./command";
import { PathSelector, type TPathSelectorOptions, type TPeerPathStatus } from "./path-selector";
import { RelayLink } from "./relay-link";
import { childShimHost, localShimHost } from "./relay-shims";
import type { WireguardInterface } from "./wireguard-interface";

export type TPathsStatus = {
  updatedAt: string;
  relay: { up: boolean; rttMs: number | null; lastError: string | null };
  peers: Array<TPeerPathStatus & { address: string | null; rttMs: number | null }>;
};

export type TRelayedPathsOptions = {
  iface: WireguardInterface;
  consoleUrl: string;
  headers: () => Promise<Record<string, string>>;
  /**
   * When the interface lives in another network namespace than this process: the command that
   * runs the relay shims there (`form manage formnet-relay-shim …` under `ip netns exec`), given
   * WireGuard's port.
   */
  shimCommand?: (wireguardPort: number) => [string, string[]];
  /** Writes the status here as JSON after every round (what `form manage formnet-status` reads). */
  statusPath?: string;
  tickMs?: number;
  selector?: Omit<TPathSelectorOptions, "iface" | "relay" | "logger">;
  logger?: Logger;
};

export type TRelayedPaths = {
  /** The planned peers (from the console's list): direct candidates and their addresses. */
  setPlan(
    peers: ReadonlyArray<{ publicKey: string; endpoint?: string; allowedIps: readonly string[] }>,
  ): void;
  status(): TPathsStatus;
  stop(): Promise<void>;
};

/** RTTs are measured every this many rounds (one ping per peer through the tunnel). */
const RTT_EVERY = 5;

/**
 * formnet's path layer on one WireGuard interface: a relay link to the console, relay shims next
 * to WireGuard, and the path selector that moves each peer between its direct endpoint and its
 * shim; per-peer status with round-trip times (ping through the tunnel).
 */
export async function startRelayedPaths(o: TRelayedPathsOptions): Promise<TRelayedPaths> {
  const logger = (o.logger ?? createLogger("formnet")).child({ iface: o.iface.name });
  const wireguardPort = (await o.iface.dump()).listenPort;
  const shims = o.shimCommand ? childShimHost(o.shimCommand(wireguardPort)) : localShimHost(wireguardPort);
  const link = new RelayLink({
    consoleUrl: o.consoleUrl,
    key: o.iface.publicKey,
    headers: o.headers,
    shims,
    logger,
  });
  const addresses = new Map<string, string>();
  const poke = (key: string) => {
    const address = addresses.get(key);
    if (address) void pingMs(address, o.iface.netns);
  };
  const selector = new PathSelector({ iface: o.iface, relay: link, logger, poke, ...o.selector });
  const rtts = new Map<string, number | null>();
  let round = 0;
  let stopped = false;
  const status = (): TPathsStatus => ({
    updatedAt: new Date().toISOString(),
    relay: { up: link.up, rttMs: link.rttMs, lastError: link.lastError },
    peers: selector.status().map((p) => ({
      ...p,
      address: addresses.get(p.publicKey) ?? null,
      rttMs: rtts.get(p.publicKey) ?? null,
    })),
  });
  const tick = async () => {
    await selector.tick();
    if (round++ % RTT_EVERY === 0) {
      await Promise.all(
        [...addresses].map(async ([key, address]) => rtts.set(key, await pingMs(address, o.iface.netns))),
      );
    }
    if (o.statusPath) await writeFile(o.statusPath, `${JSON.stringify(status())}\n`, { mode: 0o600 });
  };
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(tick).catch((err: unknown) => logger.warn({ err }, "formnet path round failed"));
  }, o.tickMs ?? 2_000);
  timer.unref();
  link.start();
  return {
    setPlan(peers) {
      selector.setPlan(peers);
      addresses.clear();
      for (const p of peers) {
        const own = p.allowedIps[0]?.split("/")[0];
        if (own) addresses.set(p.publicKey, own);
      }
    },
    status,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await running.catch(() => undefined);
      await link.stop();
    },
  };
}

/** One ICMP echo through the tunnel; null when it got no answer within a second. */
async function pingMs(address: string, netns: string | undefined): Promise<number | null> {
  const out = await run("ping", ["-n", "-c", "1", "-W", "1", address], { netns, timeoutMs: 3_000 }).catch(
    () => "",
  );
  const match = /time=([\d.]+) ms/.exec(out);
  return match?.[1] ? Number(match[1]) : null;
}
