import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json";
import { hashParams } from "./typed-data";

describe("canonicalJson", () => {
  it("sorts keys recursively and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("gives the same hash for the same value in any key order", () => {
    expect(hashParams({ a: 1, b: "x" })).toBe(hashParams({ b: "x", a: 1 }));
    expect(hashParams({ a: 1 })).not.toBe(hashParams({ a: "1" }));
  });

  it("refuses values JSON cannot represent faithfully", () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/NaN is not representable/);
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(/plain objects/);
    expect(() => canonicalJson({ b: 1n })).toThrow(/bigint/);
  });
});
