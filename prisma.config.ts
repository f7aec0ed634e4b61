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

const PG_NAME_OID = 19;
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;
const patched = new WeakSet<object>();

/**
 * prisma/orm#27403: @prisma/adapter-pg cannot map the catalog types `name` and `"char"`, which the
 * schema engine reads while migrating ("Column type 'name' could not be deserialized"). Both are
 * plain text on the wire, so relabel them as `text` before the adapter maps column types. Only the
 * CLI (this config) needs it; the console's queries never select catalog columns.
 */
function relabelCatalogTypes(adapter: object): void {
  let proto: object | null = Object.getPrototypeOf(adapter);
  while (proto && !Object.hasOwn(proto, "performIO")) proto = Object.getPrototypeOf(proto);
  if (!proto || patched.has(proto)) return;
  const original: unknown = Reflect.get(proto, "performIO");
  if (typeof original !== "function") return;
  patched.add(proto);
  Reflect.set(proto, "performIO", async function (this: unknown, query: unknown) {
    const result: { fields?: { dataTypeID: number }[] } = await original.call(this, query);
    for (const field of result.fields ?? []) {
      if (field.dataTypeID === PG_NAME_OID || field.dataTypeID === PG_CHAR_OID)
        field.dataTypeID = PG_TEXT_OID;
    }
    return result;
  });
}

class MigrationPrismaPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    relabelCatalogTypes(adapter);
    return adapter;
  }
  override async connectToShadowDb() {
    const adapter = await super.connectToShadowDb();
    relabelCatalogTypes(adapter);
    return adapter;
  }
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: provider === "sqlite" ? "prisma/schema" : "prisma/.generated/postgresql/schema",
  migrations: { path: `prisma/migrations/${provider}` },
  async adapter() {
    const noDb = process.env.FORMATION_PRISMA_NO_DB === "1";
    if (provider === "postgresql") {
      // allowExitOnIdle: the CLI never disposes its adapter; without it the process lingers for the pool idle timeout.
      const real = new MigrationPrismaPg({
        connectionString: databaseUrl,
        allowExitOnIdle: true,
        idleTimeoutMillis: 50,
      });
      return noDb ? noDatabaseAdapter(real) : real;
    }
    if (noDb) return noDatabaseAdapter(new PrismaBetterSQLite3({ url: ":memory:" }));
    // better-sqlite3 creates the file but not its folder.
    mkdirSync(path.dirname(databaseUrl.replace(/^file:/, "")), { recursive: true });
    return new PrismaBetterSQLite3({ url: databaseUrl });
  },
});
