import { z } from "zod";
import { ZCommitmentDraft, ZSignedCommitment } from "@/lib/chain/commitment";
import { createTRPCRouter, protectedProcedure, signedProcedure } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import { ZCommitmentDto, ZOnChainCheck } from "@/server/services/deployments/commitment-dto";
import type { TInstanceAction } from "@/server/services/deployments/deployment-service";
import { ZInstanceIp } from "@/server/services/deployments/deployment-views";
import {
  ZDeleteDeploymentResult,
  ZDeploymentDto,
  ZInstanceDto,
} from "@/server/services/deployments/instance-dto";
import { ZMetricsSample, ZSinceMinutes } from "@/server/services/metrics/metrics-dto";

const ZBuildId = z.string().regex(/^[0-9a-f]{64}$/, "a build id is 64 hex characters");
const ZInstanceId = z.string().regex(/^i-[0-9a-f]{20}$/, "an instance id looks like i-<20 hex>");
const ZShipResult = z.object({
  deployment: ZDeploymentDto,
  instances: z.array(ZInstanceDto),
  notice: z.string().nullable(),
  /** The build commitment of this ship (pending while the console relays it). */
  commitment: ZCommitmentDto,
});

function actionProcedure(action: TInstanceAction) {
  return signedProcedure(`instance.${action}`, z.object({ instanceId: ZInstanceId }))
    .output(ZInstanceDto)
    .mutation(({ ctx, input }) =>
      ctx.services.deployments.act({ owner: ctx.actor.address, instanceId: input.params.instanceId, action }),
    );
}

/** Instances and deployments: ship, list, get-ip, start/stop (or suspend)/restart/delete, rollback. */
export const instancesRouter = createTRPCRouter({
  /**
   * What the owner signs (EIP-712 BuildCommitment) to commit a build's image digest on ship; null
   * when the console has no chain configured.
   */
  commitmentDraft: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(ZCommitmentDraft.nullable())
    .query(({ ctx, input }) =>
      ctx.services.deployments.commitmentDraft({ owner: ctx.session.address, buildId: input.buildId }),
    ),

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
        await ctx.services.deployments.checkShipCommitment({
          owner: envelope.signer,
          buildId: params.buildId,
          commitment: params.commitment,
        });
      },
    },
  )
    .output(ZShipResult)
    .mutation(({ ctx, input }) => {
      const { buildId, replicas, commitment } = input.params;
      return ctx.services.deployments.ship({
        owner: ctx.actor.address,
        buildId,
        ...(replicas === undefined ? {} : { replicas }),
        ...(commitment === undefined ? {} : { commitment }),
      });
    }),

  rollback: signedProcedure(
    "deployment.rollback",
    z.object({ name: z.string().min(1).max(128), buildId: ZBuildId }),
  )
    .output(ZShipResult)
    .mutation(({ ctx, input }) =>
      ctx.services.deployments.rollback({ owner: ctx.actor.address, ...input.params }),
    ),

  start: actionProcedure("start"),
  /**
   * Stops the instance: its guest shuts down. With `suspend` its memory and device state are saved
   * on its node instead and a later `start` resumes it; only nodes whose agent speaks protocol ≥ 7
   * can, and a suspend the instance or its node cannot do is refused before anything changes.
   */
  stop: signedProcedure(
    "instance.stop",
    z.object({ instanceId: ZInstanceId, suspend: z.boolean().optional() }),
    {
      precheck: async ({ ctx, params, envelope }) => {
        if (!params.suspend) return;
        await ctx.services.deployments.checkAction({
          owner: envelope.signer,
          instanceId: params.instanceId,
          action: "stop",
          suspend: true,
        });
      },
    },
  )
    .output(ZInstanceDto)
    .mutation(({ ctx, input }) =>
      ctx.services.deployments.act({
        owner: ctx.actor.address,
        instanceId: input.params.instanceId,
        action: "stop",
        ...(input.params.suspend ? { suspend: true } : {}),
      }),
    ),
  restart: actionProcedure("restart"),
  delete: actionProcedure("delete"),
  /** Deletes a whole deployment: every replica, and nothing is placed for it afterwards. */
  deleteDeployment: signedProcedure(
    "deployment.delete",
    z.object({ deploymentId: z.string().min(1).max(64) }),
  )
    .output(ZDeleteDeploymentResult)
    .mutation(({ ctx, input }) =>
      ctx.services.deployments.deleteDeployment({
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
    .query(({ ctx, input }) => {
      if (input.all && !ctx.session.isAdmin)
        throw new AppError("FORBIDDEN", "Only administrators may list all instances");
      return ctx.services.deploymentViews.instances({
        owner: input.all ? null : ctx.session.address,
        ...(input.buildId ? { buildId: input.buildId } : {}),
      });
    }),

  get: protectedProcedure
    .input(z.object({ instanceId: ZInstanceId }))
    .output(ZInstanceDto)
    .query(({ ctx, input }) =>
      ctx.services.deploymentViews.instance({
        viewer: ctx.session.address,
        admin: ctx.session.isAdmin,
        instanceId: input.instanceId,
      }),
    ),

  /** formnet IPs of a build's instances (`form manage get-ip --build-id`). */
  getIp: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(z.array(ZInstanceIp))
    .query(({ ctx, input }) =>
      ctx.services.deploymentViews.ips({ owner: ctx.session.address, buildId: input.buildId }),
    ),

  /** The caller's deployments, each with its build's commitment. */
  deployments: protectedProcedure
    .input(z.void())
    .output(
      z.array(ZDeploymentDto.extend({ imageDigest: z.string().nullable(), commitment: ZCommitmentDto })),
    )
    .query(({ ctx }) =>
      ctx.services.deploymentViews.deploymentsWithCommitments({ owner: ctx.session.address }),
    ),

  /**
   * Image digest ⇄ commitment of one instance's build: the recorded relay (tx, block, status) and
   * the contract's stored commitment compared with the instance's digest and owner.
   */
  commitment: protectedProcedure
    .input(z.object({ instanceId: ZInstanceId }))
    .output(z.object({ commitment: ZCommitmentDto, onChain: ZOnChainCheck.nullable() }))
    .query(({ ctx, input }) =>
      ctx.services.deploymentViews.instanceCommitment({
        viewer: ctx.session.address,
        admin: ctx.session.isAdmin,
        instanceId: input.instanceId,
      }),
    ),

  /** Metrics history of one instance (CPU, memory, disk, network). */
  metrics: protectedProcedure
    .input(z.object({ instanceId: ZInstanceId, sinceMinutes: ZSinceMinutes }))
    .output(z.array(ZMetricsSample))
    .query(({ ctx, input }) =>
      ctx.services.deploymentViews.instanceMetrics({
        viewer: ctx.session.address,
        admin: ctx.session.isAdmin,
        ...input,
      }),
    ),
});
