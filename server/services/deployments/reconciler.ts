import { randomBytes } from "node:crypto";
import type { Logger } from "@/core/log";
import {
  agentImagePath,
  LAYERED_IMAGE_MIN_PROTOCOL,
  MIN_SUPPORTED_PROTOCOL_VERSION,
  PREFETCH_MIN_PROTOCOL,
  peersForProtocol,
  SUSPEND_MIN_PROTOCOL,
  type TInstanceStatus,
  type TJobResult,
  ZStopPayload,
} from "@/lib/protocol";
import { isPlacedReplica } from "@/lib/status";
import type { TBuildsRepository } from "@/server/db/repositories/builds-repository";
import type { TDeploymentRow, TDeploymentsRepository } from "@/server/db/repositories/deployments-repository";
import type { TInstanceRow, TInstancesRepository } from "@/server/db/repositories/instances-repository";
import type { TNodeRow } from "@/server/db/repositories/nodes-repository";
import { parseStoredFormfile } from "@/server/services/builds/build-dto";
import type { BuildService } from "@/server/services/builds/build-service";
import type { JobService } from "@/server/services/jobs/job-service";
import type { TJobEvent } from "@/server/services/jobs/types";
import type { FormnetService } from "@/server/services/nodes/formnet-service";
import type { TCandidateNode, TResources } from "@/server/services/scheduler/placement";
import type { Scheduler } from "@/server/services/scheduler/scheduler";

/**
 * A replica its owner stopped (or suspended: desired `stopped` too, its memory kept on its node), on
 * a node that went offline: kept, not replaced.
 */
const stoppedWhileLost = (i: TInstanceRow) => i.status === "lost" && i.desired === "stopped";

/**
 * A replica its owner stopped whose VM went down on its own (its node lost the stop with the agent,
 * and the guest's shutdown finished with nobody watching) is stopped, not failed: failed replicas
 * are replaced by running ones, which is not what the owner asked for.
 */
function asOwnerAsked(row: TInstanceRow, reported: TInstanceStatus): TInstanceStatus {
  return row.desired === "stopped" && reported === "failed" ? "stopped" : reported;
}

/** The deployment notice once failed boots stopped placement (until a replica runs or a new ship). */
const STOPPED = "stopped placing replicas";

export type TReconcilerOptions = {
  deployments: TDeploymentsRepository;
  instances: TInstancesRepository;
  builds: TBuildsRepository;
  buildService: BuildService;
  jobs: JobService;
  /** The protocol a node's agent said in its hello (a stop sent again suspends only on ≥ 7). */
  nodes: { find(nodeId: string): Promise<{ protocolVersion: number } | null> };
  /** Where replicas go (placement) and what the network has free. */
  scheduler: Scheduler;
  formnet: FormnetService;
  log: Logger;
};

/**
 * Drives deployments towards what their owners asked for: N replicas of the current build on
 * distinct healthy nodes. Placement failures, node loss and returning nodes all converge through
 * `reconcile`: missing replicas are placed elsewhere, surplus ones (e.g. on a node that came back)
 * are deleted, replicas of a previous build are removed once the current build's are running.
 */
export class Reconciler {
  readonly #o: TReconcilerOptions;
  readonly #locks = new Map<string, Promise<void>>();

  constructor(options: TReconcilerOptions) {
    this.#o = options;
    options.jobs.onEvent((event) => this.#onJobEvent(event));
  }

  /** Serialises reconciles of one deployment within this process. */
  async reconcile(deploymentId: string): Promise<void> {
    const previous = this.#locks.get(deploymentId) ?? Promise.resolve();
    const next = previous.then(() => this.#reconcile(deploymentId));
    const settled = next.catch(() => undefined);
    this.#locks.set(deploymentId, settled);
    try {
      await next;
    } finally {
      if (this.#locks.get(deploymentId) === settled) this.#locks.delete(deploymentId);
    }
  }

  /** Reconciles every deployment (the sweeper's periodic pass). */
  async reconcileAll(): Promise<void> {
    for (const d of await this.#o.deployments.list({})) await this.reconcile(d.id);
  }

  async #reconcile(deploymentId: string): Promise<void> {
    const dep = await this.#o.deployments.find(deploymentId);
    if (!dep) return;
    const build = await this.#o.builds.find(dep.buildId);
    if (!build?.imageDigest) return;
    const all = (await this.#o.instances.byDeployment(dep.id)).filter((i) => i.desired !== "deleted");
    const current = all.filter((i) => i.buildId === dep.buildId);
    // A replica its owner stopped stays theirs while its node is away: it is not replaced by a
    // running one (the owner asked for it not to run), and it is stopped again if it comes back up.
    const counted = current.filter((i) => isPlacedReplica(i.status) || stoppedWhileLost(i));
    const everyNode = await this.#o.scheduler.candidates();
    const healthy = new Set(everyNode.filter((c) => c.healthy).map((c) => c.id));
    // Only agents that fetch a layer's base can boot a layered image.
    const candidates = build.baseDigest
      ? everyNode.filter((n) => n.protocolVersion >= LAYERED_IMAGE_MIN_PROTOCOL)
      : everyNode;

    // Surplus: keep replicas on healthy nodes, the oldest first; delete the rest.
    if (counted.length > dep.replicas) {
      const ranked = [...counted].sort(
        (a, b) =>
          Number(healthy.has(b.nodeId)) - Number(healthy.has(a.nodeId)) ||
          a.createdAt.getTime() - b.createdAt.getTime(),
      );
      for (const extra of ranked.slice(dep.replicas)) {
        await this.deleteInstance(extra, `surplus replica (deployment wants ${dep.replicas})`);
      }
    }

    // Failed replicas are cleaned up; the slot is refilled below, a bounded number of times (the
    // count outlives the rows, whose deletes finish at once on a node that cannot boot the image).
    const failed = current.filter((i) => i.status === "failed");
    for (const f of failed) await this.deleteInstance(f, f.reason ?? "boot failed");
    const failures =
      failed.length > 0
        ? (await this.#o.deployments.addBootFailures(dep.id, failed.length)).bootFailures
        : dep.bootFailures;
    const failedRows = (await this.#o.instances.byDeployment(dep.id)).filter(
      (i) => i.buildId === dep.buildId && i.status === "failed",
    );

    let notice: string | null = null;
    const missing = dep.replicas - counted.length;
    if (missing > 0) {
      if (failures >= Math.max(3, dep.replicas * 2)) {
        const last = failed.at(-1)?.reason;
        notice =
          last || !dep.notice?.startsWith(STOPPED)
            ? `${STOPPED} after ${failures} failed boots; last reason: ${last ?? "unknown"}`
            : dep.notice;
      } else {
        const { vcpu, memoryMb, diskGb } = parseStoredFormfile(build.formfile).resources;
        const r = { vcpu, memoryMb, diskGb };
        const hosting = current.filter((i) => i.status !== "deleted").map((i) => i.nodeId);
        const avoid = failedRows.map((f) => f.nodeId);
        const placement = this.#o.scheduler.placeReplicas({
          nodes: candidates,
          resources: r,
          count: missing,
          hosting: new Set(hosting),
          // Nodes where this build already failed to boot are tried last: not at all in this round.
          avoid: new Set(avoid),
          seed: dep.buildId,
        });
        // A replacement says what it replaces and why (users see it in get-ip and on the page):
        // a replica lost with its node, or one that failed (its boot, or its health checks).
        const replacedRows = [
          ...current.filter((i) => i.status === "lost" && !stoppedWhileLost(i)),
          ...failed,
        ];
        for (const [index, nodeId] of placement.nodeIds.entries()) {
          const replaced = replacedRows[index];
          const reason = replaced
            ? `replaces ${replaced.id} on node ${replaced.nodeId}: ${replaced.reason ?? "lost"}`
            : null;
          await this.#place({ dep, nodeId, imageDigest: build.imageDigest, r, reason });
        }
        notice = placement.wait;
        if (placement.nodeIds.length > 0) {
          await this.#o.buildService.deployPhase(dep.buildId, "distributing");
          await this.#prefetchStandby({
            dep,
            imageDigest: build.imageDigest,
            candidates,
            r,
            hosting: [...hosting, ...placement.nodeIds],
            avoid,
          });
        }
      }
    }

    // Replicas of an earlier build go once the current build's are all running.
    const old = all.filter((i) => i.buildId !== dep.buildId && i.status !== "deleted");
    const running = current.filter((i) => i.status === "running").length;
    if (old.length > 0 && running >= Math.min(dep.replicas, Math.max(1, counted.length))) {
      for (const o of old) await this.deleteInstance(o, `replaced by build ${dep.buildId.slice(0, 12)}`);
    }
    if (notice !== dep.notice) await this.#o.deployments.setNotice(dep.id, notice);
  }

  /**
   * The node a replacement replica would go to next (the same placement rules, one more replica)
   * fetches the image now, so a heal there boots without a download. Only agents that understand
   * `prefetch` get one; one job per (image, node).
   */
  async #prefetchStandby(opts: {
    dep: TDeploymentRow;
    imageDigest: string;
    candidates: readonly TCandidateNode[];
    r: TResources;
    hosting: readonly string[];
    avoid: readonly string[];
  }): Promise<void> {
    const nodes = opts.candidates.filter((n) => n.protocolVersion >= PREFETCH_MIN_PROTOCOL);
    const [standby] = this.#o.scheduler.placeReplicas({
      nodes,
      resources: opts.r,
      count: 1,
      hosting: new Set(opts.hosting),
      avoid: new Set(opts.avoid),
      seed: opts.dep.buildId,
    }).nodeIds;
    if (!standby) return;
    await this.#o.jobs.enqueue({
      kind: "prefetch",
      payload: {
        imageUrl: agentImagePath(opts.imageDigest),
        imageDigest: opts.imageDigest,
        vm: { vcpu: opts.r.vcpu, memoryMb: opts.r.memoryMb, diskGb: opts.r.diskGb },
      },
      nodeId: standby,
      owner: opts.dep.owner,
      idempotencyKey: `prefetch:${opts.imageDigest}:${standby}`,
      maxAttempts: 2,
    });
    this.#o.log.info(
      { nodeId: standby, deploymentId: opts.dep.id, imageDigest: opts.imageDigest },
      "image prefetch queued on a standby node",
    );
  }

  async #place(opts: {
    dep: TDeploymentRow;
    nodeId: string;
    imageDigest: string;
    r: { vcpu: number; memoryMb: number; diskGb: number };
    reason: string | null;
  }): Promise<void> {
    const id = `i-${randomBytes(10).toString("hex")}`;
    const formnetIp = await this.#o.formnet.allocate({ kind: "instance", ref: id });
    await this.#o.instances.create({
      id,
      deploymentId: opts.dep.id,
      buildId: opts.dep.buildId,
      owner: opts.dep.owner,
      nodeId: opts.nodeId,
      status: "pending",
      desired: "running",
      formnetIp,
      imageDigest: opts.imageDigest,
      vcpu: opts.r.vcpu,
      memoryMb: opts.r.memoryMb,
      diskGb: opts.r.diskGb,
      placement: opts.reason,
    });
    const ownerPeers = (await this.#o.formnet.peers()).filter(
      // User devices are stored with ref `<address>:<publicKey>` (one address may join several);
      // console members reach every VM (web terminal, health checks).
      (p) => p.kind === "console" || (p.kind === "user" && p.ref.startsWith(`${opts.dep.owner}:`)),
    );
    await this.#o.jobs.enqueue({
      kind: "boot",
      payload: {
        instanceId: id,
        buildId: opts.dep.buildId,
        imageUrl: agentImagePath(opts.imageDigest),
        imageDigest: opts.imageDigest,
        vcpu: opts.r.vcpu,
        memoryMb: opts.r.memoryMb,
        diskGb: opts.r.diskGb,
        formnetIp,
        // The job is stored before an agent takes it: the payload must suit the oldest protocol
        // still admitted (console members as /32 peers of kind `user`; agents use only `.ip`).
        ownerPeers: peersForProtocol(ownerPeers, MIN_SUPPORTED_PROTOCOL_VERSION),
      },
      nodeId: opts.nodeId,
      owner: opts.dep.owner,
      idempotencyKey: `boot:${id}`,
      buildId: opts.dep.buildId,
      instanceId: id,
    });
    this.#o.log.info({ instanceId: id, nodeId: opts.nodeId, deploymentId: opts.dep.id }, "replica placed");
  }

  /** Marks an instance for deletion and asks its node to delete the VM (queued until it connects). */
  async deleteInstance(instance: TInstanceRow, reason: string): Promise<void> {
    await this.#o.instances.update(instance.id, { desired: "deleted", reason });
    for (const job of await this.#o.jobs.openJobsForInstance(instance.id)) {
      if (job.kind !== "delete") await this.#o.jobs.cancel(job.id, `instance deleted: ${reason}`);
    }
    await this.#o.jobs.enqueue({
      kind: "delete",
      payload: { instanceId: instance.id },
      nodeId: instance.nodeId,
      idempotencyKey: `delete:${instance.id}`,
      instanceId: instance.id,
    });
  }

  /** Fails replicas that did not come up within `timeoutMs` of their boot's start (placement, start, crash restart); they are replaced. */
  async sweepBootDeadlines(timeoutMs: number, now = new Date()): Promise<number> {
    const late = await this.#o.instances.bootingSince(new Date(now.getTime() - timeoutMs));
    for (const i of late) {
      const reason = `boot did not finish within ${timeoutMs / 1000} s of its start (still ${i.status} on node ${i.nodeId})`;
      for (const job of await this.#o.jobs.openJobsForInstance(i.id))
        await this.#o.jobs.cancel(job.id, reason);
      await this.#o.instances.update(i.id, { status: "failed", reason });
      this.#o.log.warn({ instanceId: i.id, nodeId: i.nodeId }, reason);
      await this.reconcile(i.deploymentId);
    }
    return late.length;
  }

  /** A node went offline: its replicas are lost and replaced elsewhere. */
  async nodeOffline(node: TNodeRow): Promise<void> {
    const deployments = new Set<string>();
    for (const i of await this.#o.instances.byNode(node.id)) {
      if (i.desired === "deleted") continue;
      await this.#o.instances.update(i.id, {
        status: "lost",
        reason: `node ${node.id} offline: ${node.statusReason ?? "heartbeats lapsed"}`,
      });
      deployments.add(i.deploymentId);
      for (const job of await this.#o.jobs.openJobsForInstance(i.id)) {
        await this.#o.jobs.cancel(job.id, `node ${node.id} went offline`);
      }
    }
    for (const id of deployments) await this.reconcile(id);
  }

  /** An agent (re)connected and listed the VMs it runs: re-adopt ours, remove what should not run. */
  async adopt(nodeId: string, reported: { instanceId: string; status: TInstanceStatus }[]): Promise<void> {
    const deployments = new Set<string>();
    for (const r of reported) {
      const row = await this.#o.instances.find(r.instanceId);
      if (!row || row.nodeId !== nodeId || row.desired === "deleted") {
        await this.#o.jobs.enqueue({
          kind: "delete",
          payload: { instanceId: r.instanceId },
          nodeId,
          idempotencyKey: row ? `delete:${row.id}` : `orphan:${nodeId}:${r.instanceId}`,
          instanceId: r.instanceId,
        });
        continue;
      }
      if (await this.#replacedWhileAway(row)) continue;
      if ((await this.#bootNotDone(row, r.status)) || (await this.#stopNotDone(row, r.status))) continue;
      const status = asOwnerAsked(row, r.status);
      if (row.status !== status) {
        await this.#o.instances.reportStatus({ id: row.id, nodeId, status, reason: null });
        deployments.add(row.deploymentId);
      }
    }
    // Replicas this node should hold but did not list are gone (the host rebooted, or its VMs were
    // deleted with it): end them here and let reconcile place what is still wanted. Replicas whose
    // boot job is still open are on their way and stay.
    const listed = new Set(reported.map((r) => r.instanceId));
    for (const row of await this.#o.instances.byNode(nodeId)) {
      if (listed.has(row.id) || row.desired === "deleted") continue;
      if ((await this.#o.jobs.openJobsForInstance(row.id)).length > 0) continue;
      await this.deleteInstance(row, `node ${nodeId} came back without this VM (host restarted)`);
      deployments.add(row.deploymentId);
    }
    for (const id of deployments) await this.reconcile(id);
  }

  /**
   * A replica marked lost shows up again (its node returned). If the deployment was made whole
   * meanwhile, the returning replica is the surplus one: delete it rather than a healthy new one.
   */
  async #replacedWhileAway(row: TInstanceRow): Promise<boolean> {
    if (row.status !== "lost") return false;
    const dep = await this.#o.deployments.find(row.deploymentId);
    const others = dep
      ? (await this.#o.instances.byDeployment(dep.id)).filter(
          (i) =>
            i.id !== row.id &&
            i.buildId === dep.buildId &&
            i.desired !== "deleted" &&
            isPlacedReplica(i.status),
        )
      : [];
    if (dep && row.buildId === dep.buildId && others.length < dep.replicas) return false;
    await this.deleteInstance(row, "replaced while its node was offline");
    return true;
  }

  /**
   * Agents list a VM whose QEMU process is up as "running" (hello, heartbeats) before its guest
   * answers SSH; while its boot job is open, only that job's completion (sshd answered) may make
   * the replica "running" — otherwise users (and a console restarted mid-boot) see it too early.
   */
  async #bootNotDone(row: TInstanceRow, reported: TInstanceStatus): Promise<boolean> {
    if (reported !== "running" || row.status === "running") return false;
    return (await this.#o.jobs.openJobsForInstance(row.id)).some((j) => j.kind === "boot");
  }

  /**
   * A VM keeps running while its guest shuts down, and its agent says so in every report; while
   * the stop job is open the replica stays "stopping" rather than flicking back to "running".
   */
  async #stopNotDone(row: TInstanceRow, reported: TInstanceStatus): Promise<boolean> {
    if (row.desired !== "stopped" || reported !== "running") return false;
    if ((await this.#o.jobs.openJobsForInstance(row.id)).some((j) => j.kind === "stop")) return true;
    // Its stop was lost with its node (the job cancelled when the node went offline, or the agent
    // restarted before the VM went down): stop it again — a suspend again if that is what the owner
    // asked, so the guest's memory is still kept.
    const suspend = await this.#suspendAsked(row);
    await this.#o.instances.update(row.id, {
      status: "stopping",
      reason: `${suspend ? "suspending" : "stopping"} again: the VM came back up`,
    });
    await this.#o.jobs.enqueue({
      kind: "stop",
      payload: suspend ? { instanceId: row.id, suspend: true } : { instanceId: row.id },
      nodeId: row.nodeId,
      owner: row.owner,
      idempotencyKey: `stop:${row.id}:${Date.now()}`,
      instanceId: row.id,
      maxAttempts: 3,
    });
    this.#o.log.info(
      { instanceId: row.id, nodeId: row.nodeId },
      "stopped replica reported running: stopping it again",
    );
    return true;
  }

  /** Whether the replica's last stop was a suspend, and its node's agent can still suspend. */
  async #suspendAsked(row: TInstanceRow): Promise<boolean> {
    const last = await this.#o.jobs.latestJobForInstance(row.id, "stop");
    if (!last || ZStopPayload.safeParse(JSON.parse(last.payload)).data?.suspend !== true) return false;
    return ((await this.#o.nodes.find(row.nodeId))?.protocolVersion ?? 0) >= SUSPEND_MIN_PROTOCOL;
  }

  /** `instance.status` from the agent hosting the instance. */
  async report(
    nodeId: string,
    r: { instanceId: string; status: TInstanceStatus; formnetIp?: string; reason?: string },
  ): Promise<boolean> {
    const row = await this.#o.instances.find(r.instanceId);
    if (!row || row.nodeId !== nodeId) return false;
    if ((row.desired === "deleted" && r.status !== "deleted") || (await this.#replacedWhileAway(row)))
      return true;
    if ((await this.#bootNotDone(row, r.status)) || (await this.#stopNotDone(row, r.status))) return true;
    const status = asOwnerAsked(row, r.status);
    await this.#o.instances.reportStatus({
      id: row.id,
      nodeId,
      status,
      reason: r.reason ?? null,
      ...(r.formnetIp === undefined ? {} : { formnetIp: r.formnetIp }),
    });
    if (status === "running") await this.#replicaUp(row);
    if (row.status !== status) await this.reconcile(row.deploymentId);
    return true;
  }

  async #onJobEvent(event: TJobEvent): Promise<void> {
    const instanceId = event.job.instanceId;
    if (!instanceId || event.job.kind === "build") return;
    if (
      event.type === "leased" ||
      event.type === "progress" ||
      event.type === "log" ||
      event.type === "cancelled"
    ) {
      return;
    }
    const row = await this.#o.instances.find(instanceId);
    if (!row) return;
    const kind = event.job.kind;
    if (event.type === "running" && kind === "boot") {
      // The ack's "running" event can be handled after the same job's completion (both frames
      // arrive back to back); a replica its boot job already made running must not go back.
      if (row.status === "running") return;
      await this.#o.instances.reportStatus({
        id: row.id,
        nodeId: row.nodeId,
        status: "booting",
        reason: null,
      });
      await this.#o.buildService.deployPhase(row.buildId, "booting");
    } else if (event.type === "completed") {
      await this.#completed(row, event.result);
    } else if (event.type === "failed") {
      const status = kind === "boot" ? "failed" : row.status;
      await this.#o.instances.update(row.id, { status, reason: `${kind} failed: ${event.reason}` });
      if (kind === "boot") await this.reconcile(row.deploymentId);
    } else if (event.type === "requeued" && kind === "boot") {
      await this.#o.instances.update(row.id, { status: "pending", reason: event.reason });
    }
  }

  /** A replica runs: its build is deployed, and the failures before it no longer count. */
  async #replicaUp(row: TInstanceRow): Promise<void> {
    await this.#o.buildService.deployPhase(row.buildId, "running");
    await this.#o.deployments.resetBootFailures(row.deploymentId);
  }

  async #completed(row: TInstanceRow, result: TJobResult): Promise<void> {
    switch (result.kind) {
      case "boot":
        await this.#o.instances.update(row.id, {
          status: "running",
          reason: null,
          formnetIp: result.formnetIp,
        });
        if (result.publicKey) {
          await this.#o.formnet.allocate({ kind: "instance", ref: row.id, publicKey: result.publicKey });
        }
        await this.#replicaUp(row);
        await this.reconcile(row.deploymentId);
        return;
      case "delete":
        await this.#o.instances.update(row.id, { status: "deleted", formnetIp: null });
        await this.#o.formnet.release(row.id);
        return;
      case "stop":
        // A suspend kept the guest's memory: `suspended` (a start resumes it), placed like `stopped`.
        await this.#o.instances.update(row.id, {
          status: result.suspended ? "suspended" : "stopped",
          reason: null,
        });
        return;
      default:
        await this.#o.instances.update(row.id, { status: "running", reason: null });
    }
  }
}
