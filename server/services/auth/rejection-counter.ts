import type { Logger } from "pino";
import { findAppError } from "@/server/errors";

/** One summary log line per window at most, however many requests are rejected. */
const LOG_WINDOW_MS = 60_000;

/**
 * Counts rejected signed requests by `action:code`. Rejections are not audited (the audit log holds
 * what was accepted); their counts are logged at most once per window so a flood of forged
 * signatures cannot flood the log either.
 */
export function createRejectionCounter(deps: { logger: Logger; now: () => number }) {
  const totals = new Map<string, number>();
  let loggedAt = Number.NEGATIVE_INFINITY;
  let sinceLog = 0;

  return {
    count(action: string, error: unknown): void {
      const code = findAppError(error)?.code ?? "INTERNAL";
      const key = `${action}:${code}`;
      totals.set(key, (totals.get(key) ?? 0) + 1);
      sinceLog += 1;
      const at = deps.now();
      if (at - loggedAt < LOG_WINDOW_MS) return;
      deps.logger.warn(
        { rejected: sinceLog, totals: Object.fromEntries(totals) },
        "signed requests rejected",
      );
      loggedAt = at;
      sinceLog = 0;
    },
    snapshot(): Record<string, number> {
      return Object.fromEntries(totals);
    },
  };
}
