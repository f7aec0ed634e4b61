import { describe, expect, it } from "vitest";
import { TtlLruCache } from "./ttl-cache";

describe("TtlLruCache", () => {
  it("forgets entries when they expire", () => {
    let now = 0;
    const cache = new TtlLruCache<string>({ maxEntries: 10, now: () => now });
    cache.set("a", "A", 100);
    now = 99;
    expect(cache.get("a")).toBe("A");
    now = 100;
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("evicts the least recently used entry beyond its bound", () => {
    const cache = new TtlLruCache<number>({ maxEntries: 2 });
    cache.set("a", 1, 1000);
    cache.set("b", 2, 1000);
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3, 1000);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    expect(cache.get("c")).toBe(3);
    expect(cache.size).toBe(2);
  });

  it("does not store what would already be expired", () => {
    const cache = new TtlLruCache<number>({ maxEntries: 2 });
    cache.set("a", 1, 0);
    cache.set("b", 1, -5);
    expect(cache.size).toBe(0);
  });
});
