import { z } from "zod";
import { createTRPCRouter, protectedProcedure } from "@/server/api/trpc";
import { ZBuildDto } from "@/server/services/builds/build-dto";
import { ZDeploymentDto, ZInstanceDto } from "@/server/services/deployments/instance-dto";
import { ZResources } from "@/server/services/scheduler/resources";

const ZBuildId = z.string().regex(/^[0-9a-f]{64}$/, "a build id is 64 hex characters");
const ZResourcesInput = z.object({
  vcpu: z.number().int().min(1).max(1024),
  memoryMb: z.number().int().min(1).max(16_777_216),
  diskGb: z.number().int().min(1).max(1_048_576),
});

/**
 * Deployments (one per owner and Formfile NAME): desired vs placed replicas and why the rest wait,
 * builds over time, and what the network could place before a deploy is signed. Ship, rollback and
 * delete are signed procedures of the `instances` router.
 */
export const deploymentsRouter = createTRPCRouter({
  /** The caller's deployments with replica counts and waiting reasons. */
  list: protectedProcedure
    .input(z.object({}).optional())
    .output(z.array(ZDeploymentDto))
    .query(({ ctx }) => ctx.services.deploymentViews.deployments({ owner: ctx.session.address })),

  /** One deployment with its builds (newest first) and replicas. */
  get: protectedProcedure
    .input(
      z.object({
        deploymentId: z.string().regex(/^d-[0-9a-f]{20}$/, "a deployment id looks like d-<20 hex>"),
      }),
    )
    .output(
      z.object({ deployment: ZDeploymentDto, builds: z.array(ZBuildDto), instances: z.array(ZInstanceDto) }),
    )
    .query(({ ctx, input }) =>
      ctx.services.deploymentViews.deployment({
        owner: ctx.session.address,
        deploymentId: input.deploymentId,
      }),
    ),

  /** The live deployment of a build's NAME (null when it was never shipped or was deleted). */
  forBuild: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(ZDeploymentDto.nullable())
    .query(({ ctx, input }) =>
      ctx.services.deploymentViews.deploymentOfBuild({
        owner: ctx.session.address,
        buildId: input.buildId,
      }),
    ),

  /** What the network can place now for one replica of these resources (deploy page, before signing). */
  capacity: protectedProcedure
    .input(ZResourcesInput)
    .output(
      z.object({
        healthy: z.number(),
        fitting: z.number(),
        largestFree: ZResources,
        wait: z.string().nullable(),
      }),
    )
    .query(({ ctx, input }) => ctx.services.scheduler.capacity(input)),
});
