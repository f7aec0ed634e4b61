import { randomBytes } from "node:crypto";
import type { Logger } from "@/core/log";
import type { TBuildsRepository } from "@/server/db/repositories/builds-repository";
import type { TDeploymentRow, TDeploymentsRepository } from "@/server/db/repositories/deployments-repository";
import type { TInstanceRow, TInstancesRepository } from "@/server/db/repositories/instances-repository";
import { AppError } from "@/server/errors";
import {
  appInfoOf,
  type TAppUrlSource,
  type TBuildDto,
  toBuildDto,
} from "@/server/services/builds/build-dto";
import type { JobService } from "@/server/services/jobs/job-service";
import { capacityFor, describeWait, type TResources } from "@/server/services/scheduler/placement";
import {
  type TAppInfo,
  type TDeleteDeploymentResult,
  type TDeploymentDto,
  type TInstanceDto,
  toDeploymentDto,
  toInstanceDto,
} from "./instance-dto";
import type { Reconciler } from "./reconciler";

export type TInstanceAction = "start" | "stop" | "restart" | "delete";

export type TDeploymentServiceOptions = {
  deployments: TDeploymentsRepository;
  instances: TInstancesRepository;
  builds: TBuildsRepository;
  jobs: JobService;
  reconciler: Reconciler;
  replicas: { default: number; max: number };
  log: Logger;
  /** The apps' URLs through the edge (none without ingress). */
  appUrls?: TAppUrlSource;
};

const SHIPPABLE = new Set(["built", "distributing", "booting", "running"]);

export type TShipResult = { deployment: TDeploymentDto; instances: TInstanceDto[]; notice: string | null };

/** A deployment with its builds (newest first, for rollback) and its replicas. */
export type TDeploymentDetail = {
  deployment: TDeploymentDto;
  builds: TBuildDto[];
  instances: TInstanceDto[];
};

const UNKNOWN_APP: TAppInfo = { name: "", sshUser: null, exposedPorts: [], url: null, urls: [] };

/** User-facing deployment verbs: ship, rollback, instance start/stop/restart/delete, listings. */
export class DeploymentService {
  readonly #o: TDeploymentServiceOptions;

  constructor(options: TDeploymentServiceOptions) {
    this.#o = options;
  }

  /** App info per build id, read once per call (`apps.get(id)`). */
  #apps(): { get(buildId: string): Promise<TAppInfo> } {
    const cache = new Map<string, Promise<TAppInfo>>();
    return {
      get: (buildId) => {
        let app = cache.get(buildId);
        if (!app) {
          app = this.#o.builds.find(buildId).then((b) => (b ? appInfoOf(b, this.#o.appUrls) : UNKNOWN_APP));
          cache.set(buildId, app);
        }
        return app;
      },
    };
  }

  async #instanceDtos(rows: readonly TInstanceRow[]): Promise<TInstanceDto[]> {
    const apps = this.#apps();
    return Promise.all(rows.map(async (r) => toInstanceDto(r, await apps.get(r.buildId))));
  }

  async #deploymentDto(dep: TDeploymentRow, apps = this.#apps()): Promise<TDeploymentDto> {
    const instances = await this.#o.instances.byDeployment(dep.id);
    return toDeploymentDto(dep, { instances, app: await apps.get(dep.buildId) });
  }

  async #result(deploymentId: string): Promise<TShipResult> {
    const dep = await this.#o.deployments.find(deploymentId);
    if (!dep) throw new AppError("NOT_FOUND", `deployment ${deploymentId} disappeared`);
    const instances = (await this.#o.instances.byDeployment(dep.id)).filter(
      (i) => i.desired !== "deleted" && i.buildId === dep.buildId,
    );
    return {
      deployment: await this.#deploymentDto(dep),
      instances: await this.#instanceDtos(instances),
      notice: dep.notice,
    };
  }

  /** The owner's build if it can be shipped (built, image uploaded); throws NOT_FOUND / PRECONDITION_FAILED. */
  async shippableBuild(opts: { owner: string; buildId: string }) {
    const build = await this.#o.builds.find(opts.buildId);
    if (!build || build.owner !== opts.owner)
      throw new AppError("NOT_FOUND", `No build ${opts.buildId} of yours`);
    if (!build.imageDigest || !SHIPPABLE.has(build.status)) {
      throw new AppError(
        "PRECONDITION_FAILED",
        `build ${opts.buildId} is ${build.status}; ship it once it is built (see form pack status)`,
      );
    }
    return build;
  }

  /**
   * Ships a build as the deployment named after its Formfile NAME: N replicas (default 3) on
   * distinct nodes. When fewer nodes qualify, it places what it can and says so in `notice`.
   */
  async ship(opts: { owner: string; buildId: string; replicas?: number }): Promise<TShipResult> {
    const owner = opts.owner.toLowerCase();
    const replicas = opts.replicas ?? this.#o.replicas.default;
    if (replicas < 1 || replicas > this.#o.replicas.max) {
      throw new AppError(
        "BAD_REQUEST",
        `replicas must be between 1 and ${this.#o.replicas.max} on this network`,
      );
    }
    const build = await this.shippableBuild({ owner, buildId: opts.buildId });
    const dep = await this.#o.deployments.upsert({
      id: `d-${randomBytes(10).toString("hex")}`,
      owner,
      name: build.name,
      buildId: build.id,
      replicas,
    });
    await this.#o.reconciler.reconcile(dep.id);
    this.#o.log.info({ deploymentId: dep.id, buildId: build.id, replicas }, "shipped");
    return this.#result(dep.id);
  }

  /** Points the deployment NAME back at an earlier build of the same NAME. */
  async rollback(opts: { owner: string; name: string; buildId: string }): Promise<TShipResult> {
    const owner = opts.owner.toLowerCase();
    const dep = await this.#o.deployments.findByName({ owner, name: opts.name });
    if (!dep) throw new AppError("NOT_FOUND", `No deployment named ${opts.name}`);
    const build = await this.shippableBuild({ owner, buildId: opts.buildId });
    if (build.name !== dep.name) {
      throw new AppError("BAD_REQUEST", `build ${build.id} is named ${build.name}, not ${dep.name}`);
    }
    if (build.id === dep.buildId)
      throw new AppError("CONFLICT", `${dep.name} already runs build ${build.id}`);
    await this.#o.deployments.upsert({ ...dep, buildId: build.id });
    await this.#o.reconciler.reconcile(dep.id);
    return this.#result(dep.id);
  }

  async #owned(opts: { owner: string; instanceId: string; admin?: boolean }): Promise<TInstanceRow> {
    const row = await this.#o.instances.find(opts.instanceId);
    if (!row || row.status === "deleted" || (!opts.admin && row.owner !== opts.owner.toLowerCase())) {
      throw new AppError("NOT_FOUND", `No instance ${opts.instanceId} of yours`);
    }
    return row;
  }

  async getInstance(opts: { viewer: string; admin: boolean; instanceId: string }): Promise<TInstanceDto> {
    const row = await this.#owned({ owner: opts.viewer, instanceId: opts.instanceId, admin: opts.admin });
    const [dto] = await this.#instanceDtos([row]);
    if (!dto) throw new AppError("INTERNAL", `instance ${row.id} has no DTO`);
    return dto;
  }

  /** start / stop / restart / delete of one instance; the agent hosting it does the work. */
  async act(opts: { owner: string; instanceId: string; action: TInstanceAction }): Promise<TInstanceDto> {
    const row = await this.#owned(opts);
    if (row.desired === "deleted")
      throw new AppError("PRECONDITION_FAILED", `instance ${row.id} is being deleted`);
    if (opts.action === "delete") {
      await this.#o.reconciler.deleteInstance(row, "deleted by the owner");
      // The deployment shrinks with it, so the reconciler does not replace it.
      const dep = await this.#o.deployments.find(row.deploymentId);
      if (dep && dep.replicas > 0)
        await this.#o.deployments.upsert({ ...dep, replicas: Math.max(0, dep.replicas - 1) });
    } else {
      const desired = opts.action === "stop" ? "stopped" : "running";
      const status = opts.action === "stop" ? "stopping" : row.status;
      await this.#o.instances.update(row.id, { desired, status });
      await this.#o.jobs.enqueue({
        kind: opts.action,
        payload: { instanceId: row.id },
        nodeId: row.nodeId,
        idempotencyKey: `${opts.action}:${row.id}:${Date.now()}`,
        instanceId: row.id,
        maxAttempts: 3,
      });
    }
    const [dto] = await this.#instanceDtos([(await this.#o.instances.find(row.id)) ?? row]);
    if (!dto) throw new AppError("INTERNAL", `instance ${row.id} has no DTO`);
    return dto;
  }

  /**
   * Ends a deployment in one call: its desired replica count becomes 0 (so nothing waiting is
   * placed later) and every replica, of any build, is deleted. Shipping the name again starts over.
   */
  async deleteDeployment(opts: { owner: string; deploymentId: string }): Promise<TDeleteDeploymentResult> {
    const owner = opts.owner.toLowerCase();
    const dep = await this.#o.deployments.find(opts.deploymentId);
    if (!dep || dep.owner !== owner)
      throw new AppError("NOT_FOUND", `No deployment ${opts.deploymentId} of yours`);
    await this.#o.deployments.upsert({ ...dep, replicas: 0 });
    const live = (await this.#o.instances.byDeployment(dep.id)).filter(
      (i) => i.desired !== "deleted" && i.status !== "deleted",
    );
    for (const instance of live)
      await this.#o.reconciler.deleteInstance(instance, "deployment deleted by the owner");
    // Runs after any reconcile already in flight (per-deployment lock), which read the old count:
    // whatever it placed meanwhile is surplus now and goes too.
    await this.#o.reconciler.reconcile(dep.id);
    this.#o.log.info({ deploymentId: dep.id, name: dep.name, deleted: live.length }, "deployment deleted");
    return { deploymentId: dep.id, name: dep.name, deletedInstances: live.map((i) => i.id) };
  }

  /** Instances visible to the viewer (own, or all for admins), optionally of one build. */
  async list(opts: { owner: string | null; buildId?: string }): Promise<TInstanceDto[]> {
    const rows = opts.buildId
      ? await this.#o.instances.byBuild(opts.buildId)
      : await this.#o.instances.list({ ...(opts.owner ? { owner: opts.owner.toLowerCase() } : {}) });
    return this.#instanceDtos(
      rows.filter(
        (r) => r.status !== "deleted" && (opts.owner === null || r.owner === opts.owner.toLowerCase()),
      ),
    );
  }

  async deployments(opts: { owner: string | null }): Promise<TDeploymentDto[]> {
    const rows = await this.#o.deployments.list({
      ...(opts.owner ? { owner: opts.owner.toLowerCase() } : {}),
    });
    // A deleted deployment wants 0 replicas: it is gone for its owner (shipping the name revives it).
    const apps = this.#apps();
    return Promise.all(rows.filter((r) => r.replicas > 0).map((r) => this.#deploymentDto(r, apps)));
  }

  /** One of the owner's deployments with its builds over time and its replicas. */
  async deployment(opts: { owner: string; deploymentId: string }): Promise<TDeploymentDetail> {
    const owner = opts.owner.toLowerCase();
    const dep = await this.#o.deployments.find(opts.deploymentId);
    if (!dep || dep.owner !== owner || dep.replicas === 0)
      throw new AppError("NOT_FOUND", `No deployment ${opts.deploymentId} of yours`);
    const instances = (await this.#o.instances.byDeployment(dep.id)).filter((i) => i.status !== "deleted");
    const builds = await this.#o.builds.listByName({ owner, name: dep.name });
    return {
      deployment: await this.#deploymentDto(dep),
      builds: builds.map((b) => toBuildDto(b, this.#o.appUrls)),
      instances: await this.#instanceDtos(instances),
    };
  }

  /** The owner's live deployment of a build's NAME (whichever build it runs now), or null. */
  async deploymentOfBuild(opts: { owner: string; buildId: string }): Promise<TDeploymentDto | null> {
    const owner = opts.owner.toLowerCase();
    const build = await this.#o.builds.find(opts.buildId);
    if (!build || build.owner !== owner) throw new AppError("NOT_FOUND", `No build ${opts.buildId} of yours`);
    const dep = await this.#o.deployments.findByName({ owner, name: build.name });
    return dep && dep.replicas > 0 ? this.#deploymentDto(dep) : null;
  }

  /**
   * What the network can place right now for one replica of `resources`: healthy nodes, how many
   * have room, the largest free amounts, and why a replica would wait (null when one fits).
   */
  async capacity(resources: TResources) {
    const nodes = await this.#o.reconciler.candidates();
    const summary = capacityFor({ nodes, resources });
    return { ...summary, wait: summary.fitting > 0 ? null : describeWait({ nodes, resources }) };
  }
}
