import { chmodSync, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { TEnv } from "@/server/env";

/**
 * umask of the console process: what it creates (SQLite files, blobs, terminal logs) is readable by
 * its own user only. The data holds password hashes of instance users and users' build contexts.
 */
export const CONSOLE_UMASK = 0o077;

/** SQLite's database file and the sidecar files it creates next to it. */
function sqliteFiles(databaseUrl: string): string[] {
  if (!databaseUrl.startsWith("file:")) return [];
  const file = databaseUrl.slice("file:".length).split("?")[0] ?? "";
  if (file === "" || file === ":memory:") return [];
  const resolved = path.resolve(file);
  return [resolved, `${resolved}-wal`, `${resolved}-shm`, `${resolved}-journal`];
}

/** Folders of the data directory that only the console reads (blobs: users' build contexts). */
const PRIVATE_SUBDIRS = ["blobs", "terminal"];

/**
 * Makes the console's data private to its user, also for data written by an older console with a
 * laxer umask: its folders 0700 (nothing below them can be reached by other users) and the SQLite
 * files 0600. The data directory itself keeps its mode: on a single-node install it also holds the
 * node agent's data, which the unprivileged QEMU user must traverse. Runs before the database opens
 * and again once migrations created the file.
 */
export function securePrivateData(env: Pick<TEnv, "dataDir" | "databaseUrl">): void {
  for (const name of PRIVATE_SUBDIRS) {
    const dir = path.join(env.dataDir, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  for (const file of sqliteFiles(env.databaseUrl)) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}
