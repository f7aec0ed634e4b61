import { z } from "zod";
import { ZReplicaStatus } from "@/lib/status";
import type { TBuildRow, TBuildsRepository } from "@/server/db/repositories/builds-repository";
import type { TDeploymentRow, TDeploymentsRepository } from "@/server/db/repositories/deployments-repository";
import type { TInstanceRow, TInstancesRepository } from "@/server/db/repositories/instances-repository";
import { AppError } from "@/server/errors";
import { ZAppUrl } from "@/server/ingress/app-urls";
import {
  appInfoOf,
  parseStoredFormfile,
  type TAppUrlSource,
  type TBuildDto,
  toBuildDto,
} from "@/server/services/builds/build-dto";
import type { TBuildCommitments } from "@/server/services/chain/build-commitments";
import type { JobService } from "@/server/services/jobs/job-service";
import {
  METRICS_HISTORY_LIMIT,
  type TMetricsSample,
  toMetricsSamples,
} from "@/server/services/metrics/metrics-dto";
import type { Scheduler } from "@/server/services/scheduler/scheduler";
import { type TCommitmentDto, toCommitmentDto, type ZOnChainCheck } from "./commitment-dto";
import {
  type TAppInfo,
  type TDeploymentDto,
  type TInstanceDto,
  toDeploymentDto,
  toInstanceDto,
} from "./instance-dto";

export type TShipResult = {
  deployment: TDeploymentDto;
  instances: TInstanceDto[];
  notice: string | null;
  /** The build commitment of this ship (pending while the console relays it). */
  commitment: TCommitmentDto;
};

/** A deployment with its builds (newest first, for rollback) and its replicas. */
export type TDeploymentDetail = {
  deployment: TDeploymentDto;
  builds: TBuildDto[];
  instances: TInstanceDto[];
};

/** A deployment with its build's image digest and commitment (`instances.deployments`). */
export type TDeploymentWithCommitment = TDeploymentDto & {
  imageDigest: string | null;
  commitment: TCommitmentDto;
};

/** One replica's formnet address as `form manage get-ip` prints it. */
export const ZInstanceIp = z.object({
  instanceId: z.string(),
  nodeId: z.string(),
  status: ZReplicaStatus.or(z.literal("deleting")),
  formnetIp: z.string().nullable(),
  /** What happened to the replica (a failure, a loss), if anything. */
  reason: z.string().nullable(),
  /** Why it is on its node, when it replaced another (e.g. moved off an offline node). */
  placement: z.string().nullable(),
  /** The deployment's public URLs through the edge, one per EXPOSEd port. */
  urls: z.array(ZAppUrl),
});
export type TInstanceIp = z.infer<typeof ZInstanceIp>;

/** Where a terminal connects, or why it cannot (the codes are the terminal's refusal codes). */
export type TTerminalTarget =
  | { ok: true; host: string; username: string; hasEntrypoint: boolean }
  | {
      ok: false;
      code: "not-found" | "instance-not-running" | "no-formnet-ip" | "auth-refused";
      message: string;
    };

const UNKNOWN_APP: TAppInfo = { name: "", sshUser: null, exposedPorts: [], url: null, urls: [] };

export type TDeploymentViewsOptions = {
  deployments: TDeploymentsRepository;
  instances: TInstancesRepository;
  builds: TBuildsRepository;
  commitments: TBuildCommitments;
  jobs: JobService;
  /** Says why a replica's boot job still waits. */
  scheduler: Scheduler;
  /** The apps' URLs through the edge (none without ingress). */
  appUrls?: TAppUrlSource;
};

/**
 * What owners (and administrators) see of deployments and their replicas: listings, details,
 * get-ip, commitments, metrics and what the network could place. Reads only; each listing costs a
 * fixed number of queries whatever the number of rows (no query per deployment or per instance).
 */
export class DeploymentViews {
  readonly #o: TDeploymentViewsOptions;

  constructor(options: TDeploymentViewsOptions) {
    this.#o = options;
  }

  /** The builds of `buildIds`, read once for a whole listing. */
  async #builds(buildIds: readonly string[]): Promise<Map<string, TBuildRow>> {
    return new Map((await this.#o.builds.findMany(buildIds)).map((b) => [b.id, b]));
  }

  async #instanceDtos(rows: readonly TInstanceRow[]): Promise<TInstanceDto[]> {
    const [builds, waiting] = await Promise.all([
      this.#builds(rows.map((r) => r.buildId)),
      this.#waiting(rows),
    ]);
    return rows.map((r) => {
      const build = builds.get(r.buildId);
      return toInstanceDto(
        r,
        build ? appInfoOf(build, this.#o.appUrls) : UNKNOWN_APP,
        waiting.get(r.id) ?? null,
      );
    });
  }

  /** Why each pending replica's boot job still waits (replica id → reason). */
  async #waiting(rows: readonly TInstanceRow[]): Promise<Map<string, string>> {
    const pending = rows.filter((r) => r.status === "pending" && r.desired === "running");
    const out = new Map<string, string>();
    if (pending.length === 0) return out;
    const boots = (await this.#o.jobs.openJobsForInstances(pending.map((r) => r.id))).filter(
      (j) => j.kind === "boot",
    );
    const reasons = await this.#o.scheduler.waitReasons(boots);
    for (const job of boots) {
      const reason = reasons.get(job.id);
      if (job.instanceId && reason) out.set(job.instanceId, reason);
    }
    return out;
  }

  async #deploymentDtos(deps: readonly TDeploymentRow[]): Promise<TDeploymentDto[]> {
    const [instances, builds] = await Promise.all([
      this.#o.instances.byDeployments(deps.map((d) => d.id)),
      this.#builds(deps.map((d) => d.buildId)),
    ]);
    return deps.map((dep) => {
      const build = builds.get(dep.buildId);
      return toDeploymentDto(dep, {
        instances: instances.get(dep.id) ?? [],
        app: build ? appInfoOf(build, this.#o.appUrls) : UNKNOWN_APP,
      });
    });
  }

  async #deploymentDto(dep: TDeploymentRow): Promise<TDeploymentDto> {
    const [dto] = await this.#deploymentDtos([dep]);
    if (!dto) throw new AppError("INTERNAL", `deployment ${dep.id} has no DTO`);
    return dto;
  }

  /** The newest commitment of the owner's build, as a DTO (no-chain / not-committed without one). */
  async commitmentOf(opts: { owner: string; buildId: string; imageDigest: string | null }) {
    const row = await this.#o.commitments.forBuild({ owner: opts.owner, buildId: opts.buildId });
    return toCommitmentDto({ row, chain: this.#o.commitments.chain, ...opts });
  }

  /** A ship or rollback's answer: the deployment, its current build's replicas and commitment. */
  async shipResult(deploymentId: string): Promise<TShipResult> {
    const dep = await this.#o.deployments.find(deploymentId);
    if (!dep) throw new AppError("NOT_FOUND", `deployment ${deploymentId} disappeared`);
    const instances = (await this.#o.instances.byDeployment(dep.id)).filter(
      (i) => i.desired !== "deleted" && i.buildId === dep.buildId,
    );
    const imageDigest = (await this.#o.builds.find(dep.buildId))?.imageDigest ?? null;
    return {
      deployment: await this.#deploymentDto(dep),
      instances: await this.#instanceDtos(instances),
      notice: dep.notice,
      commitment: await this.commitmentOf({ owner: dep.owner, buildId: dep.buildId, imageDigest }),
    };
  }

  /** An instance the viewer may see (own, or any for admins); NOT_FOUND otherwise. */
  async #visible(opts: { viewer: string; admin: boolean; instanceId: string }): Promise<TInstanceRow> {
    const row = await this.#o.instances.find(opts.instanceId);
    if (!row || row.status === "deleted" || (!opts.admin && row.owner !== opts.viewer.toLowerCase())) {
      throw new AppError("NOT_FOUND", `No instance ${opts.instanceId} of yours`);
    }
    return row;
  }

  async instance(opts: { viewer: string; admin: boolean; instanceId: string }): Promise<TInstanceDto> {
    const [dto] = await this.#instanceDtos([await this.#visible(opts)]);
    if (!dto) throw new AppError("INTERNAL", `instance ${opts.instanceId} has no DTO`);
    return dto;
  }

  /** Instances visible to the viewer (own, or all for admins: `owner` null), optionally of one build. */
  async instances(opts: { owner: string | null; buildId?: string }): Promise<TInstanceDto[]> {
    const owner = opts.owner?.toLowerCase() ?? null;
    const rows = opts.buildId
      ? await this.#o.instances.byBuild(opts.buildId)
      : await this.#o.instances.list(owner ? { owner } : {});
    return this.#instanceDtos(
      rows.filter((r) => r.status !== "deleted" && (owner === null || r.owner === owner)),
    );
  }

  /** formnet addresses of the owner's replicas of a build (`form manage get-ip`). */
  async ips(opts: { owner: string; buildId: string }): Promise<TInstanceIp[]> {
    const list = await this.instances(opts);
    return list.map((i) => ({
      instanceId: i.instanceId,
      nodeId: i.nodeId,
      status: i.status,
      formnetIp: i.formnetIp,
      reason: i.reason,
      placement: i.placement,
      urls: i.app.urls,
    }));
  }

  /** The owner's live deployments (a deleted one wants 0 replicas: it is gone for its owner). */
  async deployments(opts: { owner: string }): Promise<TDeploymentDto[]> {
    const rows = await this.#o.deployments.list({ owner: opts.owner.toLowerCase() });
    return this.#deploymentDtos(rows.filter((r) => r.replicas > 0));
  }

  /** The owner's deployments, each with its build's image digest and commitment. */
  async deploymentsWithCommitments(opts: { owner: string }): Promise<TDeploymentWithCommitment[]> {
    const owner = opts.owner.toLowerCase();
    const list = await this.deployments({ owner });
    const buildIds = list.map((d) => d.buildId);
    const [builds, commitments] = await Promise.all([
      this.#builds(buildIds),
      this.#o.commitments.forBuilds({ owner, buildIds }),
    ]);
    return list.map((d) => {
      const imageDigest = builds.get(d.buildId)?.imageDigest ?? null;
      const row = commitments.get(d.buildId) ?? null;
      const commitment = toCommitmentDto({
        row,
        chain: this.#o.commitments.chain,
        buildId: d.buildId,
        imageDigest,
      });
      return { ...d, imageDigest, commitment };
    });
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
      builds: builds.map((b) => toBuildDto(b, null, this.#o.appUrls)),
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
   * Image digest ⇄ commitment of one instance's build: the recorded relay (tx, block, status) and
   * the contract's stored commitment compared with the instance's digest and owner.
   */
  async instanceCommitment(opts: {
    viewer: string;
    admin: boolean;
    instanceId: string;
  }): Promise<{ commitment: TCommitmentDto; onChain: z.infer<typeof ZOnChainCheck> | null }> {
    const instance = await this.#visible(opts);
    const ref = { owner: instance.owner, buildId: instance.buildId, imageDigest: instance.imageDigest };
    const [commitment, onChain] = await Promise.all([
      this.commitmentOf(ref),
      this.#o.commitments.verifyOnChain(ref),
    ]);
    return { commitment, onChain };
  }

  /**
   * Where a web terminal of `owner` on `instanceId` connects: the VM's formnet address and the
   * Formfile's first USER (the certificate's principal), or why it cannot. Another account's
   * instance gets the very answer of a missing one: the terminal must not reveal which ids exist.
   */
  async terminalTarget(opts: { owner: string; instanceId: string }): Promise<TTerminalTarget> {
    const instance = await this.#o.instances.find(opts.instanceId);
    if (!instance || instance.status === "deleted" || instance.owner !== opts.owner.toLowerCase())
      return {
        ok: false,
        code: "not-found",
        message: `There is no instance ${opts.instanceId} in your account.`,
      };
    if (instance.status !== "running")
      return {
        ok: false,
        code: "instance-not-running",
        message: `Instance ${opts.instanceId} is ${instance.status}; start it to open a terminal.`,
      };
    if (!instance.formnetIp)
      return {
        ok: false,
        code: "no-formnet-ip",
        message: `Instance ${opts.instanceId} has not reported its formnet address yet.`,
      };
    const build = await this.#o.builds.find(instance.buildId);
    const formfile = build ? parseStoredFormfile(build.formfile) : null;
    const username = formfile?.users[0]?.username ?? null;
    if (!username)
      return {
        ok: false,
        code: "auth-refused",
        message: `The Formfile of build ${instance.buildId} declares no USER, so there is no account to log in to.`,
      };
    // An ENTRYPOINT's unit is what the app-log view follows (else the boot's journal).
    return { ok: true, host: instance.formnetIp, username, hasEntrypoint: Boolean(formfile?.entrypoint) };
  }

  /** Where every live instance is reachable: its node and formnet address (console peer routes). */
  placements(): Promise<{ nodeId: string; formnetIp: string | null }[]> {
    return this.#o.instances.placements();
  }

  /** Metrics history of one instance the viewer may see. */
  async instanceMetrics(opts: {
    viewer: string;
    admin: boolean;
    instanceId: string;
    sinceMinutes: number;
  }): Promise<TMetricsSample[]> {
    await this.#visible(opts);
    const rows = await this.#o.instances.metricsHistory({
      instanceId: opts.instanceId,
      since: new Date(Date.now() - opts.sinceMinutes * 60_000),
      limit: METRICS_HISTORY_LIMIT,
    });
    return toMetricsSamples(rows);
  }

  /** The owner of a deployment, or null when there is none (custom domains check their claims). */
  async deploymentOwner(deploymentId: string): Promise<string | null> {
    return (await this.#o.deployments.find(deploymentId))?.owner ?? null;
  }

  /** Whether a replica is running and meant to (the health recorder acts on no other). */
  async replicaState(instanceId: string): Promise<{ status: string; desired: string } | null> {
    const row = await this.#o.instances.find(instanceId);
    return row ? { status: row.status, desired: row.desired } : null;
  }

  /** The owner's replicas of a build that are not deleted (their health); NOT_FOUND otherwise. */
  async replicaIdsOfBuild(opts: { owner: string; buildId: string }): Promise<string[]> {
    const build = await this.#o.builds.find(opts.buildId);
    if (!build || build.owner !== opts.owner.toLowerCase())
      throw new AppError("NOT_FOUND", `No build ${opts.buildId} of yours`);
    return (await this.#o.instances.byBuild(opts.buildId))
      .filter((i) => i.status !== "deleted")
      .map((i) => i.id);
  }

  /**
   * One of the owner's deployments as the edge publishes it: its NAME, the EXPOSEd ports of the
   * build it runs and its live replicas; NOT_FOUND otherwise.
   */
  async ingressView(opts: { owner: string; deploymentId: string }): Promise<{
    deploymentId: string;
    owner: string;
    name: string;
    exposedPorts: number[];
    instanceIds: string[];
  }> {
    const dep = await this.#o.deployments.find(opts.deploymentId);
    if (!dep || dep.owner !== opts.owner.toLowerCase())
      throw new AppError("NOT_FOUND", `No deployment ${opts.deploymentId} of yours`);
    const build = await this.#o.builds.find(dep.buildId);
    const instances = (await this.#o.instances.byDeployment(dep.id)).filter(
      (i) => i.desired !== "deleted" && i.status !== "deleted",
    );
    const exposedPorts = build ? ((JSON.parse(build.formfile) as { expose?: number[] }).expose ?? []) : [];
    return {
      deploymentId: dep.id,
      owner: dep.owner,
      name: dep.name,
      exposedPorts,
      instanceIds: instances.map((i) => i.id),
    };
  }
}
