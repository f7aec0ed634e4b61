import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import {
  createBlobReferencesRepository,
  createContextUploadsRepository,
} from "@/server/db/repositories/blobs-repository";
import { createInstancesRepository } from "@/server/db/repositories/instances-repository";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { sha256Digest } from "@/server/testing/agent-actions";
import { eventually } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";
import { BlobGc, EXPIRED_UPLOAD_GUARD_MS } from "./blob-gc";
import { BlobStore } from "./blob-store";

// The blob GC against a real blob store directory and a real SQLite database, and in a running
// console that users upload to over HTTP (issue #23, finding 6).

const HOUR = 3600_000;
const GRACE = 24 * HOUR;
let db: TTestDatabase;
let dir: string;
let blobs: BlobStore;

beforeEach(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(path.join(os.tmpdir(), "formation-blob-gc-"));
  blobs = new BlobStore({ dataDir: dir });
});
afterEach(async () => {
  await db.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Stores a random blob last written `ageMs` ago. */
async function blob(ageMs: number): Promise<string> {
  const { digest } = await blobs.putBytes({ bytes: randomBytes(1000) });
  const at = new Date(Date.now() - ageMs);
  utimesSync(blobs.pathOf(digest), at, at);
  return digest;
}

async function build(opts: {
  id: string;
  contextDigest: string;
  imageDigest?: string;
  baseDigest?: string;
  name?: string;
  status?: string;
  createdAt?: Date;
}) {
  await db.prisma.build.create({
    data: {
      id: opts.id,
      owner: "0xowner",
      name: opts.name ?? "app",
      formfile: "{}",
      contextDigest: opts.contextDigest,
      contextSizeBytes: 1000,
      status: opts.status ?? "built",
      timeline: "[]",
      imageDigest: opts.imageDigest ?? null,
      baseDigest: opts.baseDigest ?? null,
      ...(opts.createdAt ? { createdAt: opts.createdAt } : {}),
    },
  });
}

function gc(intervalMs = 60_000, keepBuilds = 5) {
  return new BlobGc({
    blobs,
    references: createBlobReferencesRepository(db.prisma),
    contexts: createContextUploadsRepository(db.prisma),
    graceMs: GRACE,
    intervalMs,
    keepBuilds,
    log: createLogger("blob-gc-test"),
  });
}

describe("BlobGc", () => {
  it("deletes old unreferenced contexts and images (and their ownership rows), keeps the rest", async () => {
    const uploads = createContextUploadsRepository(db.prisma);
    const unusedContext = await blob(GRACE + HOUR);
    await uploads.record({ digest: unusedContext, owner: "0xa", sizeBytes: 1000 });
    await uploads.record({ digest: unusedContext, owner: "0xb", sizeBytes: 1000 });
    const builtContext = await blob(GRACE + HOUR);
    await uploads.record({ digest: builtContext, owner: "0xa", sizeBytes: 1000 });
    const freshContext = await blob(HOUR);
    await uploads.record({ digest: freshContext, owner: "0xa", sizeBytes: 1000 });
    const builtImage = await blob(GRACE + HOUR);
    const instanceImage = await blob(GRACE + HOUR);
    const orphanImage = await blob(GRACE + HOUR);
    await build({ id: "b1", contextDigest: builtContext, imageDigest: builtImage });
    await createInstancesRepository(db.prisma).create({
      id: "i1",
      deploymentId: "d1",
      buildId: "b-gone",
      owner: "0xowner",
      nodeId: "n1",
      status: "running",
      desired: "running",
      formnetIp: null,
      imageDigest: instanceImage,
      vcpu: 1,
      memoryMb: 512,
      diskGb: 5,
    });
    const staleTemp = path.join(blobs.root, ".tmp-stale");
    const liveTemp = path.join(blobs.root, ".tmp-live");
    writeFileSync(staleTemp, "x");
    writeFileSync(liveTemp, "x");
    const old = new Date(Date.now() - GRACE - HOUR);
    utimesSync(staleTemp, old, old);

    const result = await gc().sweep();

    expect(result.deleted.sort()).toEqual([unusedContext, orphanImage].sort());
    expect(result.freedBytes).toBe(2000);
    expect(result.tempFiles).toBe(1);
    expect(await blobs.size(unusedContext)).toBeNull();
    expect(await blobs.size(orphanImage)).toBeNull();
    for (const kept of [builtContext, freshContext, builtImage, instanceImage])
      expect(await blobs.size(kept)).toBe(1000);
    expect(existsSync(staleTemp)).toBe(false);
    expect(existsSync(liveTemp)).toBe(true);
    // Deleting a blob drops every uploader's row, which frees their quota.
    expect(await uploads.find({ digest: unusedContext, owner: "0xa" })).toBeNull();
    expect(await uploads.usedBytes("0xa")).toBe(2000);
    expect(await uploads.usedBytes("0xb")).toBe(0);

    // A second sweep has nothing left to do.
    expect((await gc().sweep()).deleted).toEqual([]);
  });

  it("counts age from the latest upload: re-uploading the bytes restarts the grace period", async () => {
    const digest = await blob(GRACE + HOUR);
    // The same bytes again: a re-upload renames a fresh file into place.
    await blobs.putBytes({ bytes: readFileSync(blobs.pathOf(digest)), expectedDigest: digest });
    expect((await gc().sweep()).deleted).toEqual([]);
    expect(await blobs.size(digest)).toBe(1000);
  });

  it("retention: keeps the blobs of the newest builds of each NAME, of deployed and unfinished builds, deletes the rest", async () => {
    const OLD = EXPIRED_UPLOAD_GUARD_MS + HOUR;
    const at = (minutes: number) => new Date(Date.now() - 10 * HOUR + minutes * 60_000);
    // Four shippable builds of "app" (b1 oldest), one of "other", one failed and one still building.
    const pair = async () => ({ context: await blob(OLD), image: await blob(OLD) });
    const made = { b1: await pair(), b2: await pair(), b3: await pair(), b4: await pair() };
    for (const [i, [id, p]] of Object.entries(made).entries())
      await build({ id, contextDigest: p.context, imageDigest: p.image, createdAt: at(i) });
    const other = { context: await blob(OLD), image: await blob(OLD) };
    await build({
      id: "o1",
      name: "other",
      contextDigest: other.context,
      imageDigest: other.image,
      createdAt: at(0),
    });
    const failedContext = await blob(OLD);
    await build({ id: "f1", contextDigest: failedContext, status: "failed", createdAt: at(9) });
    const buildingContext = await blob(OLD);
    await build({ id: "q1", contextDigest: buildingContext, status: "building", createdAt: at(10) });
    // b1 is deployed (2 replicas wanted); b2's deployment was deleted (0 wanted).
    await db.prisma.deployment.create({
      data: { id: "d1", owner: "0xowner", name: "app", buildId: "b1", replicas: 2 },
    });
    await db.prisma.deployment.create({
      data: { id: "d2", owner: "0xowner", name: "app2", buildId: "b2", replicas: 0 },
    });
    // An expired build's image uploaded again a minute ago (a builder cache hit being finished).
    const recentImage = await blob(60_000);
    await build({ id: "b0", contextDigest: failedContext, imageDigest: recentImage, createdAt: at(-1) });

    // Keep the 2 newest builds of each NAME: b3, b4 of app; o1 of other.
    const result = await gc(60_000, 2).sweep();

    expect(result.deleted.sort()).toEqual([made.b2.context, made.b2.image, failedContext].sort());
    for (const kept of [
      ...Object.values(made.b1),
      ...Object.values(made.b3),
      ...Object.values(made.b4),
      ...Object.values(other),
      buildingContext,
      recentImage,
    ])
      expect(await blobs.size(kept)).toBe(1000);
  });

  it("a live instance keeps its image; a deleted one does not", async () => {
    const old = EXPIRED_UPLOAD_GUARD_MS + HOUR;
    const live = await blob(old);
    const gone = await blob(old);
    const instances = createInstancesRepository(db.prisma);
    for (const [id, imageDigest, status] of [
      ["i1", live, "running"],
      ["i2", gone, "deleted"],
    ] as const) {
      await build({ id: `b-${id}`, contextDigest: await blob(60_000), imageDigest, status: "failed" });
      await instances.create({
        id,
        deploymentId: "d1",
        buildId: `b-${id}`,
        owner: "0xowner",
        nodeId: "n1",
        status,
        desired: status,
        formnetIp: null,
        imageDigest,
        vcpu: 1,
        memoryMb: 512,
        diskGb: 5,
      });
    }
    expect((await gc().sweep()).deleted).toEqual([gone]);
  });

  it("keeps a base while a retained build or a live replica's image is a layer over it", async () => {
    const old = EXPIRED_UPLOAD_GUARD_MS + HOUR;
    const [keptBase, replicaBase, goneBase] = [await blob(old), await blob(old), await blob(old)];
    // Retained (newest of its NAME): its base stays.
    await build({
      id: "b1",
      contextDigest: await blob(old),
      imageDigest: await blob(old),
      baseDigest: keptBase,
    });
    // Past retention, but a live replica runs its image: the image and its base stay.
    const replicaImage = await blob(old);
    const replicaContext = await blob(old);
    await build({
      id: "b2",
      name: "other",
      contextDigest: replicaContext,
      imageDigest: replicaImage,
      baseDigest: replicaBase,
      status: "failed",
    });
    await createInstancesRepository(db.prisma).create({
      id: "i1",
      deploymentId: "d1",
      buildId: "b2",
      owner: "0xowner",
      nodeId: "n1",
      status: "running",
      desired: "running",
      formnetIp: null,
      imageDigest: replicaImage,
      vcpu: 1,
      memoryMb: 512,
      diskGb: 5,
    });
    // Only a build past retention names it: it goes with that build's image and context.
    const goneImage = await blob(old);
    const goneContext = await blob(old);
    await build({
      id: "b3",
      name: "third",
      contextDigest: goneContext,
      imageDigest: goneImage,
      baseDigest: goneBase,
      status: "failed",
    });
    const deleted = (await gc().sweep()).deleted;
    // (b2's context is needed by no one: the replica runs the image.)
    expect(deleted.sort()).toEqual([goneBase, goneImage, goneContext, replicaContext].sort());
    for (const kept of [keptBase, replicaBase, replicaImage]) expect(await blobs.size(kept)).toBe(1000);
  });

  it("sweeps periodically once started, and stop() waits for a sweep in flight", async () => {
    const digest = await blob(GRACE + HOUR);
    const sweeper = gc(20);
    sweeper.start();
    try {
      await eventually(async () => (await blobs.size(digest)) === null, {
        what: "the GC to delete the blob",
      });
    } finally {
      await sweeper.stop();
    }
  });
});

describe("blob GC in a running console (real HTTP uploads)", () => {
  const QUOTA = 1024 * 1024;
  const owner = privateKeyToAccount(generatePrivateKey());
  let platform: TTestPlatform;

  beforeAll(async () => {
    // Unreferenced uploads become garbage after 2 s and the GC sweeps every 50 ms.
    platform = await startTestPlatform({
      config: {
        limits: {
          formnetMaxDevices: 10,
          contextQuotaBytes: QUOTA,
          blobGcGraceMs: 2_000,
          blobGcIntervalMs: 50,
          imageKeepBuilds: 5,
        },
      },
    });
  });
  afterAll(async () => {
    await platform?.close();
  });

  async function upload(bytes: Buffer): Promise<number> {
    const authorization = await createReadAuthorization(owner, {
      origin: TEST_CONSOLE_ORIGIN,
      chainId: platform.env.chainId,
    });
    const res = await fetch(`${platform.url}/api/contexts/${sha256Digest(bytes)}`, {
      method: "PUT",
      body: new Uint8Array(bytes),
      headers: { authorization },
    });
    await res.arrayBuffer();
    return res.status;
  }

  it("collects contexts no build uses, which frees the uploader's quota; a built context stays", async () => {
    // Sent inline: stored and referenced by the build in one request, well within the grace.
    const used = randomBytes(1000);
    const digest = sha256Digest(used);
    const input = await signAction(owner, {
      action: "build.create",
      params: {
        formfile: testFormfile("gc-kept"),
        contextDigest: digest,
        contextBase64: used.toString("base64"),
      },
      origin: TEST_CONSOLE_ORIGIN,
      chainId: platform.env.chainId,
      contentDigest: `0x${digest.slice("sha256:".length)}`,
    });
    expect((await callTrpc({ url: platform.url, path: "builds.create", type: "mutation", input })).ok).toBe(
      true,
    );

    const abandoned = randomBytes(700 * 1024);
    expect(await upload(abandoned)).toBe(201);
    const store = platform.services.blobs;
    await eventually(async () => (await store.size(sha256Digest(abandoned))) === null, {
      what: "the console's blob GC to delete the unused context",
    });
    const address = owner.address.toLowerCase();
    expect(await platform.repos.contextUploads.usedBytes(address)).toBe(used.byteLength);
    expect(await store.size(digest)).toBe(used.byteLength);
    // The freed quota takes another upload that would not have fit next to the abandoned one.
    expect(await upload(randomBytes(700 * 1024))).toBe(201);
  });
});
