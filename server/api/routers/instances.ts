import { z } from "zod";
import { ZMetrics } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure, signedProcedure } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import { ZDeploymentDto, ZInstanceDto } from "@/server/services/deployments/instance-dto";
import { controlPlaneOf } from "./control-plane-context";

const ZBuildId = z.string().regex(/^[0-9a-f]{64}$/, "a build id is 64 hex characters");
const ZInstanceId = z.string().regex(/^i-[0-9a-f]{20}$/, "an instance id looks like i-<20 hex>");
const ZShipResult = z.object({
  deployment: ZDeploymentDto,
  instances: z.array(ZInstanceDto),
  notice: z.string().nullable(),
});

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
  /** Ships a built image as N replicas (default 3) on distinct nodes; `notice` explains shortfalls. */
  ship: signedProcedure(
    "instance.ship",
    z.object({ buildId: ZBuildId, replicas: z.number().int().min(1).max(64).optional() }),
  )
    .output(ZShipResult)
    .mutation(async ({ ctx, input }) =>
      controlPlaneOf(ctx).deployments.ship({
        owner: ctx.actor.address,
        buildId: input.params.buildId,
        ...(input.params.replicas === undefined ? {} : { replicas: input.params.replicas }),
      }),
    ),

  rollback: signedProcedure(
    "deployment.rollback",
    z.object({ name: z.string().min(1).max(128), buildId: ZBuildId }),
  )
    .output(ZShipResult)
    .mutation(async ({ ctx, input }) =>
      controlPlaneOf(ctx).deployments.rollback({ owner: ctx.actor.address, ...input.params }),
    ),

  start: actionProcedure("start"),
  stop: actionProcedure("stop"),
  restart: actionProcedure("restart"),
  delete: actionProcedure("delete"),

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
      }));
    }),

  deployments: protectedProcedure
    .output(z.array(ZDeploymentDto))
    .query(async ({ ctx }) => controlPlaneOf(ctx).deployments.deployments({ owner: ctx.session.address })),

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
