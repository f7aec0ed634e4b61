import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { detectAccelerator, findGuestKernel, probeBoot, runPreflight } from "./preflight";

describe("host preflight (real host)", () => {
  it("reports every check and a usable accelerator decision", async () => {
    const report = await runPreflight();
    const failed = report.checks.filter((c) => !c.ok && c.required);
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.guestKernel?.vmlinuz).toMatch(/^\/boot\/vmlinuz-.*-cloud-amd64$/);
    expect(report.checks.map((c) => c.id)).toEqual(
      expect.arrayContaining([
        "qemu",
        "qemu-img",
        "mmdebstrap",
        "wireguard",
        "guest-kernel",
        "disk-space",
        "bridge-tap",
      ]),
    );
  });

  it("never picks KVM on a paravirtual kvm_pvm host or a CPU without vmx/svm", async () => {
    const pvm = existsSync("/sys/module/kvm_pvm");
    const hwVirt = /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync("/proc/cpuinfo", "utf8"));
    const { accelerator } = await detectAccelerator();
    if (pvm || !hwVirt) expect(accelerator).toBe("tcg");
  });

  it("falls back to TCG when the probe boot fails", async () => {
    const { accelerator } = await detectAccelerator({ probe: async () => false });
    expect(accelerator).toBe("tcg");
  });

  it("probe boot: the guest kernel boots under TCG, and not under a paravirtual KVM", async () => {
    const kernel = await findGuestKernel();
    if (!kernel) throw new Error("no guest kernel");
    expect(await probeBoot({ accelerator: "tcg", vmlinuz: kernel.vmlinuz, timeoutMs: 90_000 })).toBe(true);
    if (existsSync("/sys/module/kvm_pvm")) {
      expect(await probeBoot({ accelerator: "kvm", vmlinuz: kernel.vmlinuz, timeoutMs: 15_000 })).toBe(false);
    }
  });
});
