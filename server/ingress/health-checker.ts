import type { Logger } from "@/core/log";
import type { THealthState } from "@/lib/status";
import { GUEST_SSH_PORT, httpProbe, replicaProbe, type TProbeResult, tcpProbe } from "./probes";
import type { TReplicaTarget } from "./route-table";

export type { THealthState };
export type THealthFailure = { at: Date; reason: string };

/** One replica's health as this console's checks see it. */
export type TReplicaHealth = {
  instanceId: string;
  deploymentId: string;
  nodeId: string;
  state: THealthState;
  check: string;
  /** When `state` last changed. */
  since: Date;
  /** When this console first saw the replica running (its start period counts from here). */
  firstSeenAt: Date;
  lastCheckAt: Date | null;
  lastOkAt: Date | null;
  /** The last failures, oldest first (at most `FAILURES_KEPT`). */
  failures: THealthFailure[];
  consecutiveFailures: number;
  /** Consecutive failed probes that make an unhealthy verdict (HEALTHCHECK --retries). */
  retries: number;
  startPeriodMs: number;
};

export const FAILURES_KEPT = 5;
/** How soon a replica the edge could not reach is probed again. */
const REPROBE_AFTER_DOWN_MS = 1_000;
/** How often a replica that never passed a probe yet is probed. */
const FIRST_PASS_REPROBE_MS = 1_000;
/** A replica without checks (HEALTHCHECK none) the edge could not reach gets traffic again after this. */
const UNCHECKED_EJECTION_MS = 5_000;

type TEntry = {
  target: TReplicaTarget;
  health: TReplicaHealth;
  timer: NodeJS.Timeout | null;
  probing: boolean;
};

export type THealthCheckerOptions = {
  /** Source address of probes (the console's formnet address), read per probe: it may come later. */
  localAddress: () => string | undefined;
  log: Logger;
  now?: () => Date;
};

/**
 * Probes every running replica from this console (TCP connect or HTTP GET per HEALTHCHECK) and
 * decides which ones the edge may use: healthy after a passing probe, unhealthy after `retries`
 * failing ones in a row — or at once when the edge could not reach it (`markDown`), until a probe
 * passes again. Listeners hear of every state change and failure.
 */
export class HealthChecker {
  readonly #o: THealthCheckerOptions;
  readonly #entries = new Map<string, TEntry>();
  readonly #listeners = new Set<(health: TReplicaHealth, change: "state" | "failure") => void>();
  #stopped = false;

  constructor(options: THealthCheckerOptions) {
    this.#o = options;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  onChange(listener: (health: TReplicaHealth, change: "state" | "failure") => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Follows the live replicas: new ones are probed at once, gone ones forgotten. */
  sync(replicas: readonly TReplicaTarget[]): void {
    if (this.#stopped) return;
    const live = new Set<string>();
    for (const target of replicas) {
      live.add(target.instanceId);
      const entry = this.#entries.get(target.instanceId);
      if (entry) {
        const moved = entry.target.ip !== target.ip;
        entry.target = target;
        entry.health.check = target.check;
        entry.health.retries = target.healthcheck?.retries ?? 1;
        entry.health.startPeriodMs = target.healthcheck?.startPeriodMs ?? 0;
        if (moved) this.#schedule(entry, 0);
        continue;
      }
      const now = this.#now();
      const unchecked = target.healthcheck === null;
      const created: TEntry = {
        target,
        timer: null,
        probing: false,
        health: {
          instanceId: target.instanceId,
          deploymentId: target.deploymentId,
          nodeId: target.nodeId,
          // Without a check there is nothing to wait for: a running replica takes traffic.
          state: unchecked ? "healthy" : "unknown",
          check: target.check,
          since: now,
          firstSeenAt: now,
          lastCheckAt: null,
          lastOkAt: null,
          failures: [],
          consecutiveFailures: 0,
          retries: target.healthcheck?.retries ?? 1,
          startPeriodMs: target.healthcheck?.startPeriodMs ?? 0,
        },
      };
      this.#entries.set(target.instanceId, created);
      this.#emit(created.health, "state");
      if (!unchecked) this.#schedule(created, 0);
    }
    for (const [id, entry] of this.#entries) {
      if (live.has(id)) continue;
      if (entry.timer) clearTimeout(entry.timer);
      this.#entries.delete(id);
    }
  }

  /** True when the edge may send this replica traffic. */
  isRoutable(instanceId: string): boolean {
    return this.#entries.get(instanceId)?.health.state === "healthy";
  }

  get(instanceId: string): TReplicaHealth | undefined {
    return this.#entries.get(instanceId)?.health;
  }

  all(): TReplicaHealth[] {
    return [...this.#entries.values()].map((e) => e.health);
  }

  /**
   * The edge could not reach the replica (refused, unreachable, timed out): no more traffic until
   * a probe passes, which is tried again shortly.
   */
  markDown(instanceId: string, reason: string): void {
    const entry = this.#entries.get(instanceId);
    if (!entry || entry.health.state === "unhealthy") return;
    this.#fail(entry, reason);
    this.#setState(entry, "unhealthy");
    if (entry.target.healthcheck === null) {
      // Nothing to probe: back in rotation after a pause, as a passive check would do.
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = setTimeout(() => this.#setState(entry, "healthy"), UNCHECKED_EJECTION_MS);
      entry.timer.unref();
    } else {
      this.#schedule(entry, REPROBE_AFTER_DOWN_MS);
    }
  }

  /**
   * Is the replica there at all? A TCP connect to `port` within `timeoutMs` — or, when the app's
   * port is too swamped to answer, any answer of the guest's kernel on its SSH port (`replicaProbe`);
   * a failure marks it down. The edge asks when a request waited long for its response headers or
   * got no TCP connection: a dead host must go out of rotation, a busy app must not.
   */
  async confirmAlive(instanceId: string, port: number, timeoutMs: number): Promise<boolean> {
    const entry = this.#entries.get(instanceId);
    if (!entry) return false;
    const result = await replicaProbe({
      ip: entry.target.ip,
      port,
      hostPort: GUEST_SSH_PORT,
      timeoutMs,
      localAddress: this.#o.localAddress(),
    });
    if (!result.ok) this.markDown(instanceId, `${result.reason} (while a request waited for it)`);
    return result.ok;
  }

  /** The replica was restarted: its failures so far no longer count towards the next verdict. */
  restarted(instanceId: string): void {
    const entry = this.#entries.get(instanceId);
    if (!entry) return;
    entry.health.consecutiveFailures = 0;
    if (entry.target.healthcheck) this.#schedule(entry, 0);
  }

  stop(): void {
    this.#stopped = true;
    for (const entry of this.#entries.values()) if (entry.timer) clearTimeout(entry.timer);
    this.#entries.clear();
  }

  #schedule(entry: TEntry, delayMs: number): void {
    if (this.#stopped) return;
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => void this.#probe(entry), delayMs);
    entry.timer.unref();
  }

  async #probe(entry: TEntry): Promise<void> {
    const hc = entry.target.healthcheck;
    if (!hc || entry.probing || this.#entries.get(entry.target.instanceId) !== entry) return;
    entry.probing = true;
    let result: TProbeResult;
    try {
      const target = {
        ip: entry.target.ip,
        port: hc.port,
        timeoutMs: hc.timeoutMs,
        localAddress: this.#o.localAddress(),
      };
      result = hc.kind === "http" ? await httpProbe({ ...target, path: hc.path }) : await tcpProbe(target);
    } catch (error) {
      result = { ok: false, ms: 0, reason: `probe failed: ${String(error)}` };
    } finally {
      entry.probing = false;
    }
    if (this.#entries.get(entry.target.instanceId) !== entry) return;
    const h = entry.health;
    h.lastCheckAt = this.#now();
    if (result.ok) {
      h.consecutiveFailures = 0;
      h.lastOkAt = h.lastCheckAt;
      this.#setState(entry, "healthy");
    } else {
      this.#fail(entry, result.reason);
      if (h.state !== "unhealthy" && h.consecutiveFailures >= hc.retries) this.#setState(entry, "unhealthy");
    }
    // Until its first pass a replica is probed every second: a freshly started app gets traffic as
    // soon as it listens, not one interval (10 s by default) later.
    this.#schedule(
      entry,
      h.lastOkAt === null ? Math.min(hc.intervalMs, FIRST_PASS_REPROBE_MS) : hc.intervalMs,
    );
  }

  #fail(entry: TEntry, reason: string): void {
    const h = entry.health;
    h.consecutiveFailures++;
    h.failures.push({ at: this.#now(), reason });
    if (h.failures.length > FAILURES_KEPT) h.failures.splice(0, h.failures.length - FAILURES_KEPT);
    this.#emit(h, "failure");
  }

  #setState(entry: TEntry, state: THealthState): void {
    const h = entry.health;
    if (h.state === state) return;
    this.#o.log.info(
      {
        instanceId: h.instanceId,
        deploymentId: h.deploymentId,
        from: h.state,
        to: state,
        reason: h.failures.at(-1)?.reason,
      },
      state === "healthy" ? "replica healthy" : "replica unhealthy",
    );
    h.state = state;
    h.since = this.#now();
    this.#emit(h, "state");
  }

  #emit(health: TReplicaHealth, change: "state" | "failure"): void {
    for (const listener of this.#listeners) {
      try {
        listener(health, change);
      } catch (error) {
        this.#o.log.warn({ err: error }, "health listener failed");
      }
    }
  }
}
