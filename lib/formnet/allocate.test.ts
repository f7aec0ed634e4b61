import { describe, expect, it } from "vitest";
import { allocateLowestFree, FormnetExhaustedError } from "./allocate";

describe("allocateLowestFree", () => {
  it("gives the first node the first host address", () => {
    expect(allocateLowestFree({ cidr: "10.42.0.0/16", taken: [] })).toBe("10.42.0.1");
  });

  it("fills the lowest hole, ignoring prefixes and addresses outside the block", () => {
    const taken = ["10.42.0.1", "10.42.0.2/16", "10.42.0.4", "192.168.0.3"];
    expect(allocateLowestFree({ cidr: "10.42.0.0/16", taken })).toBe("10.42.0.3");
  });

  it("skips reserved addresses and crosses octet boundaries", () => {
    const taken = Array.from({ length: 254 }, (_, i) => `10.42.0.${i + 1}`);
    expect(allocateLowestFree({ cidr: "10.42.0.0/16", taken })).toBe("10.42.0.255");
    expect(allocateLowestFree({ cidr: "10.42.0.0/16", taken, reserved: ["10.42.0.255"] })).toBe("10.42.1.0");
  });

  it("never hands out the network or broadcast address and reports exhaustion", () => {
    expect(allocateLowestFree({ cidr: "10.9.0.0/30", taken: ["10.9.0.1"] })).toBe("10.9.0.2");
    const run = () => allocateLowestFree({ cidr: "10.9.0.0/30", taken: ["10.9.0.1", "10.9.0.2"] });
    expect(run).toThrow(FormnetExhaustedError);
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(FormnetExhaustedError);
      expect((error as FormnetExhaustedError).code).toBe("FORMNET_EXHAUSTED");
      expect((error as FormnetExhaustedError).cidr).toBe("10.9.0.0/30");
    }
  });

  it("is deterministic for a set regardless of order (two racing callers get the same answer)", () => {
    const a = allocateLowestFree({ cidr: "10.42.0.0/16", taken: ["10.42.0.3", "10.42.0.1"] });
    const b = allocateLowestFree({ cidr: "10.42.0.0/16", taken: new Set(["10.42.0.1", "10.42.0.3"]) });
    expect(a).toBe("10.42.0.2");
    expect(b).toBe(a);
  });

  it("handles a full /16 quickly", () => {
    const taken: string[] = [];
    for (let i = 1; i < 65534; i++) taken.push(`10.42.${i >> 8}.${i & 255}`);
    expect(allocateLowestFree({ cidr: "10.42.0.0/16", taken })).toBe("10.42.255.254");
  });
});
