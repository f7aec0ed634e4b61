import { lstat, mkdtemp, readdir, readlink, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContextError } from "./errors";
import { makeArchive } from "./test-archives";
import { unpackContext } from "./unpack";

/** mulberry32, seeded so a failing case reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEGMENTS = ["a", "b", "..", ".", "", "/", "c d", "x\\y", "link", "a/b", "~", "%2e%2e"];
const TYPES = ["file", "file", "file", "directory", "symlink", "symlink", "link", "fifo"] as const;

/** Every path under `dir`, with symlinks resolved, must stay inside `dir`. */
async function assertContained(dir: string, top?: string): Promise<void> {
  const root = top ?? (await realpath(dir));
  for (const name of await readdir(dir)) {
    const abs = join(dir, name);
    const info = await lstat(abs);
    if (info.isSymbolicLink()) {
      const target = resolve(dirname(abs), await readlink(abs));
      expect(relative(root, target).startsWith("..")).toBe(false);
    } else if (info.isDirectory()) await assertContained(abs, root);
  }
}

describe("unpackContext under fuzzing", () => {
  let sandbox = "";
  beforeAll(async () => {
    sandbox = await mkdtemp(join(tmpdir(), "ctx-fuzz-"));
  });
  afterAll(async () => {
    await rm(sandbox, { recursive: true, force: true });
  });

  it("either extracts inside destDir or rejects with a ContextError leaving nothing behind", async () => {
    const seed = 4242;
    const rnd = prng(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
    let accepted = 0;
    for (let i = 0; i < 150; i++) {
      const entries = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => {
        const name = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(SEGMENTS)).join("/") || "a";
        const type = pick(TYPES);
        const linkname = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(SEGMENTS)).join("/");
        return { header: { name, type, linkname }, ...(type === "file" ? { body: `v${i}` } : {}) };
      });
      let tarGz = await makeArchive(entries);
      if (rnd() < 0.2) {
        // Flip a byte to exercise the gzip and tar parsers' failure paths too.
        tarGz = Buffer.from(tarGz);
        const at = Math.floor(rnd() * tarGz.length);
        tarGz[at] = (tarGz[at] ?? 0) ^ (1 + Math.floor(rnd() * 255));
      }
      const destDir = join(sandbox, `dest-${i}`);
      try {
        await unpackContext({ tarGz, destDir });
        accepted++;
        await assertContained(destDir);
        await rm(destDir, { recursive: true });
      } catch (error) {
        if (!(error instanceof ContextError))
          throw new Error(`seed ${seed} case ${i}: ${JSON.stringify(entries)}`, { cause: error });
      }
      expect(await readdir(sandbox)).toEqual([]);
    }
    expect(accepted).toBeGreaterThan(10);
  });
});
