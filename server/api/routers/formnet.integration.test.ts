import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { FakeAgent, randomWgKey } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";

// Issue #23 (1): a WireGuard key names one formnet member, and one account joins a bounded number
// of devices. Real console over HTTP, real SQLite, a fake agent speaking the real protocol.

const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
const other = privateKeyToAccount(generatePrivateKey());
const MAX_DEVICES = 3;
let platform: TTestPlatform;
let agent: FakeAgent;

type TAccount = typeof owner;

beforeAll(async () => {
  vi.stubEnv("FORMATION_FORMNET_MAX_DEVICES", String(MAX_DEVICES));
  platform = await startTestPlatform({ operators: [operator.address] });
  agent = await FakeAgent.connect({ url: platform.url, account: operator });
});
afterAll(async () => {
  await agent?.close();
  await platform?.close();
  vi.unstubAllEnvs();
});

async function join(account: TAccount, publicKey: string, on: TTestPlatform = platform) {
  const input = await signAction(account, {
    action: "formnet.join",
    params: { publicKey, endpoints: [] },
    origin: TEST_CONSOLE_ORIGIN,
    chainId: on.env.chainId,
  });
  return callTrpc({ url: on.url, path: "formnet.join", type: "mutation", input });
}

async function leave(account: TAccount, publicKey: string) {
  const input = await signAction(account, {
    action: "formnet.leave",
    params: { publicKey },
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  return callTrpc({ url: platform.url, path: "formnet.leave", type: "mutation", input });
}

async function peers(account: TAccount) {
  const authorization = await createReadAuthorization(account, {
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  const r = await callTrpc({
    url: platform.url,
    path: "formnet.peers",
    type: "query",
    headers: { authorization },
  });
  return r.data as { publicKey: string; kind: string; ip: string }[];
}

describe("formnet keys are unique across members", () => {
  it("refuses a join with a node's own key (CONFLICT) and keeps the node's peer entry alone", async () => {
    const nodeKey = agent.wgPublicKey;
    const res = await join(owner, nodeKey);
    expect(res.status).toBe(409);
    expect(res.appCode).toBe("CONFLICT");
    expect(res.message).toMatch(/already a formnet member/);
    expect(res.message).toMatch(/form manage join/);
    const list = await peers(owner);
    expect(list.filter((p) => p.publicKey === nodeKey)).toEqual([expect.objectContaining({ kind: "node" })]);
  });

  it("refuses another account's device key, and re-joining one's own key returns the same address", async () => {
    const key = randomWgKey();
    const first = await join(owner, key);
    expect(first.ok).toBe(true);
    const again = await join(owner, key);
    expect((again.data as { ip: string }).ip).toBe((first.data as { ip: string }).ip);
    const stolen = await join(other, key);
    expect(stolen.appCode).toBe("CONFLICT");
    expect((await peers(owner)).filter((p) => p.publicKey === key)).toHaveLength(1);
    // Leaving frees the key: now another account may use it.
    expect((await leave(owner, key)).data).toEqual({ left: true });
    expect((await join(other, key)).ok).toBe(true);
    expect((await leave(other, key)).ok).toBe(true);
  });

  it("refuses an agent whose key a user's device already holds", async () => {
    const key = randomWgKey();
    expect((await join(owner, key)).ok).toBe(true);
    await expect(
      FakeAgent.connect({ url: platform.url, account: operator, wgPublicKey: key, timeoutMs: 5_000 }),
    ).rejects.toThrow(/already a formnet member/);
    expect((await leave(owner, key)).ok).toBe(true);
  });
});

describe("devices per account are capped", () => {
  it(`joins ${MAX_DEVICES} devices, refuses the next with a clear error, and leaving frees a slot`, async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const keys = Array.from({ length: MAX_DEVICES + 1 }, () => randomWgKey());
    for (const key of keys.slice(0, MAX_DEVICES)) expect((await join(account, key)).ok).toBe(true);
    const over = await join(account, keys[MAX_DEVICES] ?? "");
    expect(over.appCode).toBe("PRECONDITION_FAILED");
    expect(over.message).toMatch(
      new RegExp(`you have ${MAX_DEVICES} devices.*most one account may join is ${MAX_DEVICES}`),
    );
    expect(over.message).toMatch(/form manage leave/);
    // A device already joined may still refresh its membership at the cap.
    expect((await join(account, keys[0] ?? "")).ok).toBe(true);
    // Other accounts have their own slots.
    const otherKey = randomWgKey();
    expect((await join(other, otherKey)).ok).toBe(true);
    expect((await leave(other, otherKey)).ok).toBe(true);
    expect((await leave(account, keys[1] ?? "")).data).toEqual({ left: true });
    expect((await join(account, keys[MAX_DEVICES] ?? "")).ok).toBe(true);
  });

  it("holds the cap under concurrent joins", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const results = await Promise.all(
      Array.from({ length: MAX_DEVICES + 3 }, () => randomWgKey()).map((key) => join(account, key)),
    );
    const joined = results.filter((r) => r.ok).length;
    expect(joined).toBeLessThanOrEqual(MAX_DEVICES);
    expect(results.filter((r) => !r.ok).every((r) => r.appCode === "PRECONDITION_FAILED")).toBe(true);
    expect(await platform.repos.formnet.countUserDevices(account.address.toLowerCase())).toBe(joined);
  });
});

// An exhausted formnet reaches the user as RESOURCE_EXHAUSTED (503) that says what to do, not as an
// internal error: a console of its own with a block of six host addresses.
describe("an exhausted formnet", () => {
  let small: TTestPlatform;
  beforeAll(async () => {
    small = await startTestPlatform({ config: { formnetCidr: "10.99.0.0/29" } });
  });
  afterAll(async () => {
    await small?.close();
  });

  it("answers RESOURCE_EXHAUSTED with what to do once every address is taken", async () => {
    // Two accounts fill the six addresses (each may join MAX_DEVICES = 3); a third finds none.
    for (const account of [owner, owner, owner, other, other, other]) {
      const res = await join(account, randomWgKey(), small);
      expect(res.status, res.message ?? "").toBe(200);
    }
    const res = await join(privateKeyToAccount(generatePrivateKey()), randomWgKey(), small);
    expect([res.status, res.appCode]).toEqual([503, "RESOURCE_EXHAUSTED"]);
    expect(res.message).toMatch(/No formnet address is free in 10\.99\.0\.0\/29/);
    expect(res.message).toMatch(/Delete instances or formnet devices you no longer need/);
  });
});
