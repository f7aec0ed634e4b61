import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, describe, expect, it } from "vitest";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { sha256Digest } from "@/server/testing/agent-actions";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-main-"));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function pollHealth(url: string, deadlineMs: number): Promise<unknown> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return await res.json();
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${url} not healthy within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const ORIGIN = "http://console.test";

describe("server/main.ts as a real process", () => {
  it("migrates a fresh database, serves /healthz, keeps its data private (0600/0700, also an older install's) and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    // An older install's data, readable by everyone (issue #23, finding 9): made private on start.
    mkdirSync(path.join(dataDir, "blobs"), { mode: 0o755 });
    chmodSync(path.join(dataDir, "blobs"), 0o755);
    writeFileSync(path.join(dataDir, "console.db"), "");
    chmodSync(path.join(dataDir, "console.db"), 0o644);
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
      cwd: root,
      env: {
        ...process.env,
        LOG_LEVEL: "info",
        PORT: String(port),
        FORMATION_DATA_DIR: dataDir,
        FORMATION_CONSOLE_NO_UI: "1",
        CONSOLE_ORIGIN: ORIGIN,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const health = await pollHealth(`http://127.0.0.1:${port}/healthz`, 120_000);
      expect(health).toMatchObject({ status: "ok", db: true });
      // The database (password hashes) and users' contexts are private to the console's user.
      const mode = (name: string) => statSync(path.join(dataDir, name)).mode & 0o777;
      expect(mode("console.db")).toBe(0o600);
      expect(mode("blobs")).toBe(0o700);
      expect(mode("terminal")).toBe(0o700);
      for (const name of readdirSync(dataDir).filter((n) => n.startsWith("console.db-"))) {
        expect({ name, mode: mode(name) }).toEqual({ name, mode: 0o600 });
      }
      // A context a user uploads is stored 0600 in folders 0700, whatever the caller's umask.
      const context = randomBytes(512);
      const digest = sha256Digest(context);
      const authorization = await createReadAuthorization(privateKeyToAccount(generatePrivateKey()), {
        origin: ORIGIN,
        chainId: 31337,
      });
      const put = await fetch(`http://127.0.0.1:${port}/api/contexts/${digest}`, {
        method: "PUT",
        body: new Uint8Array(context),
        headers: { authorization },
      });
      expect(put.status, await put.text()).toBe(201);
      const hex = digest.slice("sha256:".length);
      expect(mode("blobs/sha256")).toBe(0o700);
      expect(mode(`blobs/sha256/${hex.slice(0, 2)}`)).toBe(0o700);
      expect(mode(`blobs/sha256/${hex.slice(0, 2)}/${hex}`)).toBe(0o600);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(output).toContain("console stopped");
  });
});
