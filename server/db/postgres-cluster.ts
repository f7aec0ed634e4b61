import { execFile } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { postgresBinDir } from "@/server/env";

const run = promisify(execFile);
const PG_BIN = postgresBinDir();

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user. */
async function pg(tool: string, args: string[], asPostgres: boolean): Promise<void> {
  const file = asPostgres ? "runuser" : path.join(PG_BIN, tool);
  const argv = asPostgres ? ["-u", "postgres", "--", path.join(PG_BIN, tool), ...args] : args;
  try {
    await run(file, argv, { timeout: 60_000 });
  } catch (cause) {
    const code = typeof cause === "object" && cause && "code" in cause ? String(cause.code) : "?";
    const stderr = typeof cause === "object" && cause && "stderr" in cause ? String(cause.stderr) : "";
    throw new Error(`${file} ${argv.join(" ")} failed (exit ${code}): ${stderr.trim()}`, { cause });
  }
}

export type TPostgresCluster = { url: string; dataDir: string; stop(): Promise<void> };

/**
 * A throwaway PostgreSQL cluster for integration tests: initdb in a temp dir, trust auth, loopback
 * TCP on a free port, fsync off. `stop()` shuts it down immediately and deletes the directory.
 */
export async function startPostgresCluster(): Promise<TPostgresCluster> {
  const asPostgres = process.getuid?.() === 0;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-pg-"));
  if (asPostgres) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dataDir, Number(stdout.trim()), Number(gid.trim()));
  }
  const port = await freePort();
  try {
    await pg(
      "initdb",
      ["-D", dataDir, "-A", "trust", "-U", "formation", "-E", "UTF8", "--no-sync"],
      asPostgres,
    );
    const options = `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    await pg(
      "pg_ctl",
      ["-D", dataDir, "-o", options, "-l", path.join(dataDir, "server.log"), "-w", "start"],
      asPostgres,
    );
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgresql://formation@127.0.0.1:${port}/postgres`,
    dataDir,
    async stop() {
      try {
        await pg("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"], asPostgres);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
