import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { isAppError } from "@/server/errors";
import { BlobStore } from "./blob-store";

const dirs: string[] = [];
function store(): BlobStore {
  const dir = mkdtempSync(path.join(os.tmpdir(), "blobs-"));
  dirs.push(dir);
  return new BlobStore({ dataDir: dir });
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("BlobStore", () => {
  it("stores by digest and reads back", async () => {
    const s = store();
    const { digest, size } = await s.putBytes({ bytes: new TextEncoder().encode("hello") });
    expect(digest).toBe("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    expect(size).toBe(5);
    const opened = await s.open(digest);
    const chunks: Buffer[] = [];
    for await (const c of opened?.stream ?? []) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("hello");
  });

  it("refuses a wrong digest or an oversize stream and leaves nothing behind", async () => {
    const s = store();
    const wrong = `sha256:${"0".repeat(64)}`;
    await expect(
      s.putStream({ stream: Readable.from([Buffer.from("x")]), expectedDigest: wrong, maxBytes: 10 }),
    ).rejects.toSatisfy((e) => isAppError(e, "BAD_REQUEST"));
    await expect(s.putStream({ stream: Readable.from([Buffer.alloc(20)]), maxBytes: 10 })).rejects.toSatisfy(
      (e) => isAppError(e, "PAYLOAD_TOO_LARGE"),
    );
    expect(await s.size(wrong)).toBeNull();
    expect(() => s.pathOf("sha256:../../etc/passwd")).toThrow();
  });
});
