import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { accountRepository } from "./account-repository";
import { nonceRepository } from "./nonce-repository";
import { sessionRepository } from "./session-repository";

const address = "0x00000000000000000000000000000000000000bb";
let t: TTestDatabase;
beforeEach(async () => {
  t = await createTestDatabase();
});
afterEach(async () => {
  await t.cleanup();
});

describe("identity repositories (real SQLite)", () => {
  it("consumes a SIWE nonce once, and never after expiry", async () => {
    const repo = nonceRepository(t.prisma);
    const now = new Date("2026-01-01T00:00:00Z");
    await repo.issueSiweNonce("fresh", new Date(now.getTime() + 1000));
    await repo.issueSiweNonce("stale", new Date(now.getTime() - 1));
    const results = await Promise.all([
      repo.consumeSiweNonce("fresh", now),
      repo.consumeSiweNonce("fresh", now),
    ]);
    expect(results.sort()).toEqual([false, true]);
    expect(await repo.consumeSiweNonce("stale", now)).toBe(false);
  });

  it("prunes only nonces that expired before the cut-off", async () => {
    const repo = nonceRepository(t.prisma);
    const cut = new Date("2026-01-01T00:00:00Z");
    await repo.consumeActionNonce({
      signer: address,
      nonce: "a".repeat(32),
      expiresAt: new Date(cut.getTime() - 1),
    });
    await repo.consumeActionNonce({
      signer: address,
      nonce: "b".repeat(32),
      expiresAt: new Date(cut.getTime() + 1),
    });
    expect(await repo.prune(cut)).toBe(1);
    expect(await t.prisma.consumedNonce.count()).toBe(1);
  });

  it("finds only live, unrevoked sessions", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    await accountRepository(t.prisma).touch(address, now);
    const sessions = sessionRepository(t.prisma);
    const base = { address, chainId: 31337, createdAt: now, userAgent: null };
    await sessions.create({ ...base, id: "s1", tokenHash: "h1", expiresAt: new Date(now.getTime() + 1000) });
    await sessions.create({ ...base, id: "s2", tokenHash: "h2", expiresAt: new Date(now.getTime() - 1000) });
    expect((await sessions.findActive("h1", now))?.id).toBe("s1");
    expect(await sessions.findActive("h2", now)).toBeNull();
    await sessions.revoke("s1", now);
    expect(await sessions.findActive("h1", now)).toBeNull();
  });
});
