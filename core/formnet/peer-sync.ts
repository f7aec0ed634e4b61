import { FORMNET_REFRESH_MS, type TWireguardPeer } from "@/lib/formnet/schemas";
import { createLogger, type Logger } from "../log";
import type { TSetPeersResult, WireguardInterface } from "./wireguard-interface";

export type TPeerSyncOptions = {
  iface: Pick<WireguardInterface, "setPeers" | "name">;
  /** Source of truth for the interface's peers (the console's planned list for this member). */
  fetchPeers: () => Promise<TWireguardPeer[]>;
  /** Pull period; the console can also push with `refreshNow()`. Default 60 s. */
  intervalMs?: number;
  logger?: Logger;
};

/**
 * Keeps a WireGuard interface's peers equal to what `fetchPeers` returns: every `intervalMs` (pull)
 * and whenever `refreshNow()` is called (push, e.g. when the console announces a change). Refreshes
 * never overlap; pushes that arrive while one is queued share it. A failed fetch keeps the last
 * applied peers (the mesh keeps working while the console is away) and is retried on the next tick.
 */
export class PeerSync {
  private timer: NodeJS.Timeout | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private pending: Promise<TSetPeersResult> | undefined;
  private running = false;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  lastSyncAt: Date | undefined;
  lastError: unknown;

  constructor(private readonly options: TPeerSyncOptions) {
    this.intervalMs = options.intervalMs ?? FORMNET_REFRESH_MS;
    this.logger = (options.logger ?? createLogger("formnet")).child({
      iface: options.iface.name,
      part: "peer-sync",
    });
  }

  /** Sync once now, then every interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  /** Fetch and apply now; resolves with what changed, rejects if this refresh failed. */
  refreshNow(): Promise<TSetPeersResult> {
    if (this.pending !== undefined) return this.pending;
    const next = this.tail
      .catch(() => undefined)
      .then(async () => {
        this.pending = undefined;
        return this.applyOnce();
      });
    this.pending = next;
    this.tail = next;
    return next;
  }

  /** Stop the timer and wait for an in-flight refresh. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.tail.catch(() => undefined);
  }

  private tick(): void {
    this.refreshNow()
      .catch(() => {
        // Already logged and kept in lastError; the next tick retries.
      })
      .finally(() => {
        if (this.running) this.timer = setTimeout(() => this.tick(), this.intervalMs);
      });
  }

  private async applyOnce(): Promise<TSetPeersResult> {
    try {
      const peers = await this.options.fetchPeers();
      const result = await this.options.iface.setPeers(peers);
      this.lastSyncAt = new Date();
      this.lastError = undefined;
      return result;
    } catch (error) {
      this.lastError = error;
      this.logger.warn({ err: error }, "formnet peer refresh failed; keeping the current peers");
      throw error;
    }
  }
}
