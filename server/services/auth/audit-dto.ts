import { z } from "zod";
import type { TAuditRow } from "@/server/db/repositories/audit-repository";

/** One of the caller's signed actions as the account page shows it (no typed-data blob). */
export const ZAuditEntryDto = z.object({
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
export type TAuditEntryDto = z.infer<typeof ZAuditEntryDto>;

export function toAuditEntryDto(row: TAuditRow): TAuditEntryDto {
  const { typedData: _typedData, params, ...rest } = row;
  return { ...rest, params: JSON.parse(params) };
}
