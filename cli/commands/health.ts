import type { TApiClient } from "../session";

/** Health of a replica as the console's checks see it (`ingress.health`). */
export type THealth = Awaited<ReturnType<TApiClient["ingress"]["health"]["query"]>>[number];

/**
 * The health of a build's replicas by instance id; empty when the console has no ingress API (an
 * older console) or answers otherwise: health is extra information, never a reason to fail.
 */
export async function healthOfBuild(
  session: { call<T>(fn: (api: TApiClient) => Promise<T>): Promise<T> },
  buildId: string,
): Promise<Map<string, THealth>> {
  try {
    const rows = await session.call((api) => api.ingress.health.query({ buildId }));
    return new Map(rows.map((h) => [h.instanceId, h]));
  } catch {
    return new Map();
  }
}

/** `healthy`, `unhealthy — GET :8080/healthz answered 500`, `not checked yet`. */
export function renderHealth(h: THealth | undefined): string {
  if (!h) return "";
  if (h.state === "healthy") return "healthy";
  if (h.state === "unknown") return "not checked yet";
  const last = h.failures.at(-1)?.reason;
  return `unhealthy${last ? ` — ${last}` : ""}`;
}

/** Indented lines about a replica's health worth reading: last failures and what the console did. */
export function renderHealthDetail(h: THealth | undefined, indent = "    "): string[] {
  if (!h || h.state === "healthy") return h?.action ? [`${indent}${h.action}`] : [];
  const lines = h.failures
    .slice(-3)
    .reverse()
    .map((f) => `${indent}${new Date(f.at).toISOString()}  ${f.reason}`);
  if (h.action) lines.push(`${indent}${h.action}`);
  return lines;
}
