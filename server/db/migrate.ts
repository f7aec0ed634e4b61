import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AppError } from "@/server/errors";
import { providerOf } from "./client";

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
    env: {
      ...process.env,
      DATABASE_URL: opts.databaseUrl,
      ...(opts.dataDir ? { FORMATION_DATA_DIR: opts.dataDir } : {}),
    },
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
