import { mkdirSync } from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { ColumnTypeEnum } from "@prisma/driver-adapter-utils";
import { defineConfig } from "prisma/config";

// The Prisma CLI (6.19) runs its WebAssembly schema engine through a driver adapter, which is what
// lets migrate/diff/push work offline. `scripts/prisma.mjs` sets FORMATION_PRISMA_PROVIDER and
// DATABASE_URL before calling the CLI; the console's own runtime uses server/db/client.ts instead.
const provider = process.env.FORMATION_PRISMA_PROVIDER === "postgresql" ? "postgresql" : "sqlite";
const dataDir = process.env.FORMATION_DATA_DIR ?? ".data";
const databaseUrl = process.env.DATABASE_URL || `file:${path.join(dataDir, "console.db")}`;

type TAdapterFactory = PrismaPg | PrismaBetterSQLite3;

/**
 * `migrate diff` between two schema files needs no database, yet the JS engine connects eagerly.
 * With FORMATION_PRISMA_NO_DB=1 (set by scripts/prisma.mjs for diffs) it gets an adapter that fails
 * any query, so deriving PostgreSQL migrations needs no running PostgreSQL.
 */
function noDatabaseAdapter(real: TAdapterFactory): TAdapterFactory {
  const fail = async (): Promise<never> => {
    throw new Error("FORMATION_PRISMA_NO_DB is set: this Prisma command must not touch a database");
  };
  // The PostgreSQL engine asks for the server version before diffing; answer as PostgreSQL 15.
  const queryRaw = async (query: { sql: string }) => {
    if (!query.sql.includes("version()")) return fail();
    return {
      columnNames: ["exists", "version", "numeric_version"],
      columnTypes: [ColumnTypeEnum.Boolean, ColumnTypeEnum.Text, ColumnTypeEnum.Int32],
      rows: [[true, "PostgreSQL 15.0", 150000]],
    };
  };
  const connection = {
    provider: real.provider,
    adapterName: real.adapterName,
    queryRaw,
    executeRaw: fail,
    executeScript: fail,
    startTransaction: fail,
    dispose: async () => {},
  };
  return Object.assign(Object.create(Object.getPrototypeOf(real)), real, {
    connect: async () => connection,
    connectToShadowDb: async () => connection,
  });
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: provider === "sqlite" ? "prisma/schema" : "prisma/.generated/postgresql/schema",
  migrations: { path: `prisma/migrations/${provider}` },
  async adapter() {
    const noDb = process.env.FORMATION_PRISMA_NO_DB === "1";
    if (provider === "postgresql") {
      const real = new PrismaPg({ connectionString: databaseUrl });
      return noDb ? noDatabaseAdapter(real) : real;
    }
    if (noDb) return noDatabaseAdapter(new PrismaBetterSQLite3({ url: ":memory:" }));
    // better-sqlite3 creates the file but not its folder.
    mkdirSync(path.dirname(databaseUrl.replace(/^file:/, "")), { recursive: true });
    return new PrismaBetterSQLite3({ url: databaseUrl });
  },
});
