import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import WebSocket from "ws";
import { wsBytes } from "@/core/ws-bytes";
import { formfileUser } from "@/lib/formfile/canonical";
import { parseTerminalServerFrame, type TTerminalServerFrame, terminalUrl } from "@/lib/protocol/terminal";
import type { TReplicaStatus } from "@/lib/status";
import type { TDatabase } from "@/server/db/client";
import { createBuildsRepository } from "@/server/db/repositories/builds-repository";
import { createInstancesRepository } from "@/server/db/repositories/instances-repository";
import { testFormfile } from "@/server/testing/platform";

const run = promisify(execFile);

/**
 * A terminal client for tests and benchmarks: speaks the browser's protocol over a real WebSocket,
 * collects output (decoded as UTF-8) and control frames, and waits on them with deadlines.
 */
export class TerminalTestClient {
  readonly ws: WebSocket;
  output = "";
  readonly frames: TTerminalServerFrame[] = [];
  closed: { code: number; reason: string } | null = null;
  readonly #waiters = new Set<() => void>();
  readonly #decoder = new TextDecoder();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data, isBinary) => {
      const bytes = wsBytes(data);
      if (isBinary) this.output += this.#decoder.decode(bytes, { stream: true });
      else {
        const frame = parseTerminalServerFrame(bytes.toString("utf8"));
        if (frame) this.frames.push(frame);
      }
      this.#wake();
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
  }

  static async connect(opts: {
    consoleUrl: string;
    instanceId: string;
    cookie?: string;
    sessionId?: string;
    origin?: string;
    cols?: number;
    rows?: number;
  }): Promise<TerminalTestClient> {
    const url = terminalUrl({
      origin: opts.consoleUrl,
      instanceId: opts.instanceId,
      sessionId: opts.sessionId ?? null,
      cols: opts.cols ?? 80,
      rows: opts.rows ?? 24,
    });
    const headers: Record<string, string> = {};
    if (opts.cookie) headers.cookie = opts.cookie;
    if (opts.origin) headers.origin = opts.origin;
    const ws = new WebSocket(url, { headers });
    const client = new TerminalTestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return client;
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Resolves with the predicate's value once truthy; rejects after `timeoutMs`. */
  waitFor<T>(what: string, predicate: () => T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = predicate();
        if (value) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; output tail: ${JSON.stringify(this.output.slice(-400))}, frames: ${JSON.stringify(this.frames)}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  frame<K extends TTerminalServerFrame["type"]>(type: K, timeoutMs?: number) {
    return this.waitFor(
      `a ${type} frame`,
      () => this.frames.find((f): f is Extract<TTerminalServerFrame, { type: K }> => f.type === type),
      timeoutMs,
    );
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text, "utf8"), { binary: true });
  }

  resize(cols: number, rows: number): void {
    this.ws.send(JSON.stringify({ type: "resize", cols, rows }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.ws.close();
    await this.waitFor("close", () => this.closed !== null, 5000);
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function pollUntil<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A throwaway OpenSSH server on a loopback port that trusts `caPublicKey` (root only). */
export type TTestSshd = { port: number; dir: string; stop(): Promise<void> };

export async function startTestSshd(opts: {
  caPublicKey: string;
  port: number;
  /** Loopback addresses to listen on (default 127.0.0.1). */
  listen?: string[];
}): Promise<TTestSshd> {
  const dir = await mkdtemp(join(tmpdir(), "formation-sshd-"));
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  await writeFile(join(dir, "ca.pub"), `${opts.caPublicKey}\n`);
  await writeFile(
    join(dir, "sshd_config"),
    [
      ...(opts.listen ?? ["127.0.0.1"]).map((a) => `ListenAddress ${a}`),
      `HostKey ${join(dir, "host_key")}`,
      `TrustedUserCAKeys ${join(dir, "ca.pub")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "AuthorizedKeysFile none",
      "UsePAM no",
      "StrictModes no",
      "AcceptEnv LANG",
      "PrintMotd no",
      "PrintLastLog no",
      "",
    ].join("\n"),
  );
  const child = spawn(
    "/usr/sbin/sshd",
    ["-D", "-e", "-f", join(dir, "sshd_config"), "-p", String(opts.port)],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: "127.0.0.1", port: opts.port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${opts.port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port: opts.port,
    dir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Inserts a build (Formfile with one USER) and an instance row the terminal gateway resolves. */
export async function seedTerminalInstance(
  db: TDatabase,
  opts: { id: string; owner: string; username: string; ip: string; status?: TReplicaStatus },
): Promise<void> {
  const buildId = `b-${opts.id}`;
  const user = formfileUser({
    username: opts.username,
    passwdHash: "$6$x$y",
    sshPwauth: false,
    disableRoot: false,
    chpasswdExpire: false,
  });
  await createBuildsRepository(db).createOrReset({
    id: buildId,
    owner: opts.owner.toLowerCase(),
    name: opts.id,
    formfile: JSON.stringify({ ...testFormfile(opts.id), users: [user] }),
    contextDigest: `sha256:${"0".repeat(64)}`,
    contextSizeBytes: 0,
    jobId: `j-${opts.id}`,
    deadline: new Date(Date.now() + 60_000),
    now: new Date(),
  });
  await createInstancesRepository(db).create({
    id: opts.id,
    deploymentId: `d-${opts.id}`,
    buildId,
    owner: opts.owner.toLowerCase(),
    nodeId: "n1",
    status: opts.status ?? "running",
    desired: "running",
    formnetIp: opts.ip,
    imageDigest: `sha256:${"1".repeat(64)}`,
    vcpu: 1,
    memoryMb: 512,
    diskGb: 5,
  });
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === "string") throw new Error("no free port");
  return address.port;
}
