import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type TDatabase } from "./client";
import { migrateDatabase, migrationsUpToDate } from "./migrate";
import { startPostgresCluster, type TPostgresCluster } from "./postgres-cluster";
import { accountRepository } from "./repositories/account-repository";
import { auditRepository } from "./repositories/audit-repository";
import { nonceRepository } from "./repositories/nonce-repository";

// The derived PostgreSQL schema and migrations against a real, throwaway PostgreSQL 15.
describe("PostgreSQL provider", () => {
  let cluster: TPostgresCluster;
  let db: TDatabase;

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    db = createDatabase(cluster.url);
    expect(await migrationsUpToDate(db, cluster.url)).toBe(false);
    await migrateDatabase({ databaseUrl: cluster.url });
  });
  afterAll(async () => {
    await db?.$disconnect();
    await cluster?.stop();
  });

  it("applies the committed migrations, and re-applying is a no-op", async () => {
    const rows = await db.$queryRawUnsafe<{ migration_name: string }[]>(
      `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`,
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(await migrationsUpToDate(db, cluster.url)).toBe(true);
    await migrateDatabase({ databaseUrl: cluster.url });
  });

  it("round-trips the identity repositories, including atomic nonce consumption", async () => {
    const address = "0x00000000000000000000000000000000000000aa";
    const now = new Date();
    await accountRepository(db).touch(address, now);
    expect(await accountRepository(db).find(address)).toMatchObject({ address });

    const row = { signer: address, nonce: "f".repeat(32), expiresAt: new Date(now.getTime() + 60_000) };
    const attempts = await Promise.all([1, 2, 3].map(() => nonceRepository(db).consumeActionNonce(row)));
    expect(attempts.filter(Boolean)).toHaveLength(1);

    await nonceRepository(db).issueSiweNonce("n1", new Date(now.getTime() + 60_000));
    expect(await nonceRepository(db).consumeSiweNonce("n1", now)).toBe(true);
    expect(await nonceRepository(db).consumeSiweNonce("n1", now)).toBe(false);

    await auditRepository(db).insert({
      id: "a1",
      signer: address,
      action: "build.create",
      params: "{}",
      contentDigest: `0x${"0".repeat(64)}`,
      origin: "http://localhost:3000",
      chainId: 31337,
      nonce: row.nonce,
      expiresAt: row.expiresAt,
      signature: "0x",
      typedData: "{}",
      createdAt: now,
    });
    expect(await auditRepository(db).listBySigner(address, { limit: 10 })).toHaveLength(1);
  });
});
