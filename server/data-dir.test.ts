import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { securePrivateData } from "./data-dir";

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const mode = (file: string) => statSync(file).mode & 0o777;

describe("securePrivateData", () => {
  it("makes the blob and terminal folders and the SQLite files of an older install private", () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-private-"));
    made.push(dataDir);
    const db = path.join(dataDir, "console.db");
    writeFileSync(db, "", { mode: 0o644 });
    writeFileSync(`${db}-wal`, "", { mode: 0o644 });
    mkdirSync(path.join(dataDir, "blobs"), { mode: 0o755 });
    securePrivateData({ dataDir, databaseUrl: `file:${db}` });
    expect(mode(path.join(dataDir, "blobs"))).toBe(0o700);
    expect(mode(path.join(dataDir, "terminal"))).toBe(0o700);
    expect(mode(db)).toBe(0o600);
    expect(mode(`${db}-wal`)).toBe(0o600);
  });

  it("creates the private folders 0700 and leaves PostgreSQL URLs alone", () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), "formation-private-"));
    made.push(parent);
    const dataDir = path.join(parent, "data");
    securePrivateData({ dataDir, databaseUrl: "postgresql://u@localhost/db" });
    expect(mode(path.join(dataDir, "blobs"))).toBe(0o700);
  });
});
