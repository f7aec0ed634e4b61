import { z } from "zod";
import { DEFAULT_MAX_DEVICES_PER_USER } from "@/server/services/nodes/formnet-service";

const GIB = 1024 * 1024 * 1024;
const positive = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Per-user resource limits and the blob GC's timing (issue #23), from the environment. Parsed
 * next to the other control-plane settings (server/gateway/config.ts reads its own variables the
 * same way); documented in docs/console.md, "Ownership and quotas".
 */
export const ZResourceLimitsEnv = z.object({
  /** Devices one account may have joined to formnet at once. */
  FORMATION_FORMNET_MAX_DEVICES: positive(DEFAULT_MAX_DEVICES_PER_USER),
  /** Bytes of uploaded build contexts one account may hold. */
  FORMATION_CONTEXT_QUOTA_BYTES: positive(2 * GIB),
  /** Age after which a blob no build or instance references is deleted. */
  FORMATION_BLOB_GC_GRACE_MS: positive(24 * 3600_000),
  /** How often the blob GC sweeps the blob store. */
  FORMATION_BLOB_GC_INTERVAL_MS: positive(10 * 60_000),
});

export type TResourceLimits = {
  formnetMaxDevices: number;
  contextQuotaBytes: number;
  blobGcGraceMs: number;
  blobGcIntervalMs: number;
};

/** Parses the limits; throws one error naming every bad variable. */
export function loadResourceLimits(
  source: Record<string, string | undefined> = process.env,
): TResourceLimits {
  const parsed = ZResourceLimitsEnv.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid resource-limit environment:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return {
    formnetMaxDevices: e.FORMATION_FORMNET_MAX_DEVICES,
    contextQuotaBytes: e.FORMATION_CONTEXT_QUOTA_BYTES,
    blobGcGraceMs: e.FORMATION_BLOB_GC_GRACE_MS,
    blobGcIntervalMs: e.FORMATION_BLOB_GC_INTERVAL_MS,
  };
}
