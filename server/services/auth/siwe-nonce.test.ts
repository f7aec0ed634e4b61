import { generateSiweNonce } from "viem/siwe";
import { describe, expect, it } from "vitest";
import { newSiweNonce } from "./siwe-nonce";

/** Longest run that ends `a` and starts `b` (a shifted copy of one in the other). */
function longestShiftOverlap(a: string, b: string): number {
  for (let n = Math.min(a.length, b.length) - 1; n > 0; n -= 1) {
    if (a.slice(a.length - n) === b.slice(0, n)) return n;
  }
  return 0;
}

describe("SIWE nonce", () => {
  it("is 32 hex characters, unique, and consecutive nonces share no shifted run", () => {
    const nonces = Array.from({ length: 1000 }, () => newSiweNonce());
    for (const nonce of nonces) expect(nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(nonces).size).toBe(nonces.length);
    const overlaps = nonces.slice(1).map((b, i) => longestShiftOverlap(nonces[i] ?? "", b));
    // Random hex overlaps by chance only a few characters; a shifted sequence overlaps by ~all.
    expect(Math.max(...overlaps)).toBeLessThan(12);
  });

  it("the predictable viem generator this replaces fails the same check", () => {
    const nonces = Array.from({ length: 50 }, () => generateSiweNonce());
    const overlaps = nonces.slice(1).map((b, i) => longestShiftOverlap(nonces[i] ?? "", b));
    expect(Math.max(...overlaps)).toBeGreaterThanOrEqual(12);
  });
});
