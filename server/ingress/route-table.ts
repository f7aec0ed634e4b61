import type { Logger } from "@/core/log";
import { type TFormfile, ZFormfile } from "@/lib/formfile/canonical";
import { appRouteKey } from "@/lib/ingress/app-host";
import {
  describeHealthcheck,
  effectiveHealthcheck,
  type TActiveHealthcheck,
} from "@/lib/ingress/health-policy";
import type { TIngressRepository } from "@/server/db/repositories/ingress-repository";

/** A replica the edge can send traffic to (once its health checks pass). */
export type TReplicaTarget = {
  instanceId: string;
  deploymentId: string;
  buildId: string;
  nodeId: string;
  ip: string;
  /** The EXPOSEd ports of the replica's build. */
  ports: readonly number[];
  healthcheck: TActiveHealthcheck | null;
  /** The check as people read it. */
  check: string;
};

/** A deployment as the edge routes it: its host's route key, ports and live replicas. */
export type TAppRoute = {
  routeKey: string;
  deploymentId: string;
  owner: string;
  name: string;
  /** The deployment's current build; its replicas are preferred over an older build's. */
  buildId: string;
  replicasWanted: number;
  /** EXPOSEd ports of the current build (the first is the default route). */
  ports: readonly number[];
  replicas: readonly TReplicaTarget[];
};

type TBuildInfo = { formfile: TFormfile; healthcheck: TActiveHealthcheck | null; check: string };

/**
 * The edge's routing table: every deployment by route key (`<name>-<app id>`) with its running
 * replicas, re-read from the database every `refreshMs` and on `refresh()`. Lookups are in memory
 * (the request path never waits for the database); Formfiles of builds are parsed once.
 */
export class RouteTable {
  readonly #o: { repo: TIngressRepository; refreshMs: number; log: Logger };
  #byKey = new Map<string, TAppRoute>();
  #byDeployment = new Map<string, TAppRoute>();
  #replicas: TReplicaTarget[] = [];
  readonly #builds = new Map<string, TBuildInfo | null>();
  readonly #listeners = new Set<(replicas: readonly TReplicaTarget[]) => void>();
  #timer: NodeJS.Timeout | null = null;
  #refreshing: Promise<void> | null = null;
  #again = false;

  constructor(options: { repo: TIngressRepository; refreshMs: number; log: Logger }) {
    this.#o = options;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#o.refreshMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#refreshing;
  }

  byKey(routeKey: string): TAppRoute | undefined {
    return this.#byKey.get(routeKey);
  }

  byDeployment(deploymentId: string): TAppRoute | undefined {
    return this.#byDeployment.get(deploymentId);
  }

  /** Every deployment's route. */
  all(): TAppRoute[] {
    return [...this.#byDeployment.values()];
  }

  get replicas(): readonly TReplicaTarget[] {
    return this.#replicas;
  }

  /** Called after each refresh with every live replica. */
  onChange(listener: (replicas: readonly TReplicaTarget[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads routes now; concurrent calls share one read (and one more after it, if asked meanwhile). */
  refresh(): Promise<void> {
    if (this.#refreshing !== null) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      try {
        do {
          this.#again = false;
          await this.#load();
        } while (this.#again);
      } catch (error) {
        this.#o.log.warn({ err: error }, "ingress routes could not be read; keeping the previous ones");
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  async #load(): Promise<void> {
    const [deployments, live] = await Promise.all([this.#o.repo.deployments(), this.#o.repo.liveReplicas()]);
    const needed = new Set([...deployments.map((d) => d.buildId), ...live.map((r) => r.buildId)]);
    const missing = [...needed].filter((id) => !this.#builds.has(id));
    for (const row of await this.#o.repo.formfiles(missing)) this.#builds.set(row.id, this.#parse(row));
    const replicasOf = new Map<string, TReplicaTarget[]>();
    const replicas: TReplicaTarget[] = [];
    for (const r of live) {
      const build = this.#builds.get(r.buildId);
      if (!build || !r.formnetIp) continue;
      const target: TReplicaTarget = {
        instanceId: r.id,
        deploymentId: r.deploymentId,
        buildId: r.buildId,
        nodeId: r.nodeId,
        ip: r.formnetIp,
        ports: build.formfile.expose,
        healthcheck: build.healthcheck,
        check: build.check,
      };
      replicas.push(target);
      const list = replicasOf.get(r.deploymentId) ?? [];
      list.push(target);
      replicasOf.set(r.deploymentId, list);
    }
    const byKey = new Map<string, TAppRoute>();
    const byDeployment = new Map<string, TAppRoute>();
    for (const d of deployments) {
      const build = this.#builds.get(d.buildId);
      const mine = replicasOf.get(d.id) ?? [];
      const route: TAppRoute = {
        routeKey: appRouteKey({ owner: d.owner, name: d.name }),
        deploymentId: d.id,
        owner: d.owner,
        name: d.name,
        buildId: d.buildId,
        replicasWanted: d.replicas,
        ports: build?.formfile.expose ?? [],
        // The current build's replicas first: an older build's serve only while none of these can.
        replicas: [
          ...mine.filter((m) => m.buildId === d.buildId),
          ...mine.filter((m) => m.buildId !== d.buildId),
        ],
      };
      byKey.set(route.routeKey, route);
      byDeployment.set(d.id, route);
    }
    this.#byKey = byKey;
    this.#byDeployment = byDeployment;
    this.#replicas = replicas;
    for (const listener of this.#listeners) listener(replicas);
  }

  #parse(row: { id: string; formfile: string }): TBuildInfo | null {
    try {
      const formfile = ZFormfile.parse(JSON.parse(row.formfile));
      const healthcheck = effectiveHealthcheck(formfile);
      return {
        formfile,
        healthcheck,
        check: describeHealthcheck(healthcheck, formfile.healthcheck !== undefined),
      };
    } catch (error) {
      this.#o.log.warn(
        { err: error, buildId: row.id },
        "stored Formfile does not parse; its replicas get no traffic",
      );
      return null;
    }
  }
}
