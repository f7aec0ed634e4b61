import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { downloadBlob, partialPath } from "./download";
import { BlobError } from "./errors";
import { uploadBlob } from "./upload";

const blob = randomBytes(256 * 1024);
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const uploads: { auth: string | undefined; body: Buffer }[] = [];
/** Range headers the resumable route saw, in order ("" for none). */
const ranges: string[] = [];
/** Whether the resumable route stalls its next answer after 100 kB. */
let stallNext = true;
let server: Server;
let base: string;
let dir: string;

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "blobs-"));
  // A real HTTP server standing in for the console's blob routes.
  server = createServer((req, res) => {
    if (req.headers.authorization !== "Bearer good-token") {
      res.writeHead(401).end("bad token");
      return;
    }
    if (req.method === "GET" && req.url === "/blob") res.writeHead(200).end(blob);
    else if (req.method === "GET" && req.url === "/resumable") {
      // Like the console's blob route: honours `bytes=N-`; when told to, sends 100 kB and stalls
      // (an agent killed or a job cancelled mid-download is the client going away).
      const range = req.headers.range ?? "";
      ranges.push(range);
      const from = Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? 0);
      res.writeHead(from > 0 ? 206 : 200, { "content-length": blob.length - from });
      if (stallNext) {
        stallNext = false;
        res.write(blob.subarray(from, from + 100_000));
      } else res.end(blob.subarray(from));
    } else if (req.method === "HEAD" && req.url === "/held")
      res.writeHead(200, { "content-length": 1 }).end();
    else if (req.method === "GET" && req.url === "/tampered")
      res.writeHead(200).end(Buffer.concat([blob, Buffer.from("x")]));
    else if (req.method === "PUT" && req.url === "/upload") {
      body(req).then(
        (b) => {
          uploads.push({ auth: req.headers.authorization, body: b });
          res.writeHead(201).end();
        },
        () => res.writeHead(500).end(),
      );
    } else res.writeHead(404).end("no such blob");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server has no port");
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

async function blobError(promise: Promise<unknown>): Promise<BlobError> {
  const error = await promise.catch((e: unknown) => e);
  if (!(error instanceof BlobError)) throw new Error(`expected a BlobError, got ${String(error)}`);
  return error;
}

describe("blob transfer over real HTTP", () => {
  it("downloads, verifies and then serves the verified file from the store", async () => {
    const destPath = join(dir, "a.img");
    const first = await downloadBlob({
      url: `${base}/blob`,
      expectedDigest: digest,
      destPath,
      token: "good-token",
    });
    expect(first).toMatchObject({ digest, sizeBytes: blob.length, fromCache: false });
    expect((await readFile(destPath)).equals(blob)).toBe(true);
    const second = await downloadBlob({
      url: `${base}/nowhere`,
      expectedDigest: digest,
      destPath,
      token: "x",
    });
    expect(second.fromCache).toBe(true);
  });

  it("leaves nothing behind when the bytes do not match the digest", async () => {
    const destPath = join(dir, "b.img");
    const error = await blobError(
      downloadBlob({ url: `${base}/tampered`, expectedDigest: digest, destPath, token: "good-token" }),
    );
    expect(error.code).toBe("digestMismatch");
    await expect(stat(destPath)).rejects.toThrow();
  });

  it("resumes a download stopped mid-stream from the bytes it kept, and verifies the whole", async () => {
    const destPath = join(dir, "resumed.img");
    ranges.length = 0;
    stallNext = true;
    const controller = new AbortController();
    const first = downloadBlob({
      url: `${base}/resumable`,
      expectedDigest: digest,
      destPath,
      token: "good-token",
      signal: controller.signal,
    });
    await vi.waitFor(
      async () => {
        const kept = (await stat(partialPath(destPath)).catch(() => null))?.size ?? 0;
        if (kept < 100_000) throw new Error(`${kept} bytes kept so far`);
      },
      { timeout: 10_000, interval: 20 },
    );
    controller.abort();
    expect((await blobError(first)).code).toBe("aborted");
    const kept = (await stat(partialPath(destPath))).size;
    expect(kept).toBe(100_000);
    await expect(stat(destPath)).rejects.toThrow();
    const resumed = await downloadBlob({
      url: `${base}/resumable`,
      expectedDigest: digest,
      destPath,
      token: "good-token",
    });
    expect(ranges).toEqual(["", `bytes=${kept}-`]);
    expect(resumed).toMatchObject({
      fromCache: false,
      sizeBytes: blob.length,
      fetchedBytes: blob.length - kept,
    });
    expect((await readFile(destPath)).equals(blob)).toBe(true);
    await expect(stat(partialPath(destPath))).rejects.toThrow();
  });

  it("kept bytes that do not match fail the digest, go, and the next attempt fetches it all", async () => {
    const destPath = join(dir, "corrupt.img");
    await writeFile(partialPath(destPath), randomBytes(50_000));
    ranges.length = 0;
    stallNext = false;
    const bad = await blobError(
      downloadBlob({ url: `${base}/resumable`, expectedDigest: digest, destPath, token: "good-token" }),
    );
    expect(bad.code).toBe("digestMismatch");
    await expect(stat(partialPath(destPath))).rejects.toThrow();
    const again = await downloadBlob({
      url: `${base}/resumable`,
      expectedDigest: digest,
      destPath,
      token: "good-token",
    });
    expect(ranges).toEqual(["bytes=50000-", ""]);
    expect(again.fetchedBytes).toBe(blob.length);
    expect((await readFile(destPath)).equals(blob)).toBe(true);
  });

  it("starts over when the server ignores the range and sends the whole blob", async () => {
    const destPath = join(dir, "norange.img");
    await writeFile(partialPath(destPath), blob.subarray(0, 10_000));
    const got = await downloadBlob({
      url: `${base}/blob`,
      expectedDigest: digest,
      destPath,
      token: "good-token",
    });
    expect(got.fetchedBytes).toBe(blob.length);
    expect((await readFile(destPath)).equals(blob)).toBe(true);
  });

  it("reports HTTP status and body for refused requests", async () => {
    const destPath = join(dir, "c.img");
    const unauthorized = await blobError(
      downloadBlob({ url: `${base}/blob`, expectedDigest: digest, destPath }),
    );
    expect(unauthorized).toMatchObject({ code: "http", status: 401 });
    expect(unauthorized.message).toContain("bad token");
    const missing = await blobError(
      downloadBlob({ url: `${base}/missing`, expectedDigest: digest, destPath, token: "good-token" }),
    );
    expect(missing.status).toBe(404);
  });

  it("aborts a download when its signal fires", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await blobError(
      downloadBlob({
        url: `${base}/blob`,
        expectedDigest: digest,
        destPath: join(dir, "d.img"),
        token: "good-token",
        signal: controller.signal,
      }),
    );
    expect(error.code).toBe("aborted");
  });

  it("streams an upload with the bearer token", async () => {
    const path = join(dir, "up.img");
    await writeFile(path, blob);
    expect(await uploadBlob({ url: `${base}/upload`, path, token: "good-token" })).toEqual({
      sizeBytes: blob.length,
      sent: true,
    });
    expect(uploads.at(-1)?.body.equals(blob)).toBe(true);
    const refused = await blobError(uploadBlob({ url: `${base}/upload`, path, token: "bad" }));
    expect(refused.status).toBe(401);
  });

  it("sends a blob the console already holds only when asked to send it anyway", async () => {
    const path = join(dir, "base.img");
    await writeFile(path, blob);
    const before = uploads.length;
    // HEAD answers 200 for /held: nothing is sent.
    expect(await uploadBlob({ url: `${base}/held`, path, token: "good-token", skipIfPresent: true })).toEqual(
      {
        sizeBytes: blob.length,
        sent: false,
      },
    );
    // HEAD answers 404 for /upload: the PUT goes out.
    expect(
      await uploadBlob({ url: `${base}/upload`, path, token: "good-token", skipIfPresent: true }),
    ).toEqual({
      sizeBytes: blob.length,
      sent: true,
    });
    expect(uploads.length).toBe(before + 1);
    const refused = await blobError(
      uploadBlob({ url: `${base}/held`, path, token: "bad", skipIfPresent: true }),
    );
    expect(refused.status).toBe(401);
  });
});
