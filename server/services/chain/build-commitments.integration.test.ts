import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicClient, createWalletClient, type Hex, http, parseEther } from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevnet, type TDevnet } from "@/contracts/devnet";
import { createLogger } from "@/core/log";
import { buildCommitmentTypedData } from "@/lib/chain/build-commitment";
import {
  buildIdToBytes32,
  draftMessage,
  imageDigestToBytes32,
  type TCommitmentDraft,
  type TSignedCommitment,
} from "@/lib/chain/commitment";
import { chainFromConfig } from "@/lib/chain/config";
import { readBuildCommitment } from "@/lib/chain/read";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { createDatabase, type TDatabase } from "@/server/db/client";
import { createCommitmentsRepository } from "@/server/db/repositories/commitments-repository";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import type { TCommitmentDto } from "@/server/services/deployments/commitment-dto";
import { completeBoot, completeBuild, sha256Digest } from "@/server/testing/agent-actions";
import { eventually, FakeAgent, type TOffer } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";
import { createBuildCommitments } from "./build-commitments";

// Real Hardhat node with the Orchestrator, real console (HTTP + tRPC + agent WebSocket), a protocol
// agent that "builds" and "boots". The console relays with CHAIN_RELAYER_PRIVATE_KEY: a fresh key
// the chain node does not hold (issue #23, finding 11: the console signs its transactions itself
// and sends them raw, never eth_sendTransaction from one of the node's unlocked accounts, which the
// devnet's public RPC refuses anyway).
const relayerKey = generatePrivateKey();
const relayer = privateKeyToAccount(relayerKey);
const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
const mallory = privateKeyToAccount(generatePrivateKey());
let devnet: TDevnet;
let chainDir: string;
let platform: TTestPlatform;
let db: TDatabase;
const agents: FakeAgent[] = [];

const chainClient = () =>
  createPublicClient({
    chain: chainFromConfig({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl }),
    transport: http(devnet.rpcUrl, { retryCount: 0 }),
  });

async function startPlatform(env: Record<string, string>) {
  const p = await startTestPlatform({ operators: [operator.address], env });
  const agent = await FakeAgent.connect({
    url: p.url,
    account: operator,
    onOffer: async (offer: TOffer, a) => {
      if (offer.kind === "build") await completeBuild({ url: p.url, agent: a, offer });
      else if (offer.kind === "boot") completeBoot(a, offer);
    },
  });
  agents.push(agent);
  return { p, agent };
}

beforeAll(async () => {
  chainDir = await mkdtemp(join(tmpdir(), "formation-commit-chain-"));
  devnet = await startDevnet({ port: 0, dataDir: chainDir });
  // Fund the relayer from the devnet's deployer, signed locally like everything else here.
  const chain = chainFromConfig({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl });
  const funding = await createWalletClient({
    chain,
    account: privateKeyToAccount(devnet.accounts[0] ?? "0x"),
    transport: http(devnet.rpcUrl),
  }).sendTransaction({ to: relayer.address, value: parseEther("10") });
  await chainClient().waitForTransactionReceipt({ hash: funding, pollingInterval: 50 });
  ({ p: platform } = await startPlatform({
    CHAIN_RPC_URL: devnet.rpcUrl,
    CHAIN_ID: String(devnet.chainId),
    ORCHESTRATOR_ADDRESS: devnet.orchestratorAddress,
    CHAIN_RELAYER_PRIVATE_KEY: relayerKey,
  }));
  db = createDatabase(platform.databaseUrl);
}, 120_000);

afterAll(async () => {
  for (const a of agents) await a.close();
  await db?.$disconnect();
  await platform?.close();
  await devnet?.stop();
  if (chainDir) await rm(chainDir, { recursive: true, force: true });
});

function signed(p: TTestPlatform, account: PrivateKeyAccount, action: string, params: unknown, digest?: Hex) {
  return signAction(account, {
    action,
    params,
    origin: TEST_CONSOLE_ORIGIN,
    chainId: p.env.chainId,
    ...(digest ? { contentDigest: digest } : {}),
  });
}

async function query<T>(p: TTestPlatform, path: string, input?: unknown): Promise<T> {
  const authorization = await createReadAuthorization(owner, {
    origin: TEST_CONSOLE_ORIGIN,
    chainId: p.env.chainId,
  });
  const r = await callTrpc({ url: p.url, path, type: "query", input, headers: { authorization } });
  if (!r.ok) throw new Error(`${path}: ${r.appCode} ${r.message}`);
  return r.data as T;
}

async function mutate(
  p: TTestPlatform,
  account: PrivateKeyAccount,
  path: string,
  action: string,
  params: unknown,
) {
  return callTrpc({ url: p.url, path, type: "mutation", input: await signed(p, account, action, params) });
}

/** Creates a build of a fresh NAME and waits until the agent built it. */
async function built(p: TTestPlatform, name: string): Promise<{ buildId: string; imageDigest: string }> {
  const context = randomBytes(200);
  const digest = sha256Digest(context);
  const params = {
    formfile: testFormfile(name),
    contextDigest: digest,
    contextBase64: context.toString("base64"),
  };
  const created = await callTrpc({
    url: p.url,
    path: "builds.create",
    type: "mutation",
    input: await signed(p, owner, "build.create", params, `0x${digest.slice(7)}`),
  });
  expect(created.ok, created.message ?? "").toBe(true);
  const buildId = (created.data as { buildId: string }).buildId;
  return eventually(async () => {
    const b = await query<{ status: string; imageDigest: string | null }>(p, "builds.get", { buildId });
    return b.status === "built" && b.imageDigest ? { buildId, imageDigest: b.imageDigest } : null;
  });
}

async function sign(draft: TCommitmentDraft, account = owner): Promise<TSignedCommitment> {
  const message = draftMessage(draft);
  const signature = await account.signTypedData(
    buildCommitmentTypedData({ chainId: draft.chainId, contract: draft.contract, message }),
  );
  return { imageDigest: draft.imageDigest, nonce: draft.nonce, deadline: draft.deadline, signature };
}

type TInstanceCommitment = {
  commitment: TCommitmentDto;
  onChain: { verified: boolean; onChainDigest: string | null } | null;
};

async function settledCommitment(p: TTestPlatform, instanceId: string): Promise<TInstanceCommitment> {
  return eventually(
    async () => {
      const c = await query<TInstanceCommitment>(p, "instances.commitment", { instanceId });
      return c.commitment.state === "pending" ? null : c;
    },
    { timeoutMs: 30_000, what: "the commitment relay to settle" },
  );
}

async function nothingChanged(p: TTestPlatform) {
  expect(await query<unknown[]>(p, "instances.deployments")).toEqual([]);
  expect(await query<unknown[]>(p, "instances.list")).toEqual([]);
  expect(await db.buildCommitment.count()).toBe(0);
}

describe("build commitments on ship (real hardhat node + console)", () => {
  let first: { buildId: string; imageDigest: string };
  let firstTx: string;

  it("rejects forged or mismatched commitments before anything changes", async () => {
    first = await built(platform, "committed");
    const draft = await query<TCommitmentDraft>(platform, "instances.commitmentDraft", {
      buildId: first.buildId,
    });
    expect(draft).toMatchObject({
      chainId: devnet.chainId,
      contract: devnet.orchestratorAddress,
      buildId: buildIdToBytes32(first.buildId),
      imageDigest: imageDigestToBytes32(first.imageDigest),
      nonce: "0",
    });
    const ship = (commitment: TSignedCommitment) =>
      mutate(platform, owner, "instances.ship", "instance.ship", {
        buildId: first.buildId,
        replicas: 1,
        commitment,
      });

    // Signed by someone else than the ship's signer.
    const forged = await ship(await sign(draft, mallory));
    expect(forged.appCode).toBe("SIGNATURE_INVALID");
    expect(forged.message).toMatch(/Build commitment rejected/);
    // The owner's signature, but over another digest than the build's.
    const otherDigest = await ship(await sign({ ...draft, imageDigest: `0x${"ab".repeat(32)}` }));
    expect(otherDigest.appCode).toBe("BAD_REQUEST");
    expect(otherDigest.message).toMatch(/has image/);
    // The owner's signature for another build id, replayed onto this one.
    const otherBuild = await ship(await sign({ ...draft, buildId: `0x${"cd".repeat(32)}` }));
    expect(otherBuild.appCode).toBe("SIGNATURE_INVALID");
    // Fields edited after signing.
    const edited = await sign(draft);
    expect((await ship({ ...edited, deadline: edited.deadline + 60 })).appCode).toBe("SIGNATURE_INVALID");
    // Deadline in the past.
    expect((await ship(await sign({ ...draft, deadline: Math.floor(Date.now() / 1000) - 5 }))).appCode).toBe(
      "SIGNATURE_EXPIRED",
    );
    await nothingChanged(platform);
    expect(
      await readBuildCommitment({
        client: chainClient(),
        contract: devnet.orchestratorAddress,
        owner: owner.address,
        buildId: buildIdToBytes32(first.buildId),
      }),
    ).toBeUndefined();
  });

  it("ships, relays commitBuildFor, records the mined transaction and the contract holds the digest", async () => {
    const draft = await query<TCommitmentDraft>(platform, "instances.commitmentDraft", {
      buildId: first.buildId,
    });
    const r = await mutate(platform, owner, "instances.ship", "instance.ship", {
      buildId: first.buildId,
      replicas: 1,
      commitment: await sign(draft),
    });
    expect(r.ok, r.message ?? "").toBe(true);
    const result = r.data as { instances: { instanceId: string }[]; commitment: TCommitmentDto };
    // The placement did not wait for the chain.
    expect(result.instances).toHaveLength(1);
    expect(["pending", "confirmed"]).toContain(result.commitment.state);
    const instanceId = result.instances[0]?.instanceId ?? "";

    const c = await settledCommitment(platform, instanceId);
    expect(c.commitment).toMatchObject({
      state: "confirmed",
      imageDigest: first.imageDigest,
      chainId: devnet.chainId,
      contract: devnet.orchestratorAddress,
      existing: false,
      reason: null,
    });
    expect(c.onChain).toMatchObject({ verified: true, onChainDigest: first.imageDigest });
    firstTx = c.commitment.txHash ?? "";
    const receipt = await chainClient().getTransactionReceipt({ hash: firstTx as Hex });
    expect(receipt.status).toBe("success");
    expect(Number(receipt.blockNumber)).toBe(c.commitment.blockNumber);
    expect(receipt.to?.toLowerCase()).toBe(devnet.orchestratorAddress.toLowerCase());
    // Sent by the console's own key, which no chain node holds unlocked.
    expect(receipt.from.toLowerCase()).toBe(relayer.address.toLowerCase());
    const stored = await readBuildCommitment({
      client: chainClient(),
      contract: devnet.orchestratorAddress,
      owner: owner.address,
      buildId: buildIdToBytes32(first.buildId),
    });
    expect(stored?.imageDigest).toBe(imageDigestToBytes32(first.imageDigest));

    const row = await db.buildCommitment.findFirstOrThrow({ where: { txHash: firstTx } });
    const deployments = await query<{ deploymentId: string; commitment: TCommitmentDto }[]>(
      platform,
      "instances.deployments",
    );
    expect(deployments).toHaveLength(1);
    expect(row.deploymentId).toBe(deployments[0]?.deploymentId);
    expect(deployments[0]?.commitment).toMatchObject({ state: "confirmed", txHash: firstTx });
  });

  it("links the existing on-chain commitment when the same build and digest ship again", async () => {
    const draft = await query<TCommitmentDraft>(platform, "instances.commitmentDraft", {
      buildId: first.buildId,
    });
    expect(draft.nonce).toBe("1");
    const r = await mutate(platform, owner, "instances.ship", "instance.ship", {
      buildId: first.buildId,
      replicas: 1,
      commitment: await sign(draft),
    });
    expect(r.ok, r.message ?? "").toBe(true);
    const instanceId = (r.data as { instances: { instanceId: string }[] }).instances[0]?.instanceId ?? "";
    const c = await settledCommitment(platform, instanceId);
    expect(c.commitment).toMatchObject({ state: "confirmed", existing: true, txHash: firstTx });
    expect(c.onChain?.verified).toBe(true);
    // No second transaction: the owner's nonce did not move.
    const again = await query<TCommitmentDraft>(platform, "instances.commitmentDraft", {
      buildId: first.buildId,
    });
    expect(again.nonce).toBe("1");
    expect(await db.buildCommitment.count()).toBe(2);
  });

  it("records a relay the contract refuses as failed with its reason, and the ship still stands", async () => {
    const second = await built(platform, "stale-nonce");
    const draft = await query<TCommitmentDraft>(platform, "instances.commitmentDraft", {
      buildId: second.buildId,
    });
    // Valid offline (signed by the owner over these fields), but not the contract's current nonce.
    const r = await mutate(platform, owner, "instances.ship", "instance.ship", {
      buildId: second.buildId,
      replicas: 1,
      commitment: await sign({ ...draft, nonce: "7" }),
    });
    expect(r.ok, r.message ?? "").toBe(true);
    const instanceId = (r.data as { instances: { instanceId: string }[] }).instances[0]?.instanceId ?? "";
    const c = await settledCommitment(platform, instanceId);
    expect(c.commitment.state).toBe("failed");
    expect(c.commitment.reason).toMatch(/InvalidSignature/);
    expect(c.onChain).toMatchObject({ verified: false, onChainDigest: null });
    expect((await query<{ status: string }>(platform, "instances.get", { instanceId })).status).not.toBe(
      "deleted",
    );
  });

  it("a console that stopped mid-relay resumes pending commitments on start", async () => {
    const third = await built(platform, "resumed");
    const draft = await query<TCommitmentDraft>(platform, "instances.commitmentDraft", {
      buildId: third.buildId,
    });
    const c = await sign(draft);
    // As a stopped console leaves it: recorded, never sent.
    await db.buildCommitment.create({
      data: {
        id: "c-resumed",
        deploymentId: "d-resumed",
        owner: owner.address.toLowerCase(),
        buildId: third.buildId,
        imageDigest: third.imageDigest,
        chainId: devnet.chainId,
        contract: devnet.orchestratorAddress,
        nonce: c.nonce,
        deadline: c.deadline,
        signature: c.signature,
      },
    });
    const service = createBuildCommitments({
      repo: createCommitmentsRepository(db),
      chain: { rpcUrl: devnet.rpcUrl, chainId: devnet.chainId, contract: devnet.orchestratorAddress },
      relayerPrivateKey: platform.env.relayerPrivateKey,
      log: createLogger("test-resume"),
    });
    expect(await service.resumePending()).toBeGreaterThanOrEqual(1);
    await service.settled("c-resumed");
    const row = await db.buildCommitment.findUniqueOrThrow({ where: { id: "c-resumed" } });
    expect(row).toMatchObject({ status: "confirmed", existing: false });
    expect(row.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(
      await service.verifyOnChain({
        owner: owner.address,
        buildId: third.buildId,
        imageDigest: third.imageDigest,
      }),
    ).toMatchObject({ verified: true });
    await service.close();
  });

  it("with the chain unreachable: the draft says UNAVAILABLE, an uncommitted ship still works", async () => {
    const { p: down, agent } = await startPlatform({
      CHAIN_RPC_URL: "http://127.0.0.1:9",
      CHAIN_ID: String(devnet.chainId),
      ORCHESTRATOR_ADDRESS: devnet.orchestratorAddress,
    });
    try {
      const b = await built(down, "chain-down");
      const authorization = await createReadAuthorization(owner, {
        origin: TEST_CONSOLE_ORIGIN,
        chainId: down.env.chainId,
      });
      const draft = await callTrpc({
        url: down.url,
        path: "instances.commitmentDraft",
        type: "query",
        input: { buildId: b.buildId },
        headers: { authorization },
      });
      expect(draft.appCode).toBe("UNAVAILABLE");
      const r = await mutate(down, owner, "instances.ship", "instance.ship", {
        buildId: b.buildId,
        replicas: 1,
      });
      expect(r.ok, r.message ?? "").toBe(true);
      const instanceId = (r.data as { instances: { instanceId: string }[] }).instances[0]?.instanceId ?? "";
      const c = await query<TInstanceCommitment & { onChain: { error: string | null } }>(
        down,
        "instances.commitment",
        { instanceId },
      );
      expect(c.commitment.state).toBe("not-committed");
      expect(c.onChain?.verified).toBe(false);
      expect(c.onChain?.error).toBeTruthy();
    } finally {
      await agent.close();
      agents.splice(agents.indexOf(agent), 1);
      await down.close();
    }
  });

  it("without a chain: no draft, ships without a commitment, refuses one", async () => {
    const { p: bare, agent } = await startPlatform({});
    try {
      const b = await built(bare, "no-chain");
      expect(await query<unknown>(bare, "instances.commitmentDraft", { buildId: b.buildId })).toBeNull();
      const bogus = {
        imageDigest: imageDigestToBytes32(b.imageDigest),
        nonce: "0",
        deadline: Math.floor(Date.now() / 1000) + 60,
        signature: `0x${"11".repeat(65)}`,
      };
      const refused = await mutate(bare, owner, "instances.ship", "instance.ship", {
        buildId: b.buildId,
        commitment: bogus,
      });
      expect(refused.appCode).toBe("BAD_REQUEST");
      const r = await mutate(bare, owner, "instances.ship", "instance.ship", {
        buildId: b.buildId,
        replicas: 1,
      });
      expect(r.ok, r.message ?? "").toBe(true);
      expect((r.data as { commitment: TCommitmentDto }).commitment.state).toBe("no-chain");
      const instanceId = (r.data as { instances: { instanceId: string }[] }).instances[0]?.instanceId ?? "";
      const c = await query<TInstanceCommitment>(bare, "instances.commitment", { instanceId });
      expect(c).toMatchObject({ commitment: { state: "no-chain" }, onChain: null });
    } finally {
      await agent.close();
      agents.splice(agents.indexOf(agent), 1);
      await bare.close();
    }
  });
});
