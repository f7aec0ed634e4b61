import { createHash } from "node:crypto";

/**
 * Binary Merkle tree over SHA-256 leaves, so one signature can cover a batch of changes while each
 * change still travels (and is verified) on its own with a short path to the signed root.
 * Inner nodes hash `0x01 ‖ left ‖ right`; leaves are SHA-256 of a signing message that starts
 * with "formation-", never 0x01, so a leaf can never pose as an inner node or the reverse. An odd
 * node is promoted unchanged (duplicating it would let two leaf lists share a root).
 */

/** One step of a path: the sibling's hash and whether it sits left (`l`) or right (`r`). */
export type TProofStep = `${"l" | "r"}${string}`;

export const MAX_PROOF_STEPS = 16;

function inner(left: Buffer, right: Buffer): Buffer {
  return createHash("sha256")
    .update(Buffer.from([1]))
    .update(left)
    .update(right)
    .digest();
}

/** Root of `leaves` (at least one) and, for each leaf, its path to the root. */
export function merkleTree(leaves: readonly Buffer[]): { root: Buffer; proofs: TProofStep[][] } {
  if (leaves.length === 0) throw new RangeError("a Merkle tree needs at least one leaf");
  const proofs: TProofStep[][] = leaves.map(() => []);
  // members[i] = leaf indexes under level node i
  let level = [...leaves];
  let members = leaves.map((_, i) => [i]);
  while (level.length > 1) {
    const next: Buffer[] = [];
    const nextMembers: number[][] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Buffer;
      const right = level[i + 1];
      const leftMembers = members[i] as number[];
      if (!right) {
        next.push(left);
        nextMembers.push(leftMembers);
        continue;
      }
      const rightMembers = members[i + 1] as number[];
      for (const m of leftMembers) proofs[m]?.push(`r${right.toString("hex")}`);
      for (const m of rightMembers) proofs[m]?.push(`l${left.toString("hex")}`);
      next.push(inner(left, right));
      nextMembers.push([...leftMembers, ...rightMembers]);
    }
    level = next;
    members = nextMembers;
  }
  return { root: level[0] as Buffer, proofs };
}

/** The root a leaf and its path lead to. */
export function rootFromProof(leaf: Buffer, proof: readonly TProofStep[]): Buffer {
  let node = leaf;
  for (const step of proof) {
    const sibling = Buffer.from(step.slice(1), "hex");
    node = step[0] === "l" ? inner(sibling, node) : inner(node, sibling);
  }
  return node;
}
