"use client";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "./trpc";

export type TResourcesAsk = { vcpu: number; memoryMb: number; diskGb: number };

/** What the network can place now for one replica of `resources` (deployments.capacity). */
export function useCapacity(resources: TResourcesAsk | null) {
  const trpc = useTRPC();
  return useQuery(
    trpc.deployments.capacity.queryOptions(resources ?? { vcpu: 1, memoryMb: 1, diskGb: 1 }, {
      enabled: resources !== null,
      refetchInterval: 10_000,
    }),
  );
}

/** The replica count to offer: the console's default of 3, but no more than can be placed now. */
export function suggestedReplicas(fitting: number | undefined): number {
  return Math.max(1, Math.min(3, fitting ?? 3));
}

/**
 * What to tell the user before signing, or null: no node has room (naming what is short), or
 * fewer nodes than replicas can host one.
 */
export function capacityWarning(opts: {
  resources: TResourcesAsk;
  replicas: number;
  capacity: { fitting: number; healthy: number; largestFree: TResourcesAsk };
}): string | null {
  const { resources: r, capacity: c } = opts;
  if (c.healthy === 0) return "No node is online right now: the replicas will wait until one joins.";
  if (c.fitting === 0) {
    const short: string[] = [];
    if (c.largestFree.vcpu < r.vcpu)
      short.push(`${r.vcpu} vCPU free right now (largest free: ${c.largestFree.vcpu} vCPU)`);
    if (c.largestFree.memoryMb < r.memoryMb)
      short.push(`${r.memoryMb} MB free right now (largest free: ${c.largestFree.memoryMb} MB)`);
    if (c.largestFree.diskGb < r.diskGb)
      short.push(`${r.diskGb} GB disk free right now (largest free: ${c.largestFree.diskGb} GB)`);
    const what = short.length > 0 ? short.join(", nor ") : "this much vCPU, memory and disk free at once";
    return `No node has ${what}: the replicas will wait for capacity until a node frees up or joins.`;
  }
  if (opts.replicas > c.fitting) {
    return `Only ${c.fitting} node${c.fitting === 1 ? "" : "s"} can host a replica of this size right now (replicas go on distinct nodes): ${
      opts.replicas - c.fitting
    } of ${opts.replicas} replicas will wait for capacity.`;
  }
  return null;
}
