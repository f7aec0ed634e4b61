import { describe, expect, it } from "vitest";
import { cidrContains, FormnetAddressError, hostCidr, hostRange, intToIp, ipToInt, parseCidr } from "./cidr";

describe("cidr", () => {
  it("round-trips addresses through integers", () => {
    for (const ip of ["0.0.0.0", "10.42.0.1", "255.255.255.255", "192.168.1.254"]) {
      expect(intToIp(ipToInt(ip))).toBe(ip);
    }
    expect(ipToInt("10.42.1.0")).toBe(0x0a2a0100);
  });

  it("rejects malformed input with a typed error", () => {
    for (const bad of ["10.42.0", "10.42.0.256", "10.042.0.1", "a.b.c.d", ""]) {
      expect(() => ipToInt(bad)).toThrow(FormnetAddressError);
    }
    expect(() => parseCidr("10.42.0.1/16")).toThrow(/host bits set; did you mean 10.42.0.0\/16/);
    expect(() => parseCidr("10.42.0.0/33")).toThrow(FormnetAddressError);
    expect(() => parseCidr("10.42.0.0")).toThrow(FormnetAddressError);
  });

  it("computes host ranges and containment", () => {
    const block = parseCidr("10.42.0.0/16");
    expect(hostRange(block)).toEqual({ first: ipToInt("10.42.0.1"), last: ipToInt("10.42.255.254") });
    expect(hostRange(parseCidr("10.0.0.4/31"))).toEqual({
      first: ipToInt("10.0.0.4"),
      last: ipToInt("10.0.0.5"),
    });
    expect(cidrContains("10.42.0.0/16", "10.42.200.3")).toBe(true);
    expect(cidrContains("10.42.0.0/16", "10.43.0.1")).toBe(false);
    expect(cidrContains("0.0.0.0/0", "8.8.8.8")).toBe(true);
  });

  it("normalises host addresses to /32", () => {
    expect(hostCidr("10.42.0.7")).toBe("10.42.0.7/32");
    expect(hostCidr("10.42.0.7/32")).toBe("10.42.0.7/32");
    expect(() => hostCidr("10.42.0.0/16")).toThrow(FormnetAddressError);
  });
});
