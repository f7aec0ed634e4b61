import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicClient, createTestClient, createWalletClient, http, parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevnet, type TDevnet } from "@/contracts/devnet";
import { chainFromConfig } from "@/lib/chain/config";
import { readIsActive, readOperator } from "@/lib/chain/read";
import { deregisterOperator, slashOperator, waitForSuccess } from "@/lib/chain/write";
import { ChainRegistrationError, ensureRegistered } from "./register";

let devnet: TDevnet;
let dataDir: string;
const ONE = parseEther("1");

const chain = () => chainFromConfig({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl });
const publicClient = () => createPublicClient({ chain: chain(), transport: http(devnet.rpcUrl) });

async function fundedKey() {
  const key = generatePrivateKey();
  const test = createTestClient({ chain: chain(), mode: "hardhat", transport: http(devnet.adminRpcUrl) });
  await test.setBalance({ address: privateKeyToAccount(key).address, value: parseEther("10") });
  return key;
}

const base = () => ({
  rpcUrl: devnet.rpcUrl,
  chainId: devnet.chainId,
  contract: devnet.orchestratorAddress,
  region: "local",
  capacity: { vcpu: 2, memoryMb: 4096, diskGb: 20 },
  metadata: '{"agent":"test"}',
  stake: ONE,
});

async function rejection(action: Promise<unknown>): Promise<ChainRegistrationError> {
  const err = await action.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ChainRegistrationError))
    throw new Error(`expected ChainRegistrationError, got ${String(err)}`);
  return err;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "formation-agent-chain-"));
  devnet = await startDevnet({ port: 0, dataDir });
});

afterAll(async () => {
  await devnet?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

describe("ensureRegistered", () => {
  it("registers once, then reports already, and updates a changed profile", async () => {
    const account = await fundedKey();
    const address = privateKeyToAccount(account).address;
    const first = await ensureRegistered({ ...base(), account });
    expect(first).toMatch(/^0x[0-9a-f]{64}$/);
    expect(
      await readIsActive({ client: publicClient(), contract: devnet.orchestratorAddress, operator: address }),
    ).toBe(true);
    expect(await ensureRegistered({ ...base(), account })).toBe("already");

    const updated = await ensureRegistered({
      ...base(),
      account,
      capacity: { vcpu: 4, memoryMb: 8192, diskGb: 40 },
    });
    expect(updated).toMatch(/^0x/);
    const op = await readOperator({
      client: publicClient(),
      contract: devnet.orchestratorAddress,
      operator: address,
    });
    expect(op.capacity).toEqual({ vcpu: 4, memoryMb: 8192, diskGb: 40 });
    expect(op.stake).toBe(ONE);
  });

  it("tops the stake up after a slash left it below the minimum", async () => {
    const account = await fundedKey();
    const address = privateKeyToAccount(account).address;
    await ensureRegistered({ ...base(), account });
    const govKey = devnet.accounts[0];
    if (govKey === undefined) throw new Error("no governance key");
    const gov = createWalletClient({
      chain: chain(),
      account: privateKeyToAccount(govKey),
      transport: http(devnet.rpcUrl),
    });
    const slash = await slashOperator({
      wallet: gov,
      contract: devnet.orchestratorAddress,
      operator: address,
      amount: ONE / 2n,
      reason: "test",
    });
    await waitForSuccess(publicClient(), slash);
    const ref = { client: publicClient(), contract: devnet.orchestratorAddress, operator: address };
    expect(await readIsActive(ref)).toBe(false);
    expect(await ensureRegistered({ ...base(), account, stake: 2n * ONE })).toMatch(/^0x/);
    expect((await readOperator(ref)).stake).toBe(2n * ONE);
    expect(await readIsActive(ref)).toBe(true);
  });

  it("refuses a stake below the minimum, a wrong chain id, and an unbonding operator", async () => {
    const account = await fundedKey();
    expect((await rejection(ensureRegistered({ ...base(), account, stake: ONE - 1n }))).code).toBe(
      "stakeBelowMinimum",
    );
    expect((await rejection(ensureRegistered({ ...base(), account, chainId: 1 }))).code).toBe("wrongChain");

    await ensureRegistered({ ...base(), account });
    const wallet = createWalletClient({
      chain: chain(),
      account: privateKeyToAccount(account),
      transport: http(devnet.rpcUrl),
    });
    await waitForSuccess(
      publicClient(),
      await deregisterOperator({ wallet, contract: devnet.orchestratorAddress }),
    );
    const unbonding = await rejection(ensureRegistered({ ...base(), account }));
    expect(unbonding.code).toBe("unbonding");
    expect(unbonding.message).toMatch(/withdraw/);
  });

  it("wraps a failed transaction with the contract's error name", async () => {
    // An account with no ether cannot pay the stake: the node refuses the transaction.
    const broke = generatePrivateKey();
    const err = await rejection(ensureRegistered({ ...base(), account: broke }));
    expect(err.code).toBe("reverted");
    expect(err.cause).toBeDefined();
  });
});
