import { describe, expect, it } from "vitest";
import { clockParamsFrom } from "./guest-clock";

describe("clockParamsFrom", () => {
  const cpu = (flags: string, mhz = "2596.134") =>
    `processor\t: 0\ncpu MHz\t\t: ${mhz}\nflags\t\t: fpu ${flags} sse\n`;

  it("hands the guest the host's constant, known TSC frequency and its loops per jiffy", () => {
    expect(clockParamsFrom(cpu("constant_tsc nonstop_tsc tsc_known_freq"))).toEqual([
      "tsc_early_khz=2596134",
      "tsc=reliable",
      "lpj=10384536",
    ]);
  });

  it("says nothing when the host's TSC frequency may change or is unknown", () => {
    expect(clockParamsFrom(cpu("nonstop_tsc tsc_known_freq"))).toEqual([]);
    expect(clockParamsFrom(cpu("constant_tsc"))).toEqual([]);
    expect(clockParamsFrom(cpu("constant_tsc tsc_known_freq", "0"))).toEqual([]);
    expect(clockParamsFrom("")).toEqual([]);
  });
});
