import { describe, expect, it } from "vitest";
import { capacityWarning, suggestedReplicas } from "./use-capacity";

describe("capacity warnings before signing", () => {
  const r = { vcpu: 2, memoryMb: 512, diskGb: 5 };
  it("names what no node has, and how many replicas would wait", () => {
    expect(
      capacityWarning({
        resources: r,
        replicas: 1,
        capacity: { fitting: 0, healthy: 1, largestFree: { vcpu: 1, memoryMb: 9000, diskGb: 50 } },
      }),
    ).toBe(
      "No node has 2 vCPU free right now (largest free: 1 vCPU): the replicas will wait for capacity until a node frees up or joins.",
    );
    expect(
      capacityWarning({
        resources: r,
        replicas: 3,
        capacity: { fitting: 1, healthy: 1, largestFree: { vcpu: 4, memoryMb: 9000, diskGb: 50 } },
      }),
    ).toContain("2 of 3 replicas will wait for capacity");
    expect(
      capacityWarning({
        resources: r,
        replicas: 1,
        capacity: { fitting: 1, healthy: 1, largestFree: { vcpu: 4, memoryMb: 9000, diskGb: 50 } },
      }),
    ).toBeNull();
    expect(suggestedReplicas(1)).toBe(1);
    expect(suggestedReplicas(5)).toBe(3);
    expect(suggestedReplicas(0)).toBe(1);
  });
});
