import { z } from "zod";
import { createTRPCRouter, protectedProcedure } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import { ingressStatus, replicaHealth, ZIngressStatus, ZReplicaHealthDto } from "@/server/ingress/status";
import { controlPlaneOf } from "./control-plane-context";

const ZBuildId = z.string().regex(/^[0-9a-f]{64}$/, "a build id is 64 hex characters");
const ZDeploymentId = z.string().regex(/^d-[0-9a-f]{20}$/, "a deployment id looks like d-<20 hex>");

/**
 * The public ingress (docs/ingress.md): a deployment's URLs, its replicas' health as the console's
 * checks see it (last failures, restarts and replacements) and the edge's request figures. Owner only.
 */
export const ingressRouter = createTRPCRouter({
  /** URLs, replica health and traffic (requests/s, status codes, latency, access log) of a deployment. */
  status: protectedProcedure
    .input(z.object({ deploymentId: ZDeploymentId }))
    .output(ZIngressStatus)
    .query(({ ctx, input }) =>
      ingressStatus({
        cp: controlPlaneOf(ctx),
        ingress: ctx.runtime.services.ingress,
        viewer: ctx.session.address,
        deploymentId: input.deploymentId,
      }),
    ),

  /** Health of a build's replicas (`form manage get-ip`, `form pack status`). */
  health: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(z.array(ZReplicaHealthDto))
    .query(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      const build = await cp.repos.builds.find(input.buildId);
      if (!build || build.owner !== ctx.session.address.toLowerCase())
        throw new AppError("NOT_FOUND", `No build ${input.buildId} of yours`);
      const instances = (await cp.repos.instances.byBuild(input.buildId)).filter(
        (i) => i.status !== "deleted",
      );
      return replicaHealth(
        ctx.runtime.services.ingress,
        instances.map((i) => i.id),
      );
    }),
});
