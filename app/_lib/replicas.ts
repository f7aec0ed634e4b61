/** Upper bound of the replica inputs (the console enforces its own policy on top). */
export const MAX_REPLICAS_INPUT = 64;

/** Replica count typed into an input, clamped to 1…MAX_REPLICAS_INPUT (1 for anything unparsable). */
export function clampReplicas(raw: string): number {
  return Math.max(1, Math.min(MAX_REPLICAS_INPUT, Number(raw) || 1));
}
