import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "./atomic-write";

describe("writeFileAtomic", () => {
  let dir = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "atomic-write-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("survives overlapping writes of one file: each lands whole, no temp file is left", async () => {
    const path = join(dir, "status.json");
    const values = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, pad: "x".repeat(10_000) }));
    await Promise.all(values.map((v) => writeFileAtomic(path, v)));
    expect(values).toContain(await readFile(path, "utf8"));
    expect(await readdir(dir)).toEqual(["status.json"]);
  });

  it("leaves no temp file behind when the rename fails", async () => {
    await expect(writeFileAtomic(join(dir, "missing", "file.json"), "{}")).rejects.toThrow();
    expect(await readdir(dir)).toEqual([]);
  });
});
