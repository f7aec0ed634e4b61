import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { unpackContext } from "@/core/context";
import { makeArchive } from "@/core/context/test-archives";
import { createLogger } from "@/core/log";
import { minimalFormfile } from "@/lib/formfile/testing";
import {
  agentBlobSourcesPath,
  PIECE_BYTES,
  parseRange,
  type TAgentToConsole,
  type TBlobSources,
  type TBuildPayload,
} from "@/lib/protocol";
import { dataPaths, imagePathFor } from "../config/paths";
import { DiskFullError } from "../host/disk-full";
import { buildExecutor } from "../jobs/executors/build";
import { prefetchExecutor } from "../jobs/executors/instance";
import { JobRunner } from "../jobs/job-runner";
import { JobStore } from "../jobs/job-store";
import type { TJobExecutors, TJobOffer, TMessageSink } from "../jobs/types";
import { downloadBlob } from "./download";

/**
 * The agent's downloads and the jobs that make them on a real, nearly full disk: an 8 MiB tmpfs as
 * its data directory (the test runs as root), a "filler" file standing for old images, and a real
 * HTTP server standing in for the console's blob routes.
 */
const MiB = 1024 * 1024;
const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

const small = randomBytes(256 * 1024);
const big = randomBytes(4 * MiB);
let context: Buffer;
let dataDir: string;
let jobsDir: string;
let server: Server;
let base: string;
/** Whether the stand-in console names the big blob's sources (the agent then fetches it in pieces). */
let servePieces = false;

beforeAll(async () => {
  // Random bytes do not compress: the archive is as big as what it unpacks to.
  context = await makeArchive([
    { header: { name: "data.bin", type: "file", mode: 0o644 }, body: randomBytes(3 * MiB) },
  ]);
  const blobs = new Map([
    ["/small", small],
    ["/big", big],
    ["/context", context],
  ]);
  const bigSources: TBlobSources = {
    digest: sha256(big),
    sizeBytes: big.length,
    pieceBytes: PIECE_BYTES,
    pieces: Array.from({ length: big.length / PIECE_BYTES }, (_, i) =>
      createHash("sha256")
        .update(big.subarray(i * PIECE_BYTES, (i + 1) * PIECE_BYTES))
        .digest("hex"),
    ),
    peers: [],
  };
  server = createServer((req, res) => {
    const body = blobs.get(req.url ?? "");
    const range = body && req.headers.range ? parseRange(req.headers.range, body.length) : null;
    if (req.headers.authorization !== "Bearer good-token") res.writeHead(401).end("bad token");
    else if (servePieces && req.url === agentBlobSourcesPath(sha256(big)))
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(bigSources));
    else if (req.method === "GET" && body && range)
      res.writeHead(206).end(body.subarray(range.start, range.end + 1));
    else if (req.method === "GET" && body) res.writeHead(200, { "content-length": body.length }).end(body);
    else res.writeHead(404).end("no such blob");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server has no port");
  base = `http://127.0.0.1:${address.port}`;
  jobsDir = await mkdtemp(join(tmpdir(), "formation-agent-full-jobs-"));
  dataDir = await mkdtemp(join(tmpdir(), "formation-agent-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "formation-agent-full", dataDir]);
});

afterEach(async () => {
  if (!dataDir) return;
  for (const name of await readdir(dataDir)) await rm(join(dataDir, name), { recursive: true, force: true });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(jobsDir, { recursive: true, force: true });
  if (!dataDir) return;
  execFileSync("umount", [dataDir]);
  await rm(dataDir, { recursive: true, force: true });
});

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Takes `bytes` of the disk, as old images would. */
async function fill(bytes: number): Promise<string> {
  const filler = join(dataDir, "filler");
  await writeFile(filler, Buffer.alloc(bytes, 1));
  return filler;
}

describe("downloadBlob on a full disk", () => {
  it("refuses a blob the disk cannot hold with a clear error, keeps nothing of it and the cached blob intact, and fetches it once there is room", async () => {
    const paths = dataPaths(dataDir);
    const cached = imagePathFor(paths, sha256(small));
    const download = (path: string, digest: string) =>
      downloadBlob({
        url: `${base}${path}`,
        expectedDigest: digest,
        destPath: imagePathFor(paths, digest),
        token: "good-token",
      });
    await download("/small", sha256(small));
    const filler = await fill(5 * MiB);

    const error = await download("/big", sha256(big)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiskFullError);
    expect(error).toMatchObject({ code: "DISK_FULL", errno: "ENOSPC", path: paths.images });
    expect(error instanceof DiskFullError ? error.message : String(error)).toBe(
      `the node's disk is full (${paths.images}): free space on that disk (lower images.keepRecent in ` +
        "the node agent's agent.json so the image GC keeps fewer unused images — it runs when the agent " +
        "starts and after each build — or delete instances and files this node no longer needs), then retry",
    );
    // No partial file is left, and the blob cached before is byte for byte what it was.
    expect(await readdir(paths.images)).toEqual([`sha256-${sha256(small).slice(7)}.img`]);
    expect((await readFile(cached)).equals(small)).toBe(true);

    // With the space back (the image GC removed old images), the same download goes through.
    await rm(filler);
    const again = await download("/big", sha256(big));
    expect(again).toMatchObject({ fromCache: false, sizeBytes: big.length });
    expect((await readFile(again.path)).equals(big)).toBe(true);
  });
});

/** Runs one job offer through a real JobRunner (records on an ordinary disk) to its outcome. */
async function runJob(offer: TJobOffer) {
  const messages: TAgentToConsole[] = [];
  const sink: TMessageSink = { send: (message) => messages.push(message) > 0 };
  const paths = dataPaths(dataDir);
  const common = { paths, consoleUrl: base, token: async () => "good-token" };
  const unused = async (): Promise<never> => {
    throw new Error("not used in this test");
  };
  const executors: TJobExecutors = {
    prefetch: prefetchExecutor(common),
    build: buildExecutor({
      ...common,
      cacheDir: join(dataDir, "cache"),
      buildImage: unused,
      // As the agent wires it (node-agent/agent.ts).
      unpackContext: async ({ archivePath, destDir }) => {
        await unpackContext({ tarGz: await readFile(archivePath), destDir });
      },
    }),
    boot: unused,
    stop: unused,
    start: unused,
    restart: unused,
    delete: unused,
  };
  const store = new JobStore(jobsDir);
  const runner = new JobRunner({ store, executors, sink, logger: createLogger("test"), maxConcurrent: 1 });
  await runner.init();
  runner.offer(offer);
  const outcome = () =>
    messages.find((m) => (m.type === "job.fail" || m.type === "job.complete") && m.jobId === offer.jobId);
  await expect.poll(outcome, { timeout: 15_000 }).toBeDefined();
  await runner.drain(0);
  return { outcome: outcome(), record: store.get(offer.jobId), paths };
}

describe("jobs on a full disk", () => {
  it.each([
    ["in one stream", false],
    ["in pieces (protocol 6)", true],
  ])(
    "fails a prefetch whose image does not fit (%s) with the disk-full reason, not as interrupted",
    async (_, pieces) => {
      servePieces = pieces;
      await fill(5 * MiB);
      const { outcome, record, paths } = await runJob({
        type: "job.offer",
        jobId: `prefetch-full-${String(pieces)}`,
        leaseMs: 30_000,
        kind: "prefetch",
        payload: { imageUrl: "/big", imageDigest: sha256(big) },
      });
      expect(outcome).toMatchObject({ type: "job.fail" });
      expect(outcome).not.toHaveProperty("interrupted");
      const reason = outcome?.type === "job.fail" ? outcome.reason : "";
      expect(reason.startsWith(`the node's disk is full (${paths.images}): free space on that disk`)).toBe(
        true,
      );
      expect(reason).toContain("ENOSPC");
      expect(record?.state).toBe("failed");
      expect(await readdir(paths.images)).toEqual([]);
    },
  );

  it("fails a build whose context does not fit when unpacked with the disk-full reason and cleans its work", async () => {
    await fill(3 * MiB);
    const payload: TBuildPayload = {
      buildId: "b1",
      formfile: minimalFormfile(),
      contextUrl: "/context",
      contextDigest: sha256(context),
      contextSizeBytes: context.length,
    };
    await mkdir(dataPaths(dataDir).builds, { recursive: true });
    const { outcome, record, paths } = await runJob({
      type: "job.offer",
      jobId: "build-full",
      leaseMs: 30_000,
      kind: "build",
      payload,
    });
    expect(outcome).toMatchObject({ type: "job.fail" });
    expect(outcome).not.toHaveProperty("interrupted");
    const reason = outcome?.type === "job.fail" ? outcome.reason : "";
    // The unpacker calls it "not a valid tar archive"; the job says what really happened.
    expect(reason).toMatch(
      new RegExp(
        `^the node's disk is full \\(${escapeRegExp(paths.builds)}/[^)]+\\): free space on that disk`,
      ),
    );
    expect(reason).not.toContain("not a valid tar archive");
    expect(record?.state).toBe("failed");
    expect(await readdir(paths.builds)).toEqual([]);
  });
});
