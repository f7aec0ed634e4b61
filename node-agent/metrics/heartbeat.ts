import type { TInstanceStatus, TMetrics } from "@/lib/protocol";
import type { Hypervisor } from "../hypervisor/types";
import type { HostMetrics } from "./host-metrics";
import { type InstanceMetrics, vmProtocolStatus } from "./instance-metrics";

export interface THeartbeatSample {
  metrics: TMetrics;
  instances: { instanceId: string; status: TInstanceStatus; metrics?: TMetrics }[];
}

/**
 * Collect one heartbeat's figures: host metrics plus status and rates of every VM. A VM whose
 * metrics cannot be read (it is being deleted) is still listed, just without figures.
 */
export async function sampleHeartbeat(options: {
  hypervisor: Hypervisor;
  host: HostMetrics;
  instances: InstanceMetrics;
}): Promise<THeartbeatSample> {
  const instances: THeartbeatSample["instances"] = [];
  for (const vm of await options.hypervisor.list()) {
    const sample = await options.hypervisor.metrics(vm.instanceId).catch(() => undefined);
    instances.push({
      instanceId: vm.instanceId,
      status: vmProtocolStatus(vm),
      ...(sample ? { metrics: options.instances.rates(sample) } : {}),
    });
  }
  return { metrics: await options.host.sample(), instances };
}
