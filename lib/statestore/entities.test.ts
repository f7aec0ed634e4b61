import { describe, expect, it } from "vitest";
import { entityKey, parseEntityKey } from "./entities";

describe("entity keys", () => {
  it("parses <kind>/<id> and refuses unknown kinds and unsafe ids", () => {
    expect(parseEntityKey("instances/abc-1")).toEqual({ kind: "instances", id: "abc-1" });
    expect(parseEntityKey("cidrs/10.42.0.0_16")).toEqual({ kind: "cidrs", id: "10.42.0.0_16" });
    expect(parseEntityKey("things/a")).toBeUndefined();
    expect(parseEntityKey("dns/a/b")).toBeUndefined();
    expect(parseEntityKey("dns/")).toBeUndefined();
    expect(parseEntityKey("/x")).toBeUndefined();
  });

  it("lower-cases address-keyed kinds", () => {
    expect(entityKey("nodes", "0xABCDEF0000000000000000000000000000000001")).toBe(
      "nodes/0xabcdef0000000000000000000000000000000001",
    );
    expect(entityKey("instances", "AbC")).toBe("instances/AbC");
    expect(() => entityKey("dns", "a b")).toThrow(RangeError);
  });
});
