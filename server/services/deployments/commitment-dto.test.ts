import { describe, expect, it } from "vitest";
import type { TCommitmentRow } from "@/server/db/repositories/commitments-repository";
import { toCommitmentDto } from "./commitment-dto";

const chain = { chainId: 31337, contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
const buildId = "ab".repeat(32);
const imageDigest = `sha256:${"cd".repeat(32)}`;
const row: TCommitmentRow = {
  id: "c-1",
  deploymentId: "d-1",
  owner: "0x0000000000000000000000000000000000000001",
  buildId,
  imageDigest,
  chainId: 31337,
  contract: chain.contract,
  nonce: "0",
  deadline: 1_800_000_000,
  signature: `0x${"11".repeat(65)}`,
  status: "confirmed",
  txHash: `0x${"22".repeat(32)}`,
  blockNumber: 7,
  existing: false,
  reason: null,
  createdAt: new Date(0),
  updatedAt: new Date(1000),
};

describe("toCommitmentDto", () => {
  it("says 'no chain configured' and 'not committed' apart when there is no row", () => {
    expect(toCommitmentDto({ row: null, chain: null, buildId, imageDigest }).state).toBe("no-chain");
    expect(toCommitmentDto({ row: null, chain, buildId, imageDigest })).toMatchObject({
      state: "not-committed",
      chainId: 31337,
      txHash: null,
    });
  });

  it("carries the relay's transaction, block and failure reason", () => {
    expect(toCommitmentDto({ row, chain, buildId, imageDigest })).toMatchObject({
      state: "confirmed",
      txHash: row.txHash,
      blockNumber: 7,
    });
    const failed: TCommitmentRow = {
      ...row,
      status: "failed",
      reason: "InvalidSignature",
      txHash: null,
      blockNumber: null,
    };
    expect(toCommitmentDto({ row: failed, chain, buildId, imageDigest })).toMatchObject({
      state: "failed",
      reason: "InvalidSignature",
    });
    // A relay not settled yet reads as pending (it is running or will resume).
    expect(toCommitmentDto({ row: { ...row, status: "pending" }, chain, buildId, imageDigest }).state).toBe(
      "pending",
    );
  });
});
