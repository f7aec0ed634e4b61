import type { TEntityValue } from "@/core/statestore/entity-doc";

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The fields of `wanted` whose value differs from `current`. The store history is never pruned,
 * so writers only write what changed (assigning an equal value would still make a change).
 */
export function changedFields(current: TEntityValue | undefined, wanted: TEntityValue): TEntityValue {
  const out: TEntityValue = {};
  for (const [field, value] of Object.entries(wanted)) {
    if (value === undefined) continue;
    if (stable(current?.[field]) !== stable(value)) out[field] = value;
  }
  return out;
}
