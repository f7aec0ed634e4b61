import { describe, expect, it } from "vitest";
import { cpuQuotaUs, memoryLimitBytes } from "./vm-cgroup";

describe("VM cgroup limits", () => {
  it("caps CPU at the VCPU count plus half a core for QEMU's own threads", () => {
    expect(cpuQuotaUs(1)).toBe(150_000);
    expect(cpuQuotaUs(4)).toBe(450_000);
  });

  it("caps memory at MEM plus QEMU's overhead (at least 512 MiB, a quarter of MEM for big VMs, TCG's code cache)", () => {
    expect(memoryLimitBytes(1024, "kvm")).toBe((1024 + 512) * 1024 * 1024);
    expect(memoryLimitBytes(8192, "kvm")).toBe((8192 + 2048) * 1024 * 1024);
    expect(memoryLimitBytes(1024, "tcg")).toBe((1024 + 512 + 1024) * 1024 * 1024);
  });
});
