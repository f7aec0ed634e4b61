import type { Logger } from "@/core/log";
import type { TIngressRepository, TInstanceHealthWrite } from "@/server/db/repositories/ingress-repository";
import type { TServices } from "@/server/services/services";
import type { HealthChecker, TReplicaHealth } from "./health-checker";

export type THealthRecorderOptions = {
  repo: TIngressRepository;
  checker: HealthChecker;
  /** This console's id (the lease holder), open jobs, replica state and the restart/replace verbs. */
  services: Pick<TServices, "consoleId" | "jobs" | "leases" | "deploymentViews" | "deployments">;
  log: Logger;
  intervalMs?: number;
  /**
   * After a (re)start, how long a replica that has not passed a check yet may fail before the
   * console acts (at least its HEALTHCHECK --start-period): a VM boot under TCG takes a minute.
   */
  bootAllowanceMs?: number;
  /** A replica unhealthy again within this long of a health restart is replaced, not restarted. */
  restartWindowMs?: number;
  now?: () => Date;
};

type TMemory = {
  restarts: number;
  lastRestartAt: Date | null;
  /** When the replica last (re)started as far as the console knows: first seen, or restart done. */
  startedAt: Date;
  restartJobOpen: boolean;
  action: string | null;
  dirty: boolean;
};

const LEASE = "ingress-health";

/**
 * The console holding the `ingress-health` lease records what the health checks see (the instance
 * page and the CLI read it) and acts on replicas that stay unhealthy: it restarts one, and
 * replaces one that is unhealthy again after its restart (or never became healthy), saying why.
 */
export class HealthRecorder {
  readonly #o: THealthRecorderOptions;
  readonly #memory = new Map<string, TMemory>();
  readonly #unsubscribe: () => void;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> = Promise.resolve();
  #leader = false;
  #ticks = 0;

  constructor(options: THealthRecorderOptions) {
    this.#o = options;
    this.#unsubscribe = options.checker.onChange((h) => {
      const m = this.#memory.get(h.instanceId);
      if (m) m.dirty = true;
    });
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running = this.tick().catch((error: unknown) =>
        this.#o.log.warn({ err: error }, "health recording failed"),
      );
    }, this.#o.intervalMs ?? 1_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#unsubscribe();
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
    if (this.#leader) await this.#o.services.leases.release({ name: LEASE, holder: this.#holder });
  }

  get #holder(): string {
    return `${this.#o.services.consoleId}:ingress`;
  }

  /** One round: take the lease, write what changed, act on unhealthy verdicts. */
  async tick(): Promise<void> {
    this.#ticks++;
    const leader = await this.#o.services.leases.acquire({
      name: LEASE,
      holder: this.#holder,
      now: this.#now(),
      ttlMs: Math.max(3 * (this.#o.intervalMs ?? 1_000), 3_000),
    });
    if (leader && !this.#leader) this.#memory.clear();
    this.#leader = leader;
    if (!leader) return;
    const all = this.#o.checker.all();
    await this.#remember(all);
    for (const h of all) await this.#judge(h);
    // Probe times move on without a state change: refresh every row now and then.
    const refreshAll = this.#ticks % 15 === 0;
    const dirty = all.filter((h) => refreshAll || this.#memory.get(h.instanceId)?.dirty);
    await this.#o.repo.writeHealth(dirty.map((h) => this.#row(h)));
    for (const h of dirty) {
      const m = this.#memory.get(h.instanceId);
      if (m) m.dirty = false;
    }
    for (const id of [...this.#memory.keys()])
      if (!all.some((h) => h.instanceId === id)) this.#memory.delete(id);
    if (this.#ticks % 60 === 0) await this.#o.repo.pruneHealth();
  }

  /** Loads what earlier leaders recorded (restart counts) for replicas seen for the first time. */
  async #remember(all: readonly TReplicaHealth[]): Promise<void> {
    const unknown = all.filter((h) => !this.#memory.has(h.instanceId));
    if (unknown.length === 0) return;
    const stored = new Map(
      (await this.#o.repo.healthOf(unknown.map((h) => h.instanceId))).map((r) => [r.instanceId, r]),
    );
    for (const h of unknown) {
      const row = stored.get(h.instanceId);
      this.#memory.set(h.instanceId, {
        restarts: row?.restarts ?? 0,
        lastRestartAt: row?.lastRestartAt ?? null,
        startedAt: h.firstSeenAt,
        restartJobOpen: false,
        action: row?.action ?? null,
        dirty: true,
      });
    }
  }

  async #judge(h: TReplicaHealth): Promise<void> {
    const m = this.#memory.get(h.instanceId);
    if (!m) return;
    const now = this.#now();
    if (m.restartJobOpen) {
      const open = await this.#o.services.jobs.openJobsForInstance(h.instanceId);
      if (open.some((j) => j.kind === "restart")) return;
      m.restartJobOpen = false;
      m.startedAt = now;
      this.#o.checker.restarted(h.instanceId);
      return;
    }
    if (h.state !== "unhealthy" || h.consecutiveFailures < h.retries) return;
    const allowance = Math.max(h.startPeriodMs, this.#o.bootAllowanceMs ?? 120_000);
    const provedSinceStart = h.lastOkAt !== null && h.lastOkAt > m.startedAt;
    if (!provedSinceStart && now.getTime() - m.startedAt.getTime() < allowance) return;
    if (now.getTime() - m.startedAt.getTime() < h.startPeriodMs) return;
    const row = await this.#o.services.deploymentViews.replicaState(h.instanceId);
    if (row?.status !== "running" || row.desired !== "running") return;
    const last = h.failures.at(-1)?.reason ?? "health check failing";
    const window = this.#o.restartWindowMs ?? 10 * 60_000;
    const recentlyRestarted = m.lastRestartAt !== null && now.getTime() - m.lastRestartAt.getTime() < window;
    if (!recentlyRestarted) await this.#restart(h, m, last, now);
    else await this.#replace(h, m, last, now);
  }

  async #restart(h: TReplicaHealth, m: TMemory, last: string, now: Date): Promise<void> {
    m.restarts++;
    m.lastRestartAt = now;
    m.restartJobOpen = true;
    m.action = `restarted ${now.toISOString()}: unhealthy (${h.consecutiveFailures} failed checks; last: ${last})`;
    m.dirty = true;
    await this.#o.services.deployments.restartUnhealthy({
      instanceId: h.instanceId,
      nodeId: h.nodeId,
      restart: m.restarts,
      reason: last,
    });
    this.#o.log.warn(
      { instanceId: h.instanceId, deploymentId: h.deploymentId, reason: last },
      "restarting an unhealthy replica",
    );
  }

  async #replace(h: TReplicaHealth, m: TMemory, last: string, now: Date): Promise<void> {
    const reason = `unhealthy after a restart (${h.consecutiveFailures} failed checks; last: ${last})`;
    m.action = `replaced ${now.toISOString()}: ${reason}`;
    m.dirty = true;
    await this.#o.repo.writeHealth([this.#row(h)]);
    this.#o.log.warn(
      { instanceId: h.instanceId, deploymentId: h.deploymentId, reason },
      "replacing an unhealthy replica",
    );
    await this.#o.services.deployments.replaceUnhealthy({
      instanceId: h.instanceId,
      deploymentId: h.deploymentId,
      reason,
    });
  }

  #row(h: TReplicaHealth): TInstanceHealthWrite {
    const m = this.#memory.get(h.instanceId);
    return {
      instanceId: h.instanceId,
      deploymentId: h.deploymentId,
      state: h.state,
      check: h.check,
      since: h.since,
      lastCheckAt: h.lastCheckAt,
      lastOkAt: h.lastOkAt,
      failures: JSON.stringify(h.failures),
      restarts: m?.restarts ?? 0,
      lastRestartAt: m?.lastRestartAt ?? null,
      action: m?.action ?? null,
    };
  }
}
