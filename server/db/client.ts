import { mkdirSync } from "node:fs";
import path from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient as PostgresPrismaClient } from "@/prisma/.generated/postgresql/client/index.js";
import { PrismaClient as SqlitePrismaClient } from "@/prisma/.generated/sqlite/client/index.js";
import { SerializedSqliteAdapter } from "./sqlite-adapter";

export type {
  Account,
  AppDomain,
  AuditEntry,
  Build,
  BuildCommitment,
  ContextUpload,
  Deployment,
  FormnetAddress,
  Instance,
  InstanceHealth,
  Job,
  Node,
  Prisma,
  Session,
  TlsCertificate,
} from "@/prisma/.generated/sqlite/client/index.js";

/**
 * The console's database client type. Both generated clients come from the same model files (the
 * PostgreSQL schema is derived mechanically), so their model APIs are identical; the SQLite client's
 * type is the one the code is written against. Repositories must not use provider-only extras
 * (`mode: "insensitive"`, `skipDuplicates`) without checking `databaseProvider`.
 */
export type TDatabase = SqlitePrismaClient;

export type TDatabaseProvider = "sqlite" | "postgresql";

export function providerOf(databaseUrl: string): TDatabaseProvider {
  return /^postgres(ql)?:\/\//.test(databaseUrl) ? "postgresql" : "sqlite";
}

/** Opens a Prisma client on a SQLite `file:` URL or a PostgreSQL URL through a driver adapter. */
export function createDatabase(databaseUrl: string): TDatabase {
  if (providerOf(databaseUrl) === "postgresql") {
    const client = new PostgresPrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
    // Same model API (see TDatabase); only the provider-specific type parameters differ.
    return client as unknown as TDatabase;
  }
  const file = databaseUrl.replace(/^file:/, "");
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  return new SqlitePrismaClient({ adapter: new SerializedSqliteAdapter({ url: databaseUrl }) });
}

/** Cheap liveness probe for /healthz. */
export async function pingDatabase(db: TDatabase): Promise<boolean> {
  try {
    await db.$queryRawUnsafe("SELECT 1");
    return true;
  } catch {
    return false;
  }
}
