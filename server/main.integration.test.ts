import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

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

describe("server/main.ts as a real process", () => {
  it("migrates a fresh database, serves /healthz, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
      cwd: root,
      env: {
        ...process.env,
        LOG_LEVEL: "info",
        PORT: String(port),
        FORMATION_DATA_DIR: dataDir,
        FORMATION_CONSOLE_NO_UI: "1",
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
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(output).toContain("console stopped");
  });
});
