import { UsageBar } from "../../_components/ui";

type TResources = { vcpu: number; memoryMb: number; diskGb: number };

/** A node's allocated vs offered vCPU, memory and disk, as three usage bars. */
export function CapacityBars({ allocated, capacity }: { allocated: TResources; capacity: TResources }) {
  return (
    <>
      <UsageBar
        label={`vCPU ${allocated.vcpu}/${capacity.vcpu}`}
        used={allocated.vcpu}
        total={capacity.vcpu}
      />
      <UsageBar
        label={`Memory ${allocated.memoryMb}/${capacity.memoryMb} MB`}
        used={allocated.memoryMb}
        total={capacity.memoryMb}
      />
      <UsageBar
        label={`Disk ${allocated.diskGb}/${capacity.diskGb} GB`}
        used={allocated.diskGb}
        total={capacity.diskGb}
      />
    </>
  );
}
