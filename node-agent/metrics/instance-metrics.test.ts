import { describe, expect, it } from "vitest";
import { protocolStatus, vmEventStatus, vmProtocolStatus } from "./instance-metrics";

describe("vmProtocolStatus", () => {
  it("lists a crashed VM that is being restarted as booting, so the console does not replace it", () => {
    expect(vmProtocolStatus({ status: "crashed", restarting: true })).toBe("booting");
    expect(vmProtocolStatus({ status: "crashed" })).toBe("failed");
    expect(vmProtocolStatus({ status: "running" })).toBe(protocolStatus("running"));
  });

  it("reports a suspended VM (memory saved, no QEMU) as suspended, not stopped or failed", () => {
    expect(protocolStatus("suspended")).toBe("suspended");
    expect(vmProtocolStatus({ status: "suspended" })).toBe("suspended");
    expect(protocolStatus("stopped")).toBe("stopped");
  });
});

describe("vmEventStatus", () => {
  it("reports a suspend as suspended, not as a stop first", () => {
    expect(vmEventStatus({ type: "suspended", instanceId: "i-1" })).toEqual({ status: "suspended" });
    expect(vmEventStatus({ type: "stopped", instanceId: "i-1" })).toEqual({ status: "stopped" });
  });

  it("says why a crashed VM stays down: the restart limit, or the restart that failed", () => {
    const base = { type: "crashed", instanceId: "i-1" } as const;
    expect(vmEventStatus({ ...base, restarting: true }).status).toBe("booting");
    expect(vmEventStatus({ ...base, restarting: false })).toEqual({
      status: "failed",
      reason: "the VM's QEMU process exited unexpectedly (restart limit reached)",
    });
    expect(
      vmEventStatus({ ...base, restarting: false, reason: "restarting it failed 3 times: tap busy" }),
    ).toEqual({
      status: "failed",
      reason: "the VM's QEMU process exited unexpectedly (restarting it failed 3 times: tap busy)",
    });
  });
});
