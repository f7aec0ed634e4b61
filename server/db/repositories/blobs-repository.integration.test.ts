import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type TDatabase } from "@/server/db/client";
import { migrateDatabase } from "@/server/db/migrate";
import { startPostgresCluster, type TPostgresCluster } from "@/server/db/postgres-cluster";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { createBlobReferencesRepository, createContextUploadsRepository } from "./blobs-repository";
import { createFormnetRepository } from "./formnet-repository";

// The issue #23 repositories on both providers: SQLite from the current schema, and SQLite and
// PostgreSQL from the committed migrations applied by the real `prisma migrate deploy`.

const GIB = 1024 * 1024 * 1024;
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const key = (c: string) => `${c.repeat(42)}A=`;

function suite(name: string, open: () => Promise<{ db: TDatabase; close: () => Promise<void> }>) {
  describe(name, () => {
    let db: TDatabase;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ db, close } = await open());
    });
    afterAll(async () => {
      await close?.();
    });

    it("records uploads per owner and sums sizes past 2^31 bytes", async () => {
      const uploads = createContextUploadsRepository(db);
      await uploads.record({ digest: digest("a"), owner: "0xu", sizeBytes: 1.5 * GIB });
      await uploads.record({ digest: digest("b"), owner: "0xu", sizeBytes: 1.5 * GIB });
      await uploads.record({ digest: digest("a"), owner: "0xv", sizeBytes: 1.5 * GIB });
      // Recording again refreshes the row instead of adding one.
      await uploads.record({ digest: digest("a"), owner: "0xu", sizeBytes: 1.5 * GIB });
      expect(await uploads.usedBytes("0xu")).toBe(3 * GIB);
      expect(await uploads.find({ digest: digest("a"), owner: "0xv" })).toMatchObject({
        sizeBytes: 1.5 * GIB,
      });
      expect(await uploads.usedBytes("0xnobody")).toBe(0);
      await uploads.deleteDigests([digest("a")]);
      expect(await uploads.usedBytes("0xu")).toBe(1.5 * GIB);
      expect(await uploads.usedBytes("0xv")).toBe(0);
    });

    it("finds which digests builds and instances reference", async () => {
      await db.build.create({
        data: {
          id: "b1",
          owner: "0xu",
          name: "app",
          formfile: "{}",
          contextDigest: digest("c"),
          contextSizeBytes: 1,
          status: "built",
          timeline: "[]",
          imageDigest: digest("d"),
        },
      });
      const { referenced, retained } = await createBlobReferencesRepository(db).retention(
        [digest("c"), digest("d"), digest("e")],
        { keepBuilds: 1 },
      );
      expect(referenced.has(digest("c")) && referenced.has(digest("d"))).toBe(true);
      expect(referenced.has(digest("e"))).toBe(false);
      // The newest shippable build of its NAME: retained.
      expect([...retained].sort()).toEqual([digest("c"), digest("d")].sort());
    });

    it("refuses a second holder of a WireGuard key, on insert and on update", async () => {
      const formnet = createFormnetRepository(db);
      expect(
        await formnet.tryInsert({
          ip: "10.42.0.1",
          kind: "node",
          ref: "n",
          publicKey: key("K"),
          endpoints: "[]",
        }),
      ).toBe(true);
      expect(
        await formnet.tryInsert({
          ip: "10.42.0.2",
          kind: "user",
          ref: "0xu:K",
          publicKey: key("K"),
          endpoints: "[]",
        }),
      ).toBe(false);
      expect(
        await formnet.tryInsert({
          ip: "10.42.0.3",
          kind: "instance",
          ref: "i",
          publicKey: null,
          endpoints: null,
        }),
      ).toBe(true);
      expect(await formnet.updatePeer({ ref: "i", publicKey: key("K"), endpoints: [] })).toBe(false);
      expect((await formnet.findByPublicKey(key("K")))?.ref).toBe("n");
      expect(await formnet.countUserDevices("0xu")).toBe(0);
    });
  });
}

suite("SQLite", async () => {
  const t: TTestDatabase = await createTestDatabase();
  return { db: t.prisma, close: t.cleanup };
});

suite("SQLite (committed migrations)", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "formation-migrated-"));
  const url = `file:${path.join(dir, "console.db")}`;
  await migrateDatabase({ databaseUrl: url, dataDir: dir });
  const db = createDatabase(url);
  return {
    db,
    close: async () => {
      await db.$disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

suite("PostgreSQL (committed migrations)", async () => {
  const cluster: TPostgresCluster = await startPostgresCluster();
  await migrateDatabase({ databaseUrl: cluster.url });
  const db = createDatabase(cluster.url);
  return {
    db,
    close: async () => {
      await db.$disconnect();
      await cluster.stop();
    },
  };
});
