import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  type Hash,
  http,
  parseEther,
  publicActions,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevnet, type TDevnet } from "@/contracts/devnet";
import { chainFromConfig, nodeKeyFromAddress } from "@/lib/chain/config";
import {
  deregisterOperator,
  registerOperator,
  slashOperator,
  type TWallet,
  waitForSuccess,
} from "@/lib/chain/write";
import { createAdmission, type TAdmission } from "./admission";

// A real Hardhat node; the admission cache TTL is an hour, so every change of answer below can only
// come from invalidation by a contract event.
let devnet: TDevnet;
let dataDir: string;
let admission: TAdmission;
const ONE = parseEther("1");
const capacity = { vcpu: 2, memoryMb: 4096, diskGb: 20 };

const chain = () => chainFromConfig({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl });
const transport = () => http(devnet.rpcUrl, { retryCount: 0 });

async function fundedWallet() {
  const wallet = createWalletClient({
    chain: chain(),
    account: privateKeyToAccount(generatePrivateKey()),
    transport: transport(),
  }).extend(publicActions);
  const test = createTestClient({
    chain: chain(),
    mode: "hardhat",
    transport: http(devnet.adminRpcUrl, { retryCount: 0 }),
  });
  await test.setBalance({ address: wallet.account.address, value: parseEther("10") });
  return wallet;
}

function governance(): TWallet {
  const key = devnet.accounts[0];
  if (key === undefined) throw new Error("devnet returned no accounts");
  return createWalletClient({ chain: chain(), account: privateKeyToAccount(key), transport: transport() });
}

async function mined(hash: Promise<Hash>) {
  const client = createPublicClient({ chain: chain(), transport: transport() });
  await waitForSuccess(client, await hash, { pollingIntervalMs: 20 });
}

/** Polls `isAdmitted` until it returns `expected`, failing after the deadline. */
async function eventually(address: string, expected: boolean, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if ((await admission.isAdmitted(address)) === expected) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`isAdmitted(${address}) did not become ${expected} within ${deadlineMs} ms`);
}

const profile = (nodeKey: `0x${string}`) => ({ nodeKey, region: "local", capacity, metadata: "{}" });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "formation-admission-"));
  devnet = await startDevnet({ port: 0, dataDir });
  admission = createAdmission({
    rpcUrl: devnet.rpcUrl,
    chainId: devnet.chainId,
    contract: devnet.orchestratorAddress,
    allowlist: ["0x00000000000000000000000000000000000000aa"],
    pollingIntervalMs: 100,
    cacheTtlMs: 3_600_000,
  });
});

afterAll(async () => {
  admission?.close();
  await devnet?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

describe("agent admission", () => {
  it("refuses an unregistered agent and admits it once it registers", async () => {
    const agent = await fundedWallet();
    const address = agent.account.address.toLowerCase();
    expect(await admission.isAdmitted(address)).toBe(false);
    // The negative answer is cached: a second call does not reach the chain.
    const before = admission.stats();
    expect(await admission.isAdmitted(address)).toBe(false);
    expect(admission.stats().hits).toBe(before.hits + 1);

    const ref = { wallet: agent, contract: devnet.orchestratorAddress };
    await mined(
      registerOperator({ ...ref, ...profile(nodeKeyFromAddress(agent.account.address)), stake: ONE }),
    );
    await eventually(address, true);
    expect(admission.stats().invalidations).toBeGreaterThan(before.invalidations);
  });

  it("admits a node key of an active operator and drops it when the operator is slashed below the minimum", async () => {
    const operator = await fundedWallet();
    const node = privateKeyToAccount(generatePrivateKey()).address;
    expect(await admission.isAdmitted(node)).toBe(false);
    const ref = { wallet: operator, contract: devnet.orchestratorAddress };
    await mined(registerOperator({ ...ref, ...profile(nodeKeyFromAddress(node)), stake: ONE }));
    await eventually(node, true);
    await eventually(operator.account.address, true);

    const gov = governance();
    await mined(
      slashOperator({
        wallet: gov,
        contract: devnet.orchestratorAddress,
        operator: operator.account.address,
        amount: 1n,
        reason: "test",
      }),
    );
    await eventually(node, false);
    await eventually(operator.account.address, false);
  });

  it("drops a deregistering operator", async () => {
    const agent = await fundedWallet();
    const ref = { wallet: agent, contract: devnet.orchestratorAddress };
    await mined(
      registerOperator({ ...ref, ...profile(nodeKeyFromAddress(agent.account.address)), stake: ONE }),
    );
    await eventually(agent.account.address, true);
    await mined(deregisterOperator(ref));
    await eventually(agent.account.address, false);
  });

  it("admits allow-listed addresses without registration and refuses malformed ones", async () => {
    expect(await admission.isAdmitted("0x00000000000000000000000000000000000000AA")).toBe(true);
    expect(await admission.isAdmitted("not-an-address")).toBe(false);
  });

  it("fails closed when the chain cannot be reached", async () => {
    // A port that was just free: nothing listens there, so every RPC call is refused.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
      });
    });
    const offline = createAdmission({
      rpcUrl: `http://127.0.0.1:${port}/`,
      chainId: devnet.chainId,
      contract: devnet.orchestratorAddress,
      pollingIntervalMs: 60_000,
    });
    try {
      expect(await offline.isAdmitted(privateKeyToAccount(generatePrivateKey()).address)).toBe(false);
      expect(offline.stats().cached).toBe(0);
    } finally {
      offline.close();
    }
  });

  it("forgets admissions when the devnet restarts empty on the same port", async () => {
    const agent = await fundedWallet();
    const ref = { wallet: agent, contract: devnet.orchestratorAddress };
    await mined(
      registerOperator({ ...ref, ...profile(nodeKeyFromAddress(agent.account.address)), stake: ONE }),
    );
    await eventually(agent.account.address, true);

    // Hardhat keeps state in memory: a restart is a fresh chain at the same URL and contract address.
    const port = Number(new URL(devnet.rpcUrl).port);
    await devnet.stop();
    devnet = await startDevnet({ port, dataDir });
    await eventually(agent.account.address, false);
  });
});
