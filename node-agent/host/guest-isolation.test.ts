import { describe, expect, it } from "vitest";
import { guardChains } from "./guest-isolation";

describe("guest guard chains", () => {
  it("are named per bridge within iptables' 28-character limit", () => {
    const a = guardChains("fnb-0123456789a");
    const b = guardChains("fmbr0123456789a");
    expect(a.input).not.toBe(b.input);
    expect(a.forward).not.toBe(a.input);
    for (const name of [a.input, a.forward, b.input, b.forward]) expect(name.length).toBeLessThanOrEqual(28);
  });
});
