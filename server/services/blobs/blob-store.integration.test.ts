import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@/server/errors";
import { BlobStore } from "./blob-store";

/**
 * The console's blob store on a real, nearly full disk: a 4 MiB tmpfs as its data directory (root).
 */
describe("BlobStore on a full disk", () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "formation-blobs-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "formation-blobs-full", dataDir]);
  });

  afterAll(async () => {
    if (!dataDir) return;
    execFileSync("umount", [dataDir]);
    await rm(dataDir, { recursive: true, force: true });
  });

  it("refuses an upload the disk cannot hold with a clear error, keeps nothing of it, and keeps working", async () => {
    const store = new BlobStore({ dataDir });
    const small = await store.putBytes({ bytes: randomBytes(64 * 1024) });
    // 6 MiB in 64 KiB chunks, as an agent's image upload streams in.
    const chunks = Array.from({ length: 96 }, () => randomBytes(64 * 1024));
    const error = await store
      .putStream({ stream: Readable.from(chunks), maxBytes: Number.POSITIVE_INFINITY })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: "RESOURCE_EXHAUSTED", httpStatus: 503 });
    expect(String((error as AppError).message)).toMatch(
      /^the console's disk is full \(.*\): nothing was stored; free space/,
    );
    // No temp file or partial blob is left, and what was stored before is intact.
    const listed = await store.list();
    expect(listed.map((b) => b.digest)).toEqual([small.digest]);
    expect((await readdir(store.root)).filter((n) => n.startsWith(".tmp-"))).toEqual([]);
    expect(await store.size(small.digest)).toBe(64 * 1024);
    // With the space back, the next upload goes through.
    const next = await store.putBytes({ bytes: randomBytes(1024 * 1024) });
    expect(await store.size(next.digest)).toBe(1024 * 1024);
  });
});
