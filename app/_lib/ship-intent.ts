/**
 * "Ship when the build succeeds", remembered for the browser tab that asked for it — never in the
 * address bar, so reopening a build link (reload, history, a shared URL) cannot trigger a signed
 * ship. The build page consumes the intent once when it ships.
 */

export type TShipIntent = { replicas: number; at: number };

const KEY = (buildId: string) => `formation:ship-intent:${buildId}`;
/** An intent older than this is stale (the tab was left open for hours): ask again instead. */
const MAX_AGE_MS = 6 * 3600_000;

function storage(): Storage | null {
  try {
    return typeof window === "undefined" ? null : window.sessionStorage;
  } catch {
    return null;
  }
}

export function saveShipIntent(buildId: string, replicas: number, now = Date.now()): void {
  storage()?.setItem(KEY(buildId), JSON.stringify({ replicas, at: now } satisfies TShipIntent));
}

/** The tab's pending intent for this build, if any (not consumed). */
export function peekShipIntent(buildId: string, now = Date.now()): TShipIntent | null {
  const raw = storage()?.getItem(KEY(buildId));
  if (!raw) return null;
  try {
    const value: unknown = JSON.parse(raw);
    if (
      typeof value === "object" &&
      value !== null &&
      "replicas" in value &&
      "at" in value &&
      typeof value.replicas === "number" &&
      typeof value.at === "number" &&
      now - value.at < MAX_AGE_MS
    ) {
      return { replicas: value.replicas, at: value.at };
    }
  } catch {
    // Not ours or corrupted: dropped below.
  }
  storage()?.removeItem(KEY(buildId));
  return null;
}

/** Consumes the intent: returns it and forgets it, so it ships at most once. */
export function takeShipIntent(buildId: string, now = Date.now()): TShipIntent | null {
  const intent = peekShipIntent(buildId, now);
  storage()?.removeItem(KEY(buildId));
  return intent;
}
