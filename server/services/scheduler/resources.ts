import { z } from "zod";

/** Resources of a VM, or of a node's capacity. */
export const ZResources = z.object({ vcpu: z.number(), memoryMb: z.number(), diskGb: z.number() });
export type TResources = z.infer<typeof ZResources>;

export const NO_RESOURCES: TResources = { vcpu: 0, memoryMb: 0, diskGb: 0 };
