import { describe, expect, it } from "vitest";
import { advertisedEndpoints } from "./advertised-endpoints";

describe("advertisedEndpoints", () => {
  it("puts configured endpoints first, then the observed address with the node's port", () => {
    expect(
      advertisedEndpoints({
        configured: ["node.example.org:51820"],
        observedAddress: "198.18.0.13",
        listenPort: 51820,
      }),
    ).toEqual(["node.example.org:51820", "198.18.0.13:51820"]);
  });

  it("unmaps IPv4-mapped addresses, brackets IPv6 and drops duplicates", () => {
    expect(
      advertisedEndpoints({ configured: [], observedAddress: "::ffff:198.18.0.11", listenPort: 7 }),
    ).toEqual(["198.18.0.11:7"]);
    expect(advertisedEndpoints({ configured: [], observedAddress: "2001:db8::1", listenPort: 7 })).toEqual([
      "[2001:db8::1]:7",
    ]);
    expect(
      advertisedEndpoints({ configured: ["198.18.0.11:7"], observedAddress: "198.18.0.11", listenPort: 7 }),
    ).toEqual(["198.18.0.11:7"]);
    expect(advertisedEndpoints({ configured: [], observedAddress: undefined, listenPort: 7 })).toEqual([]);
  });
});
