import { z } from "zod";
import type { TFormfile } from "./canonical";
import type { TDiagnostic, TPosition } from "./diagnostics";
import type { TFormfileLocations } from "./state";

const ZRange = z.object({ min: z.number().int().nonnegative(), max: z.number().int().positive() });

/** Resource limits a network imposes on top of the language's own ranges. */
export const ZNetworkPolicy = z.object({
  name: z.string().min(1),
  vcpu: ZRange,
  memoryMb: ZRange,
  diskGb: ZRange,
  /** Maximum GPUs per instance; 0 forbids GPU, null leaves it unlimited. */
  maxGpus: z.number().int().nonnegative().nullable(),
});
export type TNetworkPolicy = z.infer<typeof ZNetworkPolicy>;

/** The development network's limits from the original README: VCPU ≤ 2, MEM 512–4096 MB, DISK ≤ 5 GB. */
export const DEVNET_POLICY: TNetworkPolicy = {
  name: "devnet",
  vcpu: { min: 1, max: 2 },
  memoryMb: { min: 512, max: 4096 },
  diskGb: { min: 5, max: 5 },
  maxGpus: null,
};

/** A canonical Formfile, or a parse result that also carries source positions for the errors. */
export type TPolicyInput = TFormfile | { formfile: TFormfile; locations?: TFormfileLocations };

const LABELS = {
  vcpu: { keyword: "VCPU", unit: "cores" },
  memoryMb: { keyword: "MEM", unit: "MB" },
  diskGb: { keyword: "DISK", unit: "GB" },
} as const;

/**
 * Checks a valid Formfile against a network policy; returns one diagnostic per violated limit (empty
 * when allowed). Positions point at the instruction's value when known, else line 0 (the whole file).
 */
export function checkPolicy(input: TPolicyInput, policy: TNetworkPolicy): TDiagnostic[] {
  const formfile = "resources" in input ? input : input.formfile;
  const locations = "resources" in input ? undefined : input.locations;
  const at = (key: keyof typeof LABELS | "gpu"): TPosition => locations?.[key] ?? { line: 0, column: 0 };
  const out: TDiagnostic[] = [];
  for (const key of ["vcpu", "memoryMb", "diskGb"] as const) {
    const value = formfile.resources[key];
    const { min, max } = policy[key];
    const { keyword, unit } = LABELS[key];
    if (value < min || value > max) {
      const source = locations?.[key] ? "" : " (the default)";
      out.push({
        ...at(key),
        message: `${keyword} ${value}${source} ${value > max ? "exceeds" : "is below"} the ${policy.name} limit of ${min === max ? `${max}` : `${min}–${max}`} ${unit}`,
        hint: `set ${keyword} ${value > max ? max : min} or deploy to a network with higher limits`,
      });
    }
  }
  const gpu = formfile.resources.gpu;
  if (gpu && policy.maxGpus !== null && gpu.count > policy.maxGpus) {
    out.push({
      ...at("gpu"),
      message:
        policy.maxGpus === 0
          ? `${policy.name} does not offer GPUs`
          : `GPU count ${gpu.count} exceeds the ${policy.name} limit of ${policy.maxGpus}`,
      hint: policy.maxGpus === 0 ? "remove the GPU instruction" : `request at most ${policy.maxGpus}`,
    });
  }
  return out;
}
