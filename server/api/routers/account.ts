import { z } from "zod";
import { createTRPCRouter, protectedProcedure } from "@/server/api/trpc";
import { ZAuditEntryDto } from "@/server/services/auth/audit-dto";

/** The signed-in wallet's own records. */
export const accountRouter = createTRPCRouter({
  /** The caller's signed actions, newest first. */
  audit: protectedProcedure
    .input(
      z
        .object({ limit: z.number().int().min(1).max(200).default(50), before: z.date().optional() })
        .default({ limit: 50 }),
    )
    .output(z.object({ entries: z.array(ZAuditEntryDto) }))
    .query(async ({ ctx, input }) => ({
      entries: await ctx.services.auth.signedActions.auditEntries(ctx.session.address, {
        limit: input.limit,
        ...(input.before ? { before: input.before } : {}),
      }),
    })),

  /** Re-runs signature verification of one of the caller's audit entries. */
  verifyAudit: protectedProcedure
    .input(z.object({ id: z.string().min(1).max(64) }))
    .output(z.object({ id: z.string(), valid: z.boolean(), reason: z.string().nullable() }))
    .query(({ ctx, input }) =>
      ctx.services.auth.signedActions.verifyAuditEntry({ signer: ctx.session.address, id: input.id }),
    ),
});
