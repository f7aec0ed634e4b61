import { setTimeout as sleep } from "node:timers/promises";
import { BlobError } from "./errors";

/** How long a transfer waits for an unreachable console before the job fails (a restart takes seconds). */
export const CONSOLE_PATIENCE_MS = 120_000;

/**
 * The console did not answer (connection refused or reset), cut a download off mid-stream (the
 * next try resumes from the bytes kept), or a proxy in front of it said it is down.
 */
export function consoleUnreachable(error: unknown): boolean {
  if (!(error instanceof BlobError)) return false;
  return (
    error.code === "network" ||
    error.code === "io" ||
    (error.code === "http" && [502, 503, 504].includes(error.status ?? 0))
  );
}

/**
 * Runs a blob transfer again while the console cannot be reached, for up to `patienceMs` (waiting
 * 1, 2, 4, then 5 s between tries): a console restarting mid-transfer costs the job seconds rather
 * than failing it. Any other error, an aborted job or an exhausted patience ends it.
 */
export async function withConsolePatience<T>(
  transfer: () => Promise<T>,
  opts: { signal?: AbortSignal; patienceMs?: number; onRetry?: (error: BlobError, attempt: number) => void },
): Promise<T> {
  const deadline = Date.now() + (opts.patienceMs ?? CONSOLE_PATIENCE_MS);
  for (let attempt = 1; ; attempt++) {
    try {
      return await transfer();
    } catch (error) {
      if (!consoleUnreachable(error) || opts.signal?.aborted || Date.now() >= deadline) throw error;
      opts.onRetry?.(error as BlobError, attempt);
      await sleep(Math.min(5_000, 1000 * 2 ** (attempt - 1), Math.max(0, deadline - Date.now())), undefined, {
        signal: opts.signal,
      }).catch(() => undefined);
    }
  }
}
