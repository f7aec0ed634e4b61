import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { completeBoot, completeBuild, sha256Digest } from "@/server/testing/agent-actions";
import { eventually, FakeAgent, randomWgKey, type TOffer } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";

const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
const other = privateKeyToAccount(generatePrivateKey());
let platform: TTestPlatform;
const agents: FakeAgent[] = [];

beforeAll(async () => {
  platform = await startTestPlatform({ operators: [operator.address] });
  for (let i = 0; i < 2; i++) {
    agents.push(
      await FakeAgent.connect({
        url: platform.url,
        account: operator,
        onOffer: async (offer: TOffer, agent) => {
          if (offer.kind === "build") await completeBuild({ url: platform.url, agent, offer });
          else if (offer.kind === "boot") completeBoot(agent, offer);
        },
      }),
    );
  }
});
afterAll(async () => {
  for (const a of agents) await a.close();
  await platform?.close();
});

const chainId = () => platform.env.chainId;

async function signed(account: typeof owner, action: string, params: unknown, contentDigest?: `0x${string}`) {
  return signAction(account, {
    action,
    params,
    origin: TEST_CONSOLE_ORIGIN,
    chainId: chainId(),
    ...(contentDigest ? { contentDigest } : {}),
  });
}

async function query(account: typeof owner, path: string, input?: unknown) {
  const authorization = await createReadAuthorization(account, {
    origin: TEST_CONSOLE_ORIGIN,
    chainId: chainId(),
  });
  return callTrpc({ url: platform.url, path, type: "query", input, headers: { authorization } });
}

describe("control-plane API over HTTP", () => {
  it("builds (inline context), tails logs, ships, lists IPs and enforces ownership", async () => {
    const context = randomBytes(300);
    const digest = sha256Digest(context);
    const params = {
      formfile: testFormfile("api"),
      contextDigest: digest,
      contextBase64: context.toString("base64"),
    };
    const wrongDigest = await callTrpc({
      url: platform.url,
      path: "builds.create",
      type: "mutation",
      input: await signed(owner, "build.create", params, `0x${"00".repeat(32)}`),
    });
    expect(wrongDigest.appCode).toBe("BAD_REQUEST");

    const created = await callTrpc({
      url: platform.url,
      path: "builds.create",
      type: "mutation",
      input: await signed(owner, "build.create", params, `0x${digest.slice(7)}`),
    });
    expect(created.ok).toBe(true);
    const buildId = (created.data as { buildId: string }).buildId;

    const logs = await eventually(async () => {
      const r = await query(owner, "builds.logs", { buildId, after: 0 });
      const d = r.data as { lines: { line: string }[]; done: boolean; status: string };
      return d.done ? d : null;
    });
    expect(logs.status).toBe("built");
    expect(logs.lines.map((l) => l.line)).toContain("done");
    expect((await query(other, "builds.get", { buildId })).appCode).toBe("NOT_FOUND");

    const ship = await callTrpc({
      url: platform.url,
      path: "instances.ship",
      type: "mutation",
      input: await signed(owner, "instance.ship", { buildId }),
    });
    expect(ship.ok).toBe(true);
    expect(ship.data).toMatchObject({
      notice: expect.stringMatching(/^waiting for another node/),
      deployment: { replicas: 3, placed: 2, waiting: 1 },
    });
    const ips = await eventually(async () => {
      const r = await query(owner, "instances.getIp", { buildId });
      const list = r.data as { status: string; formnetIp: string }[];
      return list.length === 2 && list.every((i) => i.status === "running") ? list : null;
    });
    expect(ips.every((i) => /^10\.42\.\d+\.\d+$/.test(i.formnetIp))).toBe(true);
    expect(((await query(other, "instances.getIp", { buildId })).data as unknown[]).length).toBe(0);

    const stopByOther = await callTrpc({
      url: platform.url,
      path: "instances.stop",
      type: "mutation",
      input: await signed(other, "instance.stop", {
        instanceId: (ship.data as { instances: { instanceId: string }[] }).instances[0]?.instanceId,
      }),
    });
    expect(stopByOther.appCode).toBe("NOT_FOUND");
  });

  it("refuses, with what to do, to ship a build whose image the retention policy removed", async () => {
    const context = randomBytes(300);
    const digest = sha256Digest(context);
    const params = {
      formfile: testFormfile("expired"),
      contextDigest: digest,
      contextBase64: context.toString("base64"),
    };
    const created = await callTrpc({
      url: platform.url,
      path: "builds.create",
      type: "mutation",
      input: await signed(owner, "build.create", params, `0x${digest.slice(7)}`),
    });
    const buildId = (created.data as { buildId: string }).buildId;
    const built = await eventually(async () => {
      const row = await platform.repos.builds.find(buildId);
      return row?.status === "built" && row.imageDigest ? row.imageDigest : null;
    });
    // What the blob GC does to a build past retention (blob-gc.integration.test.ts tests the policy).
    await platform.services.blobs.remove(built);
    const ship = await callTrpc({
      url: platform.url,
      path: "instances.ship",
      type: "mutation",
      input: await signed(owner, "instance.ship", { buildId }),
    });
    expect(ship.appCode).toBe("PRECONDITION_FAILED");
    expect(ship.message).toMatch(/image is no longer kept.*build it again \(form pack build\)/);
    // Nothing changed: no deployment of that NAME.
    const name = { owner: owner.address.toLowerCase(), name: "expired" };
    expect(await platform.repos.deployments.findByName(name)).toBeNull();
  });

  it("uploads a large context separately, then builds from its digest", async () => {
    const context = randomBytes(2 * 1024 * 1024);
    const digest = sha256Digest(context);
    const authorization = await createReadAuthorization(owner, {
      origin: TEST_CONSOLE_ORIGIN,
      chainId: chainId(),
    });
    // Unauthenticated: refused before the body is read (a small body, so the refusal is readable).
    const anonymous = await fetch(`${platform.url}/api/contexts/${digest}`, { method: "PUT", body: "x" });
    expect(anonymous.status).toBe(401);
    const put = await fetch(`${platform.url}/api/contexts/${digest}`, {
      method: "PUT",
      body: context,
      headers: { authorization },
    });
    expect(put.status).toBe(201);
    const created = await callTrpc({
      url: platform.url,
      path: "builds.create",
      type: "mutation",
      input: await signed(
        owner,
        "build.create",
        { formfile: testFormfile("big"), contextDigest: digest },
        `0x${digest.slice(7)}`,
      ),
    });
    expect(created.ok).toBe(true);
  });

  it("lists nodes with health and metrics, and joins a device to formnet", async () => {
    const nodes = await eventually(async () => {
      const r = await query(other, "nodes.list");
      const list = r.data as { healthy: boolean; metrics: unknown; capacity: { vcpu: number } }[];
      return list.length === 2 && list.every((n) => n.healthy && n.metrics !== null) ? list : null;
    });
    expect(nodes[0]?.capacity.vcpu).toBe(4);
    const nodeId = agents[0]?.nodeId;
    const detail = await eventually(async () => {
      const r = await query(other, "nodes.get", { nodeId });
      const d = r.data as { history: unknown[] };
      return d.history.length > 0 ? d : null;
    });
    expect(detail.history.length).toBeGreaterThan(0);

    const publicKey = randomWgKey();
    const joined = await callTrpc({
      url: platform.url,
      path: "formnet.join",
      type: "mutation",
      input: await signed(owner, "formnet.join", { publicKey, endpoints: ["198.51.100.7:51820"] }),
    });
    expect(joined.ok).toBe(true);
    const j = joined.data as { ip: string; cidr: string; peers: { kind: string }[] };
    expect(j.cidr).toBe("10.42.0.0/16");
    expect(j.peers.filter((p) => p.kind === "node")).toHaveLength(2);
    // Agents get the new peer pushed.
    await agents[0]?.waitFor(
      (m) => m.type === "formnet.peers" && m.peers.some((p) => p.publicKey === publicKey),
    );
    // Another user sees the nodes but not the owner's laptop; the owner sees their own device.
    const othersView = (await query(other, "formnet.peers")).data as { publicKey: string; kind: string }[];
    expect(othersView.some((p) => p.publicKey === publicKey)).toBe(false);
    expect(othersView.filter((p) => p.kind === "node")).toHaveLength(2);
    const ownView = (await query(owner, "formnet.peers")).data as { publicKey: string }[];
    expect(ownView.some((p) => p.publicKey === publicKey)).toBe(true);
  });
});
