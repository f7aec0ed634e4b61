import { describe, expect, it } from "vitest";
import { protocolStatus, vmProtocolStatus } from "./instance-metrics";

describe("vmProtocolStatus", () => {
  it("lists a crashed VM that is being restarted as booting, so the console does not replace it", () => {
    expect(vmProtocolStatus({ status: "crashed", restarting: true })).toBe("booting");
    expect(vmProtocolStatus({ status: "crashed" })).toBe("failed");
    expect(vmProtocolStatus({ status: "running" })).toBe(protocolStatus("running"));
  });
});
