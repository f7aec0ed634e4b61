import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBlobSourcesPath, agentImagePath, PIECE_BYTES, ZBlobSources } from "@/lib/protocol";
import { createBuildOverHttp, sha256Digest, uploadImage } from "@/server/testing/agent-actions";
import { eventually, FakeAgent, type TOffer } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";

// Layered images (docs/node-agent-vm.md, "Images: base + layer") at the console: a builder asks
// whether the console holds the base (HEAD) before sending it, and a build whose base never
// arrived is refused as an incomplete upload.

const operator = privateKeyToAccount(generatePrivateKey());
const otherOperator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
let platform: TTestPlatform;
let agent: FakeAgent;
/** What the fake builder does with the next build offer. */
let uploadBase = false;
const base = randomBytes(8192);
const baseDigest = sha256Digest(base);

beforeAll(async () => {
  platform = await startTestPlatform({ operators: [operator.address, otherOperator.address] });
  agent = await FakeAgent.connect({
    url: platform.url,
    account: operator,
    onOffer: async (offer: TOffer, a) => {
      if (offer.kind !== "build") return;
      a.send({ type: "job.ack", jobId: offer.jobId });
      if (uploadBase) await uploadImage({ url: platform.url, agent: a, bytes: base });
      const layer = await uploadImage({ url: platform.url, agent: a });
      a.send({
        type: "job.complete",
        jobId: offer.jobId,
        result: { kind: "build", imageDigest: layer.digest, sizeBytes: layer.sizeBytes, baseDigest },
      });
    },
  });
});
afterAll(async () => {
  await agent?.close();
  await platform?.close();
});

const head = (digest: string, token = agent.welcome?.agentToken ?? "") =>
  fetch(`${platform.url}${agentImagePath(digest)}`, {
    method: "HEAD",
    headers: { authorization: `Bearer ${token}` },
  });

async function build(name: string): Promise<string> {
  const created = await createBuildOverHttp({
    url: platform.url,
    chainId: platform.env.chainId,
    account: owner,
    formfile: testFormfile(name),
  });
  return (created.data as { buildId: string }).buildId;
}

const settled = (buildId: string) =>
  eventually(async () => {
    const row = await platform.repos.builds.find(buildId);
    return row && (row.status === "built" || row.status === "failed") ? row : null;
  });

describe("layered images at the console", () => {
  it("refuses a build whose base never arrived, then keeps the base of one whose base did", async () => {
    expect((await head(baseDigest)).status).toBe(404);
    expect((await head(baseDigest, "0".repeat(64))).status).toBe(401);

    const refused = await settled(await build("nobase"));
    expect(refused.status).toBe("failed");
    expect(refused.failureReason).toMatch(/over base .* holds no such base: upload incomplete/);

    uploadBase = true;
    const built = await settled(await build("withbase"));
    expect(built.status).toBe("built");
    expect(built.baseDigest).toBe(baseDigest);
    const held = await head(baseDigest);
    expect(held.status).toBe(200);
    expect(held.headers.get("content-length")).toBe(String(base.length));
  });

  it("serves the rest of a blob to an agent resuming a download, and 416 past its end", async () => {
    const get = (range: string) =>
      fetch(`${platform.url}${agentImagePath(baseDigest)}`, {
        headers: { authorization: `Bearer ${agent.welcome?.agentToken ?? ""}`, range },
      });
    const rest = await get("bytes=100-");
    expect(rest.status).toBe(206);
    expect(rest.headers.get("content-range")).toBe(`bytes 100-${base.length - 1}/${base.length}`);
    expect(Buffer.from(await rest.arrayBuffer()).equals(base.subarray(100))).toBe(true);
    const past = await get(`bytes=${base.length}-`);
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${base.length}`);
    const whole = await get("bytes=0-99,200-300");
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(base)).toBe(true);
  });
});

describe("blob sources (nodes fetching from their peers)", () => {
  const sourcesOf = (digest: string, token: string) =>
    fetch(`${platform.url}${agentBlobSourcesPath(digest)}`, {
      headers: { authorization: `Bearer ${token}` },
    });

  it("names the node that built an image and its base to another node, with each piece's hash", async () => {
    const other = await FakeAgent.connect({
      url: platform.url,
      account: otherOperator,
      onOffer: () => undefined,
    });
    try {
      const res = await sourcesOf(baseDigest, other.welcome?.agentToken ?? "");
      expect(res.status).toBe(200);
      const sources = ZBlobSources.parse(await res.json());
      expect(sources).toMatchObject({ digest: baseDigest, sizeBytes: base.length, pieceBytes: PIECE_BYTES });
      expect(sources.pieces).toEqual([baseDigest.slice("sha256:".length)]);
      expect(sources.peers).toEqual([
        { nodeId: agent.welcome?.nodeId, formnetIp: agent.welcome?.formnet.address },
      ]);
      // A node is not its own source.
      const own = ZBlobSources.parse(
        await (await sourcesOf(baseDigest, agent.welcome?.agentToken ?? "")).json(),
      );
      expect(own.peers).toEqual([]);
    } finally {
      await other.close();
    }
    // An offline holder is not named.
    const again = ZBlobSources.parse(
      await (await sourcesOf(baseDigest, agent.welcome?.agentToken ?? "")).json(),
    );
    expect(again.peers).toEqual([]);
  });

  it("answers 401 without an agent token and 404 for a blob it lacks; serves one piece as a range", async () => {
    expect((await sourcesOf(baseDigest, "0".repeat(64))).status).toBe(401);
    expect((await sourcesOf(`sha256:${"0".repeat(64)}`, agent.welcome?.agentToken ?? "")).status).toBe(404);
    const piece = await fetch(`${platform.url}${agentImagePath(baseDigest)}`, {
      headers: { authorization: `Bearer ${agent.welcome?.agentToken ?? ""}`, range: "bytes=10-19" },
    });
    expect(piece.status).toBe(206);
    expect(piece.headers.get("content-range")).toBe(`bytes 10-19/${base.length}`);
    expect(Buffer.from(await piece.arrayBuffer()).equals(base.subarray(10, 20))).toBe(true);
  });
});
