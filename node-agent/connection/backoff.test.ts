import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff";

describe("Backoff", () => {
  it("grows exponentially up to the cap without jitter", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next())).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(backoff.attempt).toBe(6);
  });

  it("starts small again after reset", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1_000, jitter: 0 });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it("spreads delays within [ceiling·(1−jitter), ceiling]", () => {
    const low = new Backoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.5, random: () => 0.999_999 });
    const high = new Backoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.5, random: () => 0 });
    expect(low.next()).toBe(500);
    expect(high.next()).toBe(1_000);
  });

  it("never produces a negative or NaN delay across many random draws", () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 50_000, jitter: 1 });
    for (let i = 0; i < 200; i += 1) {
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(50_000);
    }
  });

  it("rejects nonsensical options", () => {
    expect(() => new Backoff({ initialMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ initialMs: 10, maxMs: 5 })).toThrow(RangeError);
    expect(() => new Backoff({ jitter: 2 })).toThrow(RangeError);
  });
});
