import { z } from "zod";
import { ZCommitmentDraft, ZSignedCommitment } from "@/lib/chain/commitment";
import { ZMetrics } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure, signedProcedure, type TContext } from "@/server/api/trpc";
import { buildCommitmentsOf } from "@/server/chain/commitments-runtime";
import { AppError } from "@/server/errors";
import { ZAppUrl } from "@/server/ingress/app-urls";
import {
  type TCommitmentDto,
  toCommitmentDto,
  ZCommitmentDto,
  ZOnChainCheck,
} from "@/server/services/deployments/commitment-dto";
import type { TShipResult } from "@/server/services/deployments/deployment-service";
import {
  ZDeleteDeploymentResult,
  ZDeploymentDto,
  ZInstanceDto,
} from "@/server/services/deployments/instance-dto";
import { controlPlaneOf } from "./control-plane-context";

const ZBuildId = z.string().regex(/^[0-9a-f]{64}$/, "a build id is 64 hex characters");
const ZInstanceId = z.string().regex(/^i-[0-9a-f]{20}$/, "an instance id looks like i-<20 hex>");
const ZShipResult = z.object({
  deployment: ZDeploymentDto,
  instances: z.array(ZInstanceDto),
  notice: z.string().nullable(),
  /** The build commitment of this ship (pending while the console relays it). */
  commitment: ZCommitmentDto,
});

/** The newest commitment of the owner's build, as a DTO (state no-chain / not-committed without one). */
async function commitmentOf(
  ctx: Pick<TContext, "runtime">,
  opts: { owner: string; buildId: string; imageDigest: string | null },
): Promise<TCommitmentDto> {
  const service = buildCommitmentsOf(ctx.runtime);
  const row = await service.forBuild({ owner: opts.owner, buildId: opts.buildId });
  return toCommitmentDto({ row, chain: service.chain, buildId: opts.buildId, imageDigest: opts.imageDigest });
}

/** The image digest of a build (null while it has none). */
async function digestOf(ctx: Pick<TContext, "runtime">, buildId: string): Promise<string | null> {
  return (await controlPlaneOf(ctx).repos.builds.find(buildId))?.imageDigest ?? null;
}

/** A ship/rollback result with its build's commitment; `imageDigest` is that build's digest. */
async function withCommitment(
  ctx: Pick<TContext, "runtime">,
  result: TShipResult,
  imageDigest: string | null,
) {
  const d = result.deployment;
  const commitment = await commitmentOf(ctx, { owner: d.owner, buildId: d.buildId, imageDigest });
  return { ...result, commitment };
}

function actionProcedure(action: "start" | "stop" | "restart" | "delete") {
  return signedProcedure(`instance.${action}`, z.object({ instanceId: ZInstanceId }))
    .output(ZInstanceDto)
    .mutation(async ({ ctx, input }) =>
      controlPlaneOf(ctx).deployments.act({
        owner: ctx.actor.address,
        instanceId: input.params.instanceId,
        action,
      }),
    );
}

/** Instances and deployments: ship, list, get-ip, start/stop/restart/delete, rollback. */
export const instancesRouter = createTRPCRouter({
  /**
   * What the owner signs (EIP-712 BuildCommitment) to commit a build's image digest on ship; null
   * when the console has no chain configured.
   */
  commitmentDraft: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(ZCommitmentDraft.nullable())
    .query(async ({ ctx, input }) => {
      const owner = ctx.session.address;
      const build = await controlPlaneOf(ctx).deployments.shippableBuild({ owner, buildId: input.buildId });
      if (!build.imageDigest) throw new AppError("PRECONDITION_FAILED", `build ${build.id} has no image yet`);
      return buildCommitmentsOf(ctx.runtime).draft({
        owner,
        buildId: build.id,
        imageDigest: build.imageDigest,
      });
    }),

  /**
   * Ships a built image as N replicas (default 3) on distinct nodes; `notice` explains shortfalls.
   * With `commitment` (the owner's signed BuildCommitment of the build's digest) the console checks
   * it before anything changes, then relays it on chain without holding up the placement.
   */
  ship: signedProcedure(
    "instance.ship",
    z.object({
      buildId: ZBuildId,
      replicas: z.number().int().min(1).max(64).optional(),
      commitment: ZSignedCommitment.optional(),
    }),
    {
      precheck: async ({ ctx, params, envelope }) => {
        if (!params.commitment) return;
        const owner = envelope.signer;
        const build = await controlPlaneOf(ctx).deployments.shippableBuild({
          owner,
          buildId: params.buildId,
        });
        await buildCommitmentsOf(ctx.runtime).check({
          owner,
          buildId: build.id,
          imageDigest: build.imageDigest ?? "",
          commitment: params.commitment,
        });
      },
    },
  )
    .output(ZShipResult)
    .mutation(async ({ ctx, input }) => {
      const owner = ctx.actor.address;
      const result = await controlPlaneOf(ctx).deployments.ship({
        owner,
        buildId: input.params.buildId,
        ...(input.params.replicas === undefined ? {} : { replicas: input.params.replicas }),
      });
      const imageDigest = await digestOf(ctx, input.params.buildId);
      const commitment = input.params.commitment;
      if (commitment && imageDigest) {
        await buildCommitmentsOf(ctx.runtime).record({
          deploymentId: result.deployment.deploymentId,
          owner,
          buildId: input.params.buildId,
          imageDigest,
          commitment,
        });
      }
      return withCommitment(ctx, result, imageDigest);
    }),

  rollback: signedProcedure(
    "deployment.rollback",
    z.object({ name: z.string().min(1).max(128), buildId: ZBuildId }),
  )
    .output(ZShipResult)
    .mutation(async ({ ctx, input }) => {
      const result = await controlPlaneOf(ctx).deployments.rollback({
        owner: ctx.actor.address,
        ...input.params,
      });
      return withCommitment(ctx, result, await digestOf(ctx, result.deployment.buildId));
    }),

  start: actionProcedure("start"),
  stop: actionProcedure("stop"),
  restart: actionProcedure("restart"),
  delete: actionProcedure("delete"),
  /** Deletes a whole deployment: every replica, and nothing is placed for it afterwards. */
  deleteDeployment: signedProcedure(
    "deployment.delete",
    z.object({ deploymentId: z.string().min(1).max(64) }),
  )
    .output(ZDeleteDeploymentResult)
    .mutation(async ({ ctx, input }) =>
      controlPlaneOf(ctx).deployments.deleteDeployment({
        owner: ctx.actor.address,
        deploymentId: input.params.deploymentId,
      }),
    ),

  /** The caller's instances (admins: `all`), optionally of one build. */
  list: protectedProcedure
    .input(
      z.object({ buildId: ZBuildId.optional(), all: z.boolean().default(false) }).default({ all: false }),
    )
    .output(z.array(ZInstanceDto))
    .query(async ({ ctx, input }) => {
      if (input.all && !ctx.session.isAdmin)
        throw new AppError("FORBIDDEN", "Only administrators may list all instances");
      return controlPlaneOf(ctx).deployments.list({
        owner: input.all ? null : ctx.session.address,
        ...(input.buildId ? { buildId: input.buildId } : {}),
      });
    }),

  get: protectedProcedure
    .input(z.object({ instanceId: ZInstanceId }))
    .output(ZInstanceDto)
    .query(async ({ ctx, input }) =>
      controlPlaneOf(ctx).deployments.getInstance({
        viewer: ctx.session.address,
        admin: ctx.session.isAdmin,
        instanceId: input.instanceId,
      }),
    ),

  /** formnet IPs of a build's instances (`form manage get-ip --build-id`). */
  getIp: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(
      z.array(
        z.object({
          instanceId: z.string(),
          nodeId: z.string(),
          status: z.string(),
          formnetIp: z.string().nullable(),
          /** What happened to the replica (a failure, a loss), if anything. */
          reason: z.string().nullable(),
          /** Why it is on its node, when it replaced another (e.g. moved off an offline node). */
          placement: z.string().nullable(),
          /** The deployment's public URLs through the edge, one per EXPOSEd port. */
          urls: z.array(ZAppUrl),
        }),
      ),
    )
    .query(async ({ ctx, input }) => {
      const list = await controlPlaneOf(ctx).deployments.list({
        owner: ctx.session.address,
        buildId: input.buildId,
      });
      return list.map((i) => ({
        instanceId: i.instanceId,
        nodeId: i.nodeId,
        status: i.status,
        formnetIp: i.formnetIp,
        reason: i.reason,
        placement: i.placement,
        urls: i.app.urls,
      }));
    }),

  /** The caller's deployments, each with its build's commitment. */
  deployments: protectedProcedure
    .output(
      z.array(ZDeploymentDto.extend({ imageDigest: z.string().nullable(), commitment: ZCommitmentDto })),
    )
    .query(async ({ ctx }) => {
      const list = await controlPlaneOf(ctx).deployments.deployments({ owner: ctx.session.address });
      return Promise.all(
        list.map(async (d) => {
          const imageDigest = await digestOf(ctx, d.buildId);
          return {
            ...d,
            imageDigest,
            commitment: await commitmentOf(ctx, { owner: d.owner, buildId: d.buildId, imageDigest }),
          };
        }),
      );
    }),

  /**
   * Image digest ⇄ commitment of one instance's build: the recorded relay (tx, block, status) and
   * the contract's stored commitment compared with the instance's digest and owner.
   */
  commitment: protectedProcedure
    .input(z.object({ instanceId: ZInstanceId }))
    .output(z.object({ commitment: ZCommitmentDto, onChain: ZOnChainCheck.nullable() }))
    .query(async ({ ctx, input }) => {
      const instance = await controlPlaneOf(ctx).deployments.getInstance({
        viewer: ctx.session.address,
        admin: ctx.session.isAdmin,
        instanceId: input.instanceId,
      });
      const commitment = await commitmentOf(ctx, {
        owner: instance.owner,
        buildId: instance.buildId,
        imageDigest: instance.imageDigest,
      });
      const onChain = await buildCommitmentsOf(ctx.runtime).verifyOnChain({
        owner: instance.owner,
        buildId: instance.buildId,
        imageDigest: instance.imageDigest,
      });
      return { commitment, onChain };
    }),

  /** Metrics history of one instance (CPU, memory, disk, network). */
  metrics: protectedProcedure
    .input(
      z.object({
        instanceId: ZInstanceId,
        sinceMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(60),
      }),
    )
    .output(z.array(ZMetrics.extend({ at: z.date() })))
    .query(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      await cp.deployments.getInstance({
        viewer: ctx.session.address,
        admin: ctx.session.isAdmin,
        instanceId: input.instanceId,
      });
      const rows = await cp.repos.instances.metricsHistory({
        instanceId: input.instanceId,
        since: new Date(Date.now() - input.sinceMinutes * 60_000),
        limit: 5000,
      });
      return rows.map(({ at, cpuPct, memUsedMb, diskUsedGb, netRx, netTx }) => ({
        at,
        cpuPct,
        memUsedMb,
        diskUsedGb,
        netRx,
        netTx,
      }));
    }),
});
