import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
// The CURRENT schema folder (not the committed migrations), so tests see models other areas add
// before anyone writes a migration; cached by content hash, pre-warmed by `prisma.mjs generate`.
import { currentSchemaSql } from "@/scripts/prisma.mjs";
import { createDatabase, type TDatabase } from "./client";

export type TTestDatabase = {
  prisma: TDatabase;
  /** `file:` URL of the database, e.g. to hand to an in-process console. */
  url: string;
  cleanup: () => Promise<void>;
};

/** A fresh SQLite database with the current schema in its own temp dir (~10 ms after the first). */
export async function createTestDatabase(): Promise<TTestDatabase> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "formation-testdb-"));
  const file = path.join(dir, "console.db");
  const raw = new Database(file);
  try {
    raw.pragma("journal_mode = WAL");
    raw.exec(currentSchemaSql());
  } finally {
    raw.close();
  }
  const url = `file:${file}`;
  const prisma = createDatabase(url);
  return {
    prisma,
    url,
    cleanup: async () => {
      await prisma.$disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
