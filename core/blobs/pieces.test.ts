import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hashPieces, pieceHash } from "./pieces";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("hashPieces", () => {
  it("hashes each piece, the last one short", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pieces-"));
    dirs.push(dir);
    const bytes = Buffer.from(Array.from({ length: 2500 }, (_, i) => i % 251));
    await writeFile(join(dir, "f"), bytes);
    const got = await hashPieces(join(dir, "f"), { sizeBytes: bytes.length, pieceBytes: 1024 });
    expect(got).toEqual([
      sha(bytes.subarray(0, 1024)),
      sha(bytes.subarray(1024, 2048)),
      sha(bytes.subarray(2048)),
    ]);
    expect(pieceHash(bytes.subarray(2048))).toBe(got[2]);
  });

  it("reads past the end of a short file as zeros, so a missing piece fails its check", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pieces-"));
    dirs.push(dir);
    await writeFile(join(dir, "f"), Buffer.alloc(1024, 7));
    const got = await hashPieces(join(dir, "f"), { sizeBytes: 2048, pieceBytes: 1024 });
    expect(got[0]).toBe(sha(Buffer.alloc(1024, 7)));
    expect(got[1]).toBe(sha(Buffer.alloc(1024, 0)));
  });

  it("has no piece for an empty blob", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pieces-"));
    dirs.push(dir);
    await writeFile(join(dir, "f"), "");
    expect(await hashPieces(join(dir, "f"), { sizeBytes: 0, pieceBytes: 1024 })).toEqual([]);
  });
});
