#!/usr/bin/env node
// Offline wrapper around the Prisma 6.19 CLI for both database providers.
//
//   node scripts/prisma.mjs generate                       derive the PostgreSQL schema, generate both clients
//   node scripts/prisma.mjs migrate-deploy [--provider P]  apply committed migrations to DATABASE_URL
//   node scripts/prisma.mjs migrate-new NAME               write the next migration for BOTH providers
//   node scripts/prisma.mjs status [--provider P]          prisma migrate status
//   node scripts/prisma.mjs schema-sql [--provider P]      print the full schema as SQL (from empty)
//
// Why a wrapper: the CLI would otherwise try to download native engines. With the JS engine and a
// driver adapter (prisma.config.ts) it runs on its bundled WebAssembly engine, provided the engine
// env vars point at *some* executable and the update checkpoint is disabled.
// The SQLite schema in prisma/schema/ is the single source; the PostgreSQL schema and migrations
// are derived from it mechanically, never edited by hand.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const schemaDir = path.join(root, "prisma/schema");
const generatedDir = path.join(root, "prisma/.generated");
const migrationsRoot = path.join(root, "prisma/migrations");
const snapshotDir = path.join(migrationsRoot, "snapshot");
const prismaCli = path.join(root, "node_modules/prisma/build/index.js");
export const providers = ["sqlite", "postgresql"];

/** Directory of the schema folder for a provider (derived for PostgreSQL). */
export function schemaDirFor(provider) {
  return provider === "sqlite" ? schemaDir : path.join(generatedDir, "postgresql/schema");
}

const cacheDir = path.join(os.tmpdir(), `formation-prisma-${process.getuid?.() ?? "user"}`);

/** Writes (once) a do-nothing executable the engine env vars can point at. */
export function dummyEngine() {
  const file = path.join(cacheDir, "dummy-engine");
  if (!existsSync(file)) {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(file, "#!/bin/sh\necho 'formation: native Prisma engines are disabled' >&2\nexit 1\n");
    chmodSync(file, 0o755);
  }
  return file;
}

/** Environment for any Prisma CLI call. */
export function prismaEnv(provider, extra = {}) {
  const engine = dummyEngine();
  return {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: engine,
    PRISMA_QUERY_ENGINE_LIBRARY: engine,
    CHECKPOINT_DISABLE: "1",
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
    FORMATION_PRISMA_PROVIDER: provider,
    // Required by schema validation, never used for connecting (see base.prisma).
    FORMATION_PRISMA_UNUSED_URL:
      provider === "sqlite" ? "file:unused.db" : "postgresql://unused@localhost/unused",
    ...extra,
  };
}

function rewriteForProvider(text, provider, outputDir) {
  return text
    .replace(/(datasource\s+\w+\s*\{[^}]*?provider\s*=\s*)"sqlite"/s, `$1"${provider}"`)
    .replace(/(generator\s+\w+\s*\{[^}]*?output\s*=\s*)"[^"]*"/s, `$1${JSON.stringify(outputDir)}`);
}

/** Copies a SQLite schema folder to `dest` with provider and client output swapped. */
export function deriveSchema({ from = schemaDir, dest, provider }) {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const outputDir = path.join(generatedDir, provider, "client");
  for (const name of readdirSync(from).filter((n) => n.endsWith(".prisma"))) {
    const text = readFileSync(path.join(from, name), "utf8");
    writeFileSync(path.join(dest, name), rewriteForProvider(text, provider, outputDir));
  }
  return dest;
}

export function derivePostgresSchema() {
  return deriveSchema({ dest: schemaDirFor("postgresql"), provider: "postgresql" });
}

/** Runs the Prisma CLI; throws with the command line and exit code on failure. */
export function runPrisma(args, { provider = "sqlite", env = {}, capture = false } = {}) {
  const result = spawnSync(process.execPath, [prismaCli, ...args], {
    cwd: root,
    env: prismaEnv(provider, env),
    encoding: "utf8",
    stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
  });
  if (result.status !== 0) {
    const detail = capture ? `\n${result.stderr}${result.stdout}` : "";
    throw new Error(`prisma ${args.join(" ")} (provider ${provider}) exited with ${result.status}${detail}`);
  }
  return result.stdout ?? "";
}

/** SQL that turns `from` (a schema folder, or null for empty) into the current schema. */
export function diffSql({ provider, fromDir }) {
  const to = schemaDirFor(provider);
  const from = fromDir ? ["--from-schema-datamodel", fromDir] : ["--from-empty"];
  return runPrisma(["migrate", "diff", ...from, "--to-schema-datamodel", to, "--script"], {
    provider,
    capture: true,
    env: { FORMATION_PRISMA_NO_DB: "1" },
  });
}

/**
 * Full SQL of the CURRENT SQLite schema folder, cached by content hash (tests build fresh
 * databases from it; `generate` pre-warms it so the first test does not pay for the CLI).
 */
export function currentSchemaSql() {
  const files = readdirSync(schemaDir)
    .filter((n) => n.endsWith(".prisma"))
    .sort();
  const hash = createHash("sha256");
  for (const name of files)
    hash
      .update(name)
      .update("\0")
      .update(readFileSync(path.join(schemaDir, name)));
  const file = path.join(cacheDir, `schema-sqlite-${hash.digest("hex").slice(0, 16)}.sql`);
  if (existsSync(file)) return readFileSync(file, "utf8");
  const sql = diffSql({ provider: "sqlite", fromDir: null });
  mkdirSync(cacheDir, { recursive: true });
  // Parallel test workers may race here; rename makes the write atomic.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, sql);
  renameSync(tmp, file);
  return sql;
}

function isEmptyDiff(sql) {
  return sql.trim() === "" || /^-- This is an empty migration\.?\s*$/.test(sql.trim());
}

function migrateNew(name) {
  if (!/^[a-z0-9_]+$/.test(name ?? "")) throw new Error("migrate-new needs a NAME matching [a-z0-9_]+");
  derivePostgresSchema();
  const hasSnapshot = existsSync(snapshotDir);
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  // Diff both providers before writing anything, so a failure leaves no half-written migration.
  const diffs = providers.map((provider) => {
    const fromDir = hasSnapshot
      ? deriveSchema({ from: snapshotDir, dest: path.join(generatedDir, `snapshot-${provider}`), provider })
      : null;
    return { provider, sql: diffSql({ provider, fromDir }) };
  });
  const written = [];
  for (const { provider, sql } of diffs) {
    if (isEmptyDiff(sql)) continue;
    const dir = path.join(migrationsRoot, provider, `${stamp}_${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "migration.sql"), sql);
    writeFileSync(
      path.join(migrationsRoot, provider, "migration_lock.toml"),
      `# Written by scripts/prisma.mjs; do not edit.\nprovider = "${provider}"\n`,
    );
    written.push(path.relative(root, dir));
  }
  if (written.length === 0) {
    process.stdout.write("schema unchanged: no migration written\n");
    return;
  }
  // The snapshot is the schema the committed migrations produce; the next diff starts from it.
  rmSync(snapshotDir, { recursive: true, force: true });
  cpSync(schemaDir, snapshotDir, { recursive: true });
  process.stdout.write(`wrote ${written.join(", ")}\n`);
}

function providerFromArgs(args) {
  const i = args.indexOf("--provider");
  if (i >= 0) return args[i + 1];
  return (process.env.DATABASE_URL ?? "").startsWith("postgres") ? "postgresql" : "sqlite";
}

function main(argv) {
  const [command, ...rest] = argv;
  const provider = providerFromArgs(rest);
  if (!providers.includes(provider)) throw new Error(`unknown provider ${provider}`);
  switch (command) {
    case "generate":
      derivePostgresSchema();
      for (const p of providers) runPrisma(["generate", "--schema", schemaDirFor(p)], { provider: p });
      currentSchemaSql();
      return;
    case "migrate-deploy":
      derivePostgresSchema();
      runPrisma(["migrate", "deploy"], { provider });
      return;
    case "status":
      derivePostgresSchema();
      runPrisma(["migrate", "status"], { provider });
      return;
    case "migrate-new":
      migrateNew(rest[0]);
      return;
    case "schema-sql":
      derivePostgresSchema();
      process.stdout.write(diffSql({ provider, fromDir: null }));
      return;
    default:
      throw new Error(
        "usage: prisma.mjs <generate|migrate-deploy|migrate-new NAME|status|schema-sql> [--provider sqlite|postgresql]",
      );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
