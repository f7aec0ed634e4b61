import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startPostgresCluster, type TPostgresCluster } from "@/server/db/postgres-cluster";

// The issue #23 migration makes FormnetAddress.publicKey unique. Databases of older consoles may
// hold a key twice (that was the bug); the migration must keep one holder per key and apply.
// Both providers, committed migration files applied in order, on real SQLite and PostgreSQL.

const MIGRATION = "20261203173318_formnet_keys_context_uploads";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

function migrations(provider: "sqlite" | "postgresql"): { name: string; sql: string }[] {
  const dir = path.join(root, "prisma/migrations", provider);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => ({ name, sql: readFileSync(path.join(dir, name, "migration.sql"), "utf8") }));
}

const KEY_A = `${"A".repeat(42)}A=`;
const KEY_B = `${"B".repeat(42)}A=`;

// ip, kind, ref, publicKey, createdAt
const ROWS: [string, string, string, string | null, string][] = [
  ["10.42.0.1", "node", "n-1", KEY_A, "2026-11-02T00:00:00.000Z"],
  // The attack: a user's device with the node's key (joined later), and one that joined earlier.
  ["10.42.0.2", "user", "0xu:A", KEY_A, "2026-11-03T00:00:00.000Z"],
  ["10.42.0.3", "user", "0xe:A", KEY_A, "2026-11-01T00:00:00.000Z"],
  // Two devices sharing a key: the earliest keeps it.
  ["10.42.0.4", "user", "0xu:B", KEY_B, "2026-11-01T00:00:00.000Z"],
  ["10.42.0.5", "user", "0xv:B", KEY_B, "2026-11-05T00:00:00.000Z"],
  // Instances without their own key are untouched.
  ["10.42.0.6", "instance", "i-1", null, "2026-11-01T00:00:00.000Z"],
  ["10.42.0.7", "instance", "i-2", null, "2026-11-01T00:00:00.000Z"],
];
const SURVIVORS = ["10.42.0.1", "10.42.0.4", "10.42.0.6", "10.42.0.7"];

describe("migration: unique formnet keys", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("keeps one holder per key on SQLite", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "formation-migration-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const db = new Database(path.join(dir, "console.db"));
    try {
      const all = migrations("sqlite");
      const at = all.findIndex((m) => m.name === MIGRATION);
      expect(at).toBeGreaterThan(0);
      for (const m of all.slice(0, at)) db.exec(m.sql);
      const insert = db.prepare(
        `INSERT INTO "FormnetAddress" ("ip","kind","ref","publicKey","createdAt") VALUES (?,?,?,?,?)`,
      );
      // Prisma stores SQLite DateTime as milliseconds since the epoch.
      for (const [ip, kind, ref, key, created] of ROWS) insert.run(ip, kind, ref, key, Date.parse(created));
      for (const m of all.slice(at)) db.exec(m.sql);
      const ips = db.prepare(`SELECT "ip" FROM "FormnetAddress" ORDER BY "ip"`).all() as { ip: string }[];
      expect(ips.map((r) => r.ip)).toEqual(SURVIVORS);
      expect(() => insert.run("10.42.0.9", "user", "0xw:A", KEY_A, Date.now())).toThrow(/UNIQUE/);
    } finally {
      db.close();
    }
  });

  it("keeps one holder per key on PostgreSQL", async () => {
    const cluster: TPostgresCluster = await startPostgresCluster();
    cleanups.push(() => cluster.stop());
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    cleanups.push(() => client.end());
    const all = migrations("postgresql");
    const at = all.findIndex((m) => m.name === MIGRATION);
    for (const m of all.slice(0, at)) await client.query(m.sql);
    for (const [ip, kind, ref, key, created] of ROWS) {
      await client.query(
        `INSERT INTO "FormnetAddress" ("ip","kind","ref","publicKey","createdAt") VALUES ($1,$2,$3,$4,$5)`,
        [ip, kind, ref, key, created],
      );
    }
    for (const m of all.slice(at)) await client.query(m.sql);
    const { rows } = await client.query<{ ip: string }>(`SELECT "ip" FROM "FormnetAddress" ORDER BY "ip"`);
    expect(rows.map((r) => r.ip)).toEqual(SURVIVORS);
    await expect(
      client.query(
        `INSERT INTO "FormnetAddress" ("ip","kind","ref","publicKey") VALUES ('10.42.0.9','user','0xw:A',$1)`,
        [KEY_A],
      ),
    ).rejects.toThrow(/unique/i);
  });
});
