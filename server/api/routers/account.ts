import { z } from "zod";
import { createTRPCRouter, protectedProcedure } from "@/server/api/trpc";
import { auditRepository, type TAuditRow } from "@/server/db/repositories/audit-repository";
import { AppError } from "@/server/errors";

const ZAuditEntryDto = z.object({
  id: z.string(),
  signer: z.string(),
  action: z.string(),
  params: z.unknown(),
  contentDigest: z.string(),
  origin: z.string(),
  chainId: z.number(),
  nonce: z.string(),
  expiresAt: z.date(),
  signature: z.string(),
  createdAt: z.date(),
});

function toDto(row: TAuditRow): z.infer<typeof ZAuditEntryDto> {
  const { typedData: _typedData, params, ...rest } = row;
  return { ...rest, params: JSON.parse(params) };
}

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
    .query(async ({ ctx, input }) => {
      const rows = await auditRepository(ctx.db).listBySigner(ctx.session.address, {
        limit: input.limit,
        ...(input.before ? { before: input.before } : {}),
      });
      return { entries: rows.map(toDto) };
    }),

  /** Re-runs signature verification of one of the caller's audit entries. */
  verifyAudit: protectedProcedure
    .input(z.object({ id: z.string().min(1).max(64) }))
    .output(z.object({ id: z.string(), valid: z.boolean(), reason: z.string().nullable() }))
    .query(async ({ ctx, input }) => {
      const row = await auditRepository(ctx.db).find(input.id);
      // Another wallet's entry is reported as missing, so ids do not leak who signed what.
      if (!row || row.signer !== ctx.session.address) throw new AppError("NOT_FOUND", "No such audit entry");
      const result = await ctx.runtime.auth.signedActions.reverify(row);
      return { id: row.id, ...result };
    }),
});
