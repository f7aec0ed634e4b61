import { z } from "zod";
import { type TMetrics, ZMetrics } from "@/lib/protocol";

/** One sample of a node's or an instance's metrics history. */
export const ZMetricsSample = ZMetrics.extend({ at: z.date() });
export type TMetricsSample = z.infer<typeof ZMetricsSample>;

/** How far back a metrics history query may reach (minutes), and its default. */
export const ZSinceMinutes = z
  .number()
  .int()
  .min(1)
  .max(24 * 60)
  .default(60);

/** Most samples one history answer carries. */
export const METRICS_HISTORY_LIMIT = 5000;

/** History rows (NodeMetric / InstanceMetric) as samples: the metrics and their time, nothing else. */
export function toMetricsSamples(rows: ReadonlyArray<TMetrics & { at: Date }>): TMetricsSample[] {
  return rows.map(({ at, cpuPct, memUsedMb, diskUsedGb, netRx, netTx }) => ({
    at,
    cpuPct,
    memUsedMb,
    diskUsedGb,
    netRx,
    netTx,
  }));
}

/** The latest sample stored as JSON on a node or instance row, or null when absent or malformed. */
export function parseLastMetrics(raw: string | null): TMetrics | null {
  if (!raw) return null;
  const parsed = ZMetrics.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : null;
}
