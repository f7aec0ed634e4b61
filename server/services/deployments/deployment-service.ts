import { randomBytes } from "node:crypto";
import { type Address, getAddress } from "viem";
import type { Logger } from "@/core/log";
import type { TCommitmentDraft, TSignedCommitment } from "@/lib/chain/commitment";
import { SUSPEND_MIN_PROTOCOL, type TJobSpec } from "@/lib/protocol";
import { isShippableBuild } from "@/lib/status";
import type { TBuildRow, TBuildsRepository } from "@/server/db/repositories/builds-repository";
import type { TDeploymentsRepository } from "@/server/db/repositories/deployments-repository";
import type { TInstanceRow, TInstancesRepository } from "@/server/db/repositories/instances-repository";
import { AppError } from "@/server/errors";
import type { TBuildCommitments } from "@/server/services/chain/build-commitments";
import type { JobService } from "@/server/services/jobs/job-service";
import type { DeploymentViews, TShipResult } from "./deployment-views";
import type { TDeleteDeploymentResult, TInstanceDto } from "./instance-dto";
import type { Reconciler } from "./reconciler";

export type TInstanceAction = "start" | "stop" | "restart" | "delete";

/** What an owner asks of one instance; `suspend` (stop only) keeps the guest's memory. */
export type TActRequest = { owner: string; instanceId: string; action: TInstanceAction; suspend?: boolean };

export type TDeploymentServiceOptions = {
  deployments: TDeploymentsRepository;
  instances: TInstancesRepository;
  builds: TBuildsRepository;
  /** The protocol a node's agent said in its hello: only newer agents can suspend. */
  nodes: { find(nodeId: string): Promise<{ protocolVersion: number } | null> };
  jobs: JobService;
  reconciler: Reconciler;
  commitments: TBuildCommitments;
  /** The answers (ship results, instance DTOs) are the views'. */
  views: DeploymentViews;
  replicas: { default: number; max: number };
  /** The console's blob store: a build's image may have gone with the retention policy. */
  images: { size(digest: string): Promise<number | null> };
  /** FORMATION_IMAGE_KEEP_BUILDS, named when an image is gone. */
  imageKeepBuilds: number;
  log: Logger;
};

/**
 * What owners do to deployments: ship (with the build commitment they signed), roll back, delete,
 * and start/stop/restart/delete one instance. The reconciler carries the desired state out.
 */
export class DeploymentService {
  readonly #o: TDeploymentServiceOptions;

  constructor(options: TDeploymentServiceOptions) {
    this.#o = options;
  }

  /** The owner's build if it can be shipped (built, image uploaded); throws NOT_FOUND / PRECONDITION_FAILED. */
  async shippableBuild(opts: {
    owner: string;
    buildId: string;
  }): Promise<TBuildRow & { imageDigest: string }> {
    const build = await this.#o.builds.find(opts.buildId);
    if (!build || build.owner !== opts.owner.toLowerCase())
      throw new AppError("NOT_FOUND", `No build ${opts.buildId} of yours`);
    const { imageDigest } = build;
    if (!imageDigest || !isShippableBuild(build.status)) {
      throw new AppError(
        "PRECONDITION_FAILED",
        `build ${opts.buildId} is ${build.status}; ship it once it is built (see form pack status)`,
      );
    }
    if ((await this.#o.images.size(imageDigest)) === null) {
      throw new AppError(
        "PRECONDITION_FAILED",
        `build ${opts.buildId}'s image is no longer kept: the console keeps the images of deployed builds and of the ${this.#o.imageKeepBuilds} newest builds of each NAME; build it again (form pack build)`,
      );
    }
    return { ...build, imageDigest };
  }

  /**
   * What the owner signs (EIP-712 BuildCommitment) to commit a build's image digest on ship; null
   * when the console has no chain configured.
   */
  async commitmentDraft(opts: { owner: Address; buildId: string }): Promise<TCommitmentDraft | null> {
    const build = await this.shippableBuild(opts);
    return this.#o.commitments.draft({
      owner: opts.owner,
      buildId: build.id,
      imageDigest: build.imageDigest,
    });
  }

  /**
   * Throws unless `commitment` is the owner's valid signature over this build's digest here: runs
   * before a ship changes anything (the signed procedure's precheck).
   */
  async checkShipCommitment(opts: { owner: Address; buildId: string; commitment: TSignedCommitment }) {
    const build = await this.shippableBuild(opts);
    await this.#o.commitments.check({
      owner: opts.owner,
      buildId: build.id,
      imageDigest: build.imageDigest,
      commitment: opts.commitment,
    });
  }

  /**
   * Ships a build as the deployment named after its Formfile NAME: N replicas (default 3) on
   * distinct nodes. When fewer nodes qualify, it places what it can and says so in `notice`. A
   * signed commitment is recorded and relayed on chain in the background (placement never waits).
   */
  async ship(opts: {
    owner: string;
    buildId: string;
    replicas?: number;
    commitment?: TSignedCommitment;
  }): Promise<TShipResult> {
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
      fresh: true,
    });
    await this.#o.reconciler.reconcile(dep.id);
    this.#o.log.info({ deploymentId: dep.id, buildId: build.id, replicas }, "shipped");
    if (opts.commitment) {
      await this.#o.commitments.record({
        deploymentId: dep.id,
        owner: getAddress(opts.owner),
        buildId: build.id,
        imageDigest: build.imageDigest,
        commitment: opts.commitment,
      });
    }
    return this.#o.views.shipResult(dep.id);
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
    await this.#o.deployments.upsert({ ...dep, buildId: build.id, fresh: true });
    await this.#o.reconciler.reconcile(dep.id);
    return this.#o.views.shipResult(dep.id);
  }

  async #owned(opts: { owner: string; instanceId: string }): Promise<TInstanceRow> {
    const row = await this.#o.instances.find(opts.instanceId);
    if (!row || row.status === "deleted" || row.owner !== opts.owner.toLowerCase()) {
      throw new AppError("NOT_FOUND", `No instance ${opts.instanceId} of yours`);
    }
    return row;
  }

  /**
   * Throws what `act` would refuse (not yours, being deleted, a suspend this instance or its node
   * cannot do) before anything changes: the signed procedure's precheck, so a refused request
   * leaves no trace but its rejection.
   */
  async checkAction(opts: TActRequest): Promise<void> {
    await this.#actionable(opts);
  }

  async #actionable(opts: TActRequest): Promise<TInstanceRow> {
    const row = await this.#owned(opts);
    if (row.desired === "deleted")
      throw new AppError("PRECONDITION_FAILED", `instance ${row.id} is being deleted`);
    if (opts.suspend) await this.#checkSuspend(row, opts.action);
    return row;
  }

  /**
   * A suspend saves a running guest's memory on its node, and only agents of protocol ≥ 7 know how
   * (an older one would drop the flag and shut the guest down, losing what the owner asked to keep).
   */
  async #checkSuspend(row: TInstanceRow, action: TInstanceAction): Promise<void> {
    if (action !== "stop") throw new AppError("BAD_REQUEST", `only a stop can suspend, not a ${action}`);
    const node = await this.#o.nodes.find(row.nodeId);
    const version = node?.protocolVersion ?? 0;
    if (version < SUSPEND_MIN_PROTOCOL) {
      throw new AppError(
        "PRECONDITION_FAILED",
        `instance ${row.id} is on node ${row.nodeId}, which runs an older node agent (protocol ${version}) that cannot suspend instances (suspend needs protocol ${SUSPEND_MIN_PROTOCOL}); nothing was changed — stop it without suspending, or ask the node's operator to upgrade its agent`,
      );
    }
    if (row.status !== "running") {
      throw new AppError(
        "PRECONDITION_FAILED",
        row.status === "suspended"
          ? `instance ${row.id} is already suspended; start it to resume it`
          : `instance ${row.id} is ${row.status}: only a running instance can be suspended (its memory is what is kept)`,
      );
    }
  }

  /**
   * start / stop / restart / delete of one instance; the agent hosting it does the work. A stop
   * with `suspend` keeps the guest's memory on its node (status `suspended`); a start resumes it.
   */
  async act(opts: TActRequest): Promise<TInstanceDto> {
    const row = await this.#actionable(opts);
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
      const payload = { instanceId: row.id };
      const spec: TJobSpec =
        opts.action === "stop"
          ? { kind: "stop", payload: opts.suspend ? { ...payload, suspend: true } : payload }
          : { kind: opts.action, payload };
      await this.#o.jobs.enqueue({
        ...spec,
        nodeId: row.nodeId,
        owner: row.owner,
        idempotencyKey: `${opts.action}:${row.id}:${Date.now()}`,
        instanceId: row.id,
        maxAttempts: 3,
      });
    }
    return this.#o.views.instance({ viewer: opts.owner, admin: false, instanceId: row.id });
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

  /**
   * The ingress health recorder's first answer to a replica that stays unhealthy: says so on the
   * replica and queues one restart on its node (idempotent per restart number).
   */
  async restartUnhealthy(opts: { instanceId: string; nodeId: string; restart: number; reason: string }) {
    await this.#o.instances.update(opts.instanceId, { reason: `restarting: unhealthy — ${opts.reason}` });
    await this.#o.jobs.enqueue({
      kind: "restart",
      payload: { instanceId: opts.instanceId },
      nodeId: opts.nodeId,
      idempotencyKey: `health-restart:${opts.instanceId}:${opts.restart}`,
      instanceId: opts.instanceId,
      maxAttempts: 3,
    });
  }

  /**
   * The health recorder's last answer: the replica failed (unhealthy again after a restart) and the
   * reconciler places a replacement that says why.
   */
  async replaceUnhealthy(opts: { instanceId: string; deploymentId: string; reason: string }) {
    await this.#o.instances.update(opts.instanceId, { status: "failed", reason: opts.reason });
    await this.#o.reconciler.reconcile(opts.deploymentId);
  }
}
