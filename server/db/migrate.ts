import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inheritedEnv } from "@/core/env";
import { AppError } from "@/server/errors";
import { providerOf, type TDatabase } from "./client";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const script = path.join(root, "scripts/prisma.mjs");

/**
 * Applies pending committed migrations (prisma/migrations/<provider>) by running
 * `node scripts/prisma.mjs migrate-deploy`. Going through the CLI keeps Prisma's own
 * `_prisma_migrations` bookkeeping (checksums, failed-migration detection); it costs ~1 s.
 */
export async function migrateDatabase(opts: { databaseUrl: string; dataDir?: string }): Promise<void> {
  const provider = providerOf(opts.databaseUrl);
  const args = [script, "migrate-deploy", "--provider", provider];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: inheritedEnv({
      DATABASE_URL: opts.databaseUrl,
      ...(opts.dataDir ? { FORMATION_DATA_DIR: opts.dataDir } : {}),
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  if (code !== 0) {
    throw new AppError("UNAVAILABLE", `Database migration failed (exit ${code}): node ${args.join(" ")}`, {
      details: { output: output.slice(-4000) },
    });
  }
}

/** Names of the committed migrations for the database's provider, oldest first. */
export function committedMigrations(databaseUrl: string): string[] {
  const dir = path.join(root, "prisma/migrations", providerOf(databaseUrl));
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/**
 * True when every committed migration is recorded as applied, so a restart can skip the CLI
 * (~1–5 s). Any doubt (no table, a failed or rolled-back row, a new migration) answers false and
 * the caller runs the real `migrate deploy`, which also verifies checksums.
 */
export async function migrationsUpToDate(db: TDatabase, databaseUrl: string): Promise<boolean> {
  let rows: { migration_name: string; finished_at: unknown; rolled_back_at: unknown }[];
  try {
    rows = await db.$queryRawUnsafe(
      `SELECT migration_name, finished_at, rolled_back_at FROM "_prisma_migrations"`,
    );
  } catch {
    return false;
  }
  const applied = new Set(
    rows.filter((r) => r.finished_at && !r.rolled_back_at).map((r) => r.migration_name),
  );
  if (rows.some((r) => !r.finished_at && !r.rolled_back_at)) return false;
  return committedMigrations(databaseUrl).every((name) => applied.has(name));
}
