import { z } from "zod";
import { createTRPCRouter, protectedProcedure, signedProcedure } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import type { DomainService } from "@/server/ingress/domains";
import { ZDomainDto } from "@/server/ingress/domains";
import type { TIngressService } from "@/server/ingress/module";
import { ingressStatus, replicaHealth, ZIngressStatus, ZReplicaHealthDto } from "@/server/ingress/status";

const ZBuildId = z.string().regex(/^[0-9a-f]{64}$/, "a build id is 64 hex characters");
const ZDeploymentId = z.string().regex(/^d-[0-9a-f]{20}$/, "a deployment id looks like d-<20 hex>");
const ZDomainName = z.string().min(1).max(253);

/** The custom-domain service; PRECONDITION_FAILED when this console runs without the ingress. */
function domainsOf(ingress: TIngressService | undefined): DomainService {
  if (!ingress) throw new AppError("PRECONDITION_FAILED", "this console runs without the ingress edge");
  return ingress.domains;
}

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
        services: ctx.services,
        viewer: ctx.session.address,
        deploymentId: input.deploymentId,
      }),
    ),

  /** Health of a build's replicas (`form manage get-ip`, `form pack status`). */
  health: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(z.array(ZReplicaHealthDto))
    .query(async ({ ctx, input }) =>
      replicaHealth(
        ctx.services.ingress,
        await ctx.services.deploymentViews.replicaIdsOfBuild({
          owner: ctx.session.address,
          buildId: input.buildId,
        }),
      ),
    ),

  /** The caller's custom domains (optionally of one deployment), with their proofs and certificates. */
  domains: protectedProcedure
    .input(z.object({ deploymentId: ZDeploymentId.optional() }))
    .output(z.array(ZDomainDto))
    .query(({ ctx, input }) =>
      domainsOf(ctx.services.ingress).list({
        owner: ctx.session.address,
        deploymentId: input.deploymentId,
      }),
    ),

  /** Claims a custom domain for one of the caller's deployments (pending until verified). */
  addDomain: signedProcedure(
    "domain.add",
    z.object({
      domain: ZDomainName,
      deploymentId: ZDeploymentId,
      port: z.number().int().min(1).max(65_535).optional(),
    }),
  )
    .output(ZDomainDto)
    .mutation(({ ctx, input }) =>
      domainsOf(ctx.services.ingress).add({
        owner: ctx.actor.address,
        domain: input.params.domain,
        deploymentId: input.params.deploymentId,
        port: input.params.port,
      }),
    ),

  /** Checks the proof of control (DNS TXT or HTTP); the edge then routes the domain. */
  verifyDomain: signedProcedure("domain.verify", z.object({ domain: ZDomainName }))
    .output(ZDomainDto)
    .mutation(({ ctx, input }) =>
      domainsOf(ctx.services.ingress).verify({
        owner: ctx.actor.address,
        domain: input.params.domain,
      }),
    ),

  /** Drops the caller's claim of a domain (and its certificate when it was verified). */
  removeDomain: signedProcedure("domain.remove", z.object({ domain: ZDomainName }))
    .output(z.object({ domain: z.string() }))
    .mutation(({ ctx, input }) =>
      domainsOf(ctx.services.ingress).remove({
        owner: ctx.actor.address,
        domain: input.params.domain,
      }),
    ),
});
