import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { merkleTree, rootFromProof } from "./merkle";

const leaf = (s: string) => createHash("sha256").update(`formation-${s}`).digest();

describe("Merkle batches", () => {
  it("gives every leaf a path to the same root, for every batch size", () => {
    for (const n of [1, 2, 3, 5, 8, 13, 200]) {
      const leaves = Array.from({ length: n }, (_, i) => leaf(`${n}-${i}`));
      const { root, proofs } = merkleTree(leaves);
      expect(proofs).toHaveLength(n);
      for (const [i, l] of leaves.entries()) {
        expect(rootFromProof(l, proofs[i] ?? []).equals(root)).toBe(true);
      }
      expect(Math.max(...proofs.map((p) => p.length))).toBe(Math.ceil(Math.log2(n)));
    }
  });

  it("leads elsewhere for another leaf, a swapped side or a changed sibling", () => {
    const leaves = Array.from({ length: 6 }, (_, i) => leaf(`x${i}`));
    const { root, proofs } = merkleTree(leaves);
    const proof = proofs[2] ?? [];
    expect(rootFromProof(leaf("other"), proof).equals(root)).toBe(false);
    const swapped = proof.map((s) => (s[0] === "l" ? `r${s.slice(1)}` : `l${s.slice(1)}`) as typeof s);
    expect(rootFromProof(leaves[2] as Buffer, swapped).equals(root)).toBe(false);
    const changed = [...proof];
    changed[0] = `${proof[0]?.[0]}${"0".repeat(64)}` as (typeof proof)[number];
    expect(rootFromProof(leaves[2] as Buffer, changed).equals(root)).toBe(false);
    // A single leaf is its own root: a batch of one needs no path.
    expect(merkleTree([leaves[0] as Buffer]).root.equals(leaves[0] as Buffer)).toBe(true);
  });
});
