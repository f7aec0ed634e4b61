import { createWriteStream } from "node:fs";
import { chmod, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { FormationError } from "@/lib/errors";
import { qmpCommand } from "./qmp";

export class MigrationError extends FormationError<"MIGRATION_FAILED"> {
  override readonly name = "MigrationError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("MIGRATION_FAILED", message, options);
  }
}

/** QEMU's migration speed cap is 32 MiB/s by default: a local save must not be throttled. */
const UNTHROTTLED = 64 * 1024 * 1024 * 1024;

/**
 * Saves a running VM's RAM and device state (QEMU's migration stream) to `outFile`, leaving the
 * guest paused. The confined QEMU sees only its empty chroot, so it migrates to a Unix socket the
 * agent listens on inside that chroot (`chrootDir`), and the agent writes the stream to the file.
 */
export async function saveVmState(opts: {
  qmpPath: string;
  chrootDir: string;
  /** Unique per VM: names the socket in the chroot. */
  name: string;
  outFile: string;
  timeoutMs: number;
}): Promise<{ bytes: number }> {
  const sockName = `migrate-${opts.name}.sock`;
  const sockPath = join(opts.chrootDir, sockName);
  await rm(sockPath, { force: true });
  let bytes = 0;
  let server: Server | undefined;
  const received = new Promise<void>((resolve, reject) => {
    server = createServer((conn: Socket) => {
      server?.close();
      conn.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      pipeline(conn, createWriteStream(opts.outFile, { mode: 0o600 })).then(resolve, reject);
    });
    server.on("error", reject);
    server.listen(sockPath);
  });
  try {
    await new Promise<void>((resolve) => server?.once("listening", resolve));
    // QEMU runs as the unprivileged VM user by now.
    await chmod(sockPath, 0o666);
    await qmpCommand({ socketPath: opts.qmpPath, command: "stop" });
    await qmpCommand({
      socketPath: opts.qmpPath,
      command: "migrate-set-parameters",
      args: { "max-bandwidth": UNTHROTTLED },
    });
    await qmpCommand({ socketPath: opts.qmpPath, command: "migrate", args: { uri: `unix:/${sockName}` } });
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const info = (await qmpCommand({ socketPath: opts.qmpPath, command: "query-migrate" })) as {
        status?: string;
        "error-desc"?: string;
      };
      if (info.status === "completed") break;
      if (info.status === "failed" || info.status === "cancelled")
        throw new MigrationError(`saving the VM's memory failed: ${info["error-desc"] ?? info.status}`);
      if (Date.now() > deadline)
        throw new MigrationError(`saving the VM's memory took longer than ${opts.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await withTimeout(received, 10_000, "the migration stream did not end");
    return { bytes };
  } finally {
    server?.close();
    await rm(sockPath, { force: true });
  }
}

/** Waits until an incoming migration has loaded (QEMU started with `-incoming … -S`). */
export async function waitIncomingDone(opts: {
  qmpPath: string;
  timeoutMs: number;
  alive: () => boolean;
}): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (!opts.alive()) throw new MigrationError("QEMU exited while loading the saved state");
    const status = await qmpCommand({ socketPath: opts.qmpPath, command: "query-status" })
      .then((r) => (r as { status?: string }).status)
      .catch(() => undefined);
    // Started with -S: a loaded VM waits paused for the agent's `cont`.
    if (status === "paused" || status === "running") return;
    if (status !== undefined && status !== "inmigrate" && status !== "prelaunch")
      throw new MigrationError(`loading the saved state left the VM ${status}`);
    if (Date.now() > deadline)
      throw new MigrationError(`loading the saved state took longer than ${opts.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MigrationError(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
