import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { sha256Digest } from "@/server/testing/agent-actions";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";

// Issue #23 (3, 6): build contexts are owned by their uploaders, and each account's uploads are
// held to a quota. Real console over HTTP (tRPC and PUT /api/contexts), real SQLite and blob store.

const owner = privateKeyToAccount(generatePrivateKey());
const other = privateKeyToAccount(generatePrivateKey());
const QUOTA = 3 * 1024 * 1024;
let platform: TTestPlatform;

type TAccount = typeof owner;

beforeAll(async () => {
  vi.stubEnv("FORMATION_CONTEXT_QUOTA_BYTES", String(QUOTA));
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform?.close();
  vi.unstubAllEnvs();
});

async function upload(account: TAccount, bytes: Buffer, digest = sha256Digest(bytes)) {
  const authorization = await createReadAuthorization(account, {
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  const res = await fetch(`${platform.url}/api/contexts/${digest}`, {
    method: "PUT",
    body: new Uint8Array(bytes),
    headers: { authorization },
  });
  return { status: res.status, body: await res.text() };
}

async function create(account: TAccount, opts: { name: string; digest: string; inline?: Buffer }) {
  const input = await signAction(account, {
    action: "build.create",
    params: {
      formfile: testFormfile(opts.name),
      contextDigest: opts.digest,
      ...(opts.inline ? { contextBase64: opts.inline.toString("base64") } : {}),
    },
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
    contentDigest: `0x${opts.digest.slice("sha256:".length)}`,
  });
  return callTrpc({ url: platform.url, path: "builds.create", type: "mutation", input });
}

describe("build contexts belong to their uploaders", () => {
  it("refuses a build from another account's context digest exactly like a missing one", async () => {
    const secret = randomBytes(64 * 1024);
    const digest = sha256Digest(secret);
    expect((await upload(owner, secret)).status).toBe(201);

    const stolen = await create(other, { name: "steal", digest });
    expect(stolen.appCode).toBe("NOT_FOUND");
    const missingDigest = sha256Digest(randomBytes(32));
    const missing = await create(other, { name: "steal", digest: missingDigest });
    expect(missing.appCode).toBe("NOT_FOUND");
    // Same status and same words: the answer does not reveal that the digest exists.
    expect(stolen.status).toBe(missing.status);
    expect(stolen.message?.replaceAll(digest, "D")).toBe(missing.message?.replaceAll(missingDigest, "D"));
    expect(stolen.message).toMatch(/PUT it to \/api\/contexts\//);

    // Claiming the digest with other bytes is no proof of possession: refused, and still not found.
    const claim = await upload(other, randomBytes(64 * 1024), digest);
    expect(claim.status).toBe(400);
    expect(claim.body).toMatch(/content digest mismatch/);
    expect((await create(other, { name: "steal", digest })).appCode).toBe("NOT_FOUND");

    // The uploader builds from it; uploading the same bytes is proof of possession for another.
    expect((await create(owner, { name: "mine", digest })).ok).toBe(true);
    expect((await upload(other, secret)).status).toBe(201);
    expect((await create(other, { name: "own-copy", digest })).ok).toBe(true);
  });

  it("records inline contexts as the creator's upload", async () => {
    const context = randomBytes(1024);
    const digest = sha256Digest(context);
    expect((await create(owner, { name: "inline", digest, inline: context })).ok).toBe(true);
    expect((await create(other, { name: "inline-steal", digest })).appCode).toBe("NOT_FOUND");
    expect((await create(owner, { name: "inline-again", digest })).ok).toBe(true);
  });
});

describe("context quota per account", () => {
  it("refuses uploads over the quota with a 413 saying how to free space", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const first = randomBytes(2 * 1024 * 1024 + 200 * 1024);
    expect((await upload(account, first)).status).toBe(201);
    // Re-uploading a context one already holds costs nothing more.
    expect((await upload(account, first)).status).toBe(201);

    const second = await upload(account, randomBytes(2 * 1024 * 1024));
    expect(second.status).toBe(413);
    const body = JSON.parse(second.body) as { code?: string; message?: string; appCode?: string };
    expect(JSON.stringify(body)).toMatch(/context storage quota exceeded/);
    expect(JSON.stringify(body)).toMatch(/deleted 24 h after upload/);
    expect(JSON.stringify(body)).toMatch(/FORMATION_CONTEXT_QUOTA_BYTES/);
    expect(await platform.repos.contextUploads.usedBytes(account.address.toLowerCase())).toBe(
      first.byteLength,
    );

    // Inline contexts count too (2.2 MiB + 500 KiB fit in 3 MiB, another 500 KiB does not).
    const inline = randomBytes(500 * 1024);
    expect((await create(account, { name: "fits", digest: sha256Digest(inline), inline })).ok).toBe(true);
    const tooMuch = randomBytes(500 * 1024);
    const refused = await create(account, { name: "over", digest: sha256Digest(tooMuch), inline: tooMuch });
    expect(refused.appCode).toBe("PAYLOAD_TOO_LARGE");
    expect(refused.message).toMatch(/context storage quota exceeded/);

    // Another account has its own quota.
    expect((await upload(other, randomBytes(2 * 1024 * 1024))).status).toBe(201);
  });
});
