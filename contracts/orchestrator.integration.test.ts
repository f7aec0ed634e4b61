import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Address,
  createPublicClient,
  createTestClient,
  createWalletClient,
  encodeDeployData,
  type Hash,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  parseEther,
  parseEventLogs,
  stringToHex,
  zeroAddress,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orchestratorAbi } from "../lib/chain/abi";
import { commitBuildFor, readCommitNonce, signBuildCommitment } from "../lib/chain/build-commitment";
import { chainFromConfig, nodeKeyFromAddress, type TCapacity } from "../lib/chain/config";
import { orchestratorErrorName, type TOrchestratorErrorName } from "../lib/chain/errors";
import { readBuildCommitment, readIsActive, readIsCommitted, readOperator } from "../lib/chain/read";
import {
  addStake,
  commitBuild,
  deregisterOperator,
  registerOperator,
  setTreasury as setTreasuryTx,
  slashOperator,
  type TWallet,
  transferGovernance,
  updateOperator,
  waitForSuccess,
  withdrawStake,
} from "../lib/chain/write";
import { loadArtifact } from "./build";
import { startDevnet, type TDevnet } from "./devnet";

// One real Hardhat node for the whole file; each test uses fresh funded accounts so tests do not
// depend on each other's registrations (only the treasury test restores shared state itself).
let devnet: TDevnet;
let dataDir: string;
let publicClient: PublicClient;
let governance: TWallet;
const ONE = parseEther("1");
const capacity: TCapacity = { vcpu: 4, memoryMb: 8192, diskGb: 100 };
const asserted = new Set<string>();
// Hardhat answers reverted estimates with JSON-RPC -32603, which viem's transport retries with
// back-off by default; without retries each expected revert costs milliseconds instead of a second.

const chain = () => chainFromConfig({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl });
const testClient = () =>
  createTestClient({
    chain: chain(),
    mode: "hardhat",
    transport: http(devnet.adminRpcUrl, { retryCount: 0 }),
  });
const walletFor = (key: Hex) =>
  createWalletClient({
    chain: chain(),
    account: privateKeyToAccount(key),
    transport: http(devnet.rpcUrl, { retryCount: 0 }),
  });
const ref = (wallet: TWallet) => ({ wallet, contract: devnet.orchestratorAddress });
const client = () => ({ client: publicClient, contract: devnet.orchestratorAddress });

async function fundedWallet(): Promise<TWallet & { account: { address: Address } }> {
  const wallet = walletFor(generatePrivateKey());
  await testClient().setBalance({ address: wallet.account.address, value: parseEther("100") });
  return wallet;
}

function profile(
  address: Address,
  overrides: Partial<{ region: string; metadata: string; nodeKey: Hex }> = {},
) {
  return {
    nodeKey: nodeKeyFromAddress(address),
    region: "eu-west",
    capacity,
    metadata: '{"console":"agent"}',
    ...overrides,
  };
}

async function mined(hash: Promise<Hash>) {
  const txHash = await hash;
  await waitForSuccess(publicClient, txHash, { pollingIntervalMs: 20 });
  const receipt = await publicClient.getTransactionReceipt({ hash: txHash });
  return parseEventLogs({ abi: orchestratorAbi, logs: receipt.logs });
}

async function expectRevert(action: Promise<unknown>, errorName: TOrchestratorErrorName): Promise<void> {
  const error = await action.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, `expected a ${errorName} revert`).toBeDefined();
  expect(orchestratorErrorName(error)).toBe(errorName);
  asserted.add(errorName);
}

async function registered(stake = ONE) {
  const wallet = await fundedWallet();
  await mined(registerOperator({ ...ref(wallet), ...profile(wallet.account.address), stake }));
  return wallet;
}

async function passUnbonding() {
  await testClient().increaseTime({ seconds: 3600 });
  await testClient().mine({ blocks: 1 });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "formation-orchestrator-"));
  devnet = await startDevnet({ port: 0, dataDir });
  publicClient = createPublicClient({
    chain: chain(),
    transport: http(devnet.rpcUrl, { retryCount: 0 }),
    pollingInterval: 20,
  });
  const key = devnet.accounts[0];
  if (key === undefined) throw new Error("devnet returned no accounts");
  governance = walletFor(key);
});

afterAll(async () => {
  await devnet?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

describe("devnet", () => {
  it("deploys at the deterministic address and writes chain.json", async () => {
    expect(devnet.orchestratorAddress).toBe("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const info = JSON.parse(await readFile(join(dataDir, "chain.json"), "utf8"));
    expect(info).toEqual({
      rpcUrl: devnet.rpcUrl,
      chainId: 31337,
      orchestratorAddress: devnet.orchestratorAddress,
    });
    const minimumStake = await publicClient.readContract({
      address: devnet.orchestratorAddress,
      abi: orchestratorAbi,
      functionName: "minimumStake",
    });
    expect(minimumStake).toBe(ONE);
  });
});

describe("registration", () => {
  it("registers with stake, emits Registered and becomes active", async () => {
    const wallet = await fundedWallet();
    const address = wallet.account.address;
    expect(await readIsActive({ ...client(), operator: address })).toBe(false);
    const events = await mined(registerOperator({ ...ref(wallet), ...profile(address), stake: 2n * ONE }));
    expect(events.map((e) => e.eventName)).toEqual(["Registered"]);
    expect(events[0]?.args).toMatchObject({
      operator: address,
      region: "eu-west",
      capacity,
      stake: 2n * ONE,
    });
    expect(await readIsActive({ ...client(), operator: address })).toBe(true);
    const op = await readOperator({ ...client(), operator: address });
    expect(op).toMatchObject({
      registered: true,
      region: "eu-west",
      capacity,
      stake: 2n * ONE,
      unbondingEndsAt: 0,
    });
    expect(op.nodeKey).toBe(nodeKeyFromAddress(address));
    const holder = await publicClient.readContract({
      address: devnet.orchestratorAddress,
      abi: orchestratorAbi,
      functionName: "operatorOfNodeKey",
      args: [nodeKeyFromAddress(address)],
    });
    expect(holder).toBe(address);
  });

  it("refuses re-registration, missing or insufficient stake, and invalid profiles", async () => {
    const wallet = await registered();
    const address = wallet.account.address;
    await expectRevert(
      registerOperator({ ...ref(wallet), ...profile(address), stake: ONE }),
      "AlreadyRegistered",
    );

    const other = await fundedWallet();
    const p = profile(other.account.address);
    await expectRevert(registerOperator({ ...ref(other), ...p, stake: 0n }), "InsufficientStake");
    await expectRevert(registerOperator({ ...ref(other), ...p, stake: ONE - 1n }), "InsufficientStake");
    await expectRevert(
      registerOperator({ ...ref(other), ...p, nodeKey: `0x${"0".repeat(64)}`, stake: ONE }),
      "ZeroNodeKey",
    );
    await expectRevert(
      registerOperator({ ...ref(other), ...p, nodeKey: nodeKeyFromAddress(address), stake: ONE }),
      "NodeKeyTaken",
    );
    await expectRevert(
      registerOperator({ ...ref(other), ...p, capacity: { ...capacity, vcpu: 0 }, stake: ONE }),
      "InvalidCapacity",
    );
    await expectRevert(
      registerOperator({ ...ref(other), ...p, region: "r".repeat(65), stake: ONE }),
      "RegionTooLong",
    );
    await expectRevert(
      registerOperator({ ...ref(other), ...p, metadata: "m".repeat(1025), stake: ONE }),
      "MetadataTooLong",
    );
    expect(await readIsActive({ ...client(), operator: other.account.address })).toBe(false);
  });

  it("updates the profile and moves the node key", async () => {
    const wallet = await registered();
    const address = wallet.account.address;
    const newKey = keccak256(stringToHex("new node key"));
    const events = await mined(
      updateOperator({
        ...ref(wallet),
        ...profile(address, { region: "us-east", metadata: "m2", nodeKey: newKey }),
      }),
    );
    expect(events[0]?.eventName).toBe("Updated");
    const op = await readOperator({ ...client(), operator: address });
    expect(op).toMatchObject({ region: "us-east", metadata: "m2", nodeKey: newKey, stake: ONE });
    const read = (nodeKey: Hex) =>
      publicClient.readContract({
        address: devnet.orchestratorAddress,
        abi: orchestratorAbi,
        functionName: "operatorOfNodeKey",
        args: [nodeKey],
      });
    expect(await read(newKey)).toBe(address);
    expect(await read(nodeKeyFromAddress(address))).toBe(zeroAddress);

    const stranger = await fundedWallet();
    await expectRevert(
      updateOperator({ ...ref(stranger), ...profile(stranger.account.address) }),
      "NotRegistered",
    );
    await expectRevert(updateOperator({ ...ref(stranger), ...profile(address) }), "NotRegistered");
  });

  it("adds stake and refuses a zero top-up", async () => {
    const wallet = await registered();
    const events = await mined(addStake({ ...ref(wallet), amount: ONE }));
    expect(events[0]?.args).toMatchObject({ amount: ONE, totalStake: 2n * ONE });
    await expectRevert(addStake({ ...ref(wallet), amount: 0n }), "ZeroAmount");
    const stranger = await fundedWallet();
    await expectRevert(addStake({ ...ref(stranger), amount: ONE }), "NotRegistered");
  });
});

describe("unbonding", () => {
  it("deregisters, blocks changes while unbonding, and withdraws only after the delay", async () => {
    const wallet = await registered(3n * ONE);
    const address = wallet.account.address;
    await expectRevert(withdrawStake(ref(wallet)), "NotDeregistering");

    const events = await mined(deregisterOperator(ref(wallet)));
    expect(events[0]?.eventName).toBe("Deregistered");
    expect(await readIsActive({ ...client(), operator: address })).toBe(false);
    await expectRevert(deregisterOperator(ref(wallet)), "OperatorDeregistering");
    await expectRevert(updateOperator({ ...ref(wallet), ...profile(address) }), "OperatorDeregistering");
    await expectRevert(addStake({ ...ref(wallet), amount: ONE }), "OperatorDeregistering");
    await expectRevert(
      registerOperator({ ...ref(wallet), ...profile(address), stake: ONE }),
      "AlreadyRegistered",
    );
    await expectRevert(withdrawStake(ref(wallet)), "UnbondingNotOver");

    await passUnbonding();
    const before = await publicClient.getBalance({ address: devnet.orchestratorAddress });
    const withdrawn = await mined(withdrawStake(ref(wallet)));
    expect(withdrawn[0]?.args).toMatchObject({ operator: address, amount: 3n * ONE });
    expect(await publicClient.getBalance({ address: devnet.orchestratorAddress })).toBe(before - 3n * ONE);
    expect((await readOperator({ ...client(), operator: address })).registered).toBe(false);

    // The record is gone, so the operator (and its node key) can register again.
    await mined(registerOperator({ ...ref(wallet), ...profile(address), stake: ONE }));
    expect(await readIsActive({ ...client(), operator: address })).toBe(true);
  });

  it("refuses deregister and withdraw from an unregistered address", async () => {
    const stranger = await fundedWallet();
    await expectRevert(deregisterOperator(ref(stranger)), "NotRegistered");
    await expectRevert(withdrawStake(ref(stranger)), "NotRegistered");
  });

  it("reports TransferFailed when the operator cannot receive its stake", async () => {
    // An impersonated account whose code always reverts stands in for a contract without receive().
    const rejecting = privateKeyToAccount(generatePrivateKey()).address;
    const test = testClient();
    await test.setCode({ address: rejecting, bytecode: "0x60006000fd" });
    await test.setBalance({ address: rejecting, value: parseEther("10") });
    await test.impersonateAccount({ address: rejecting });
    const wallet = createWalletClient({
      chain: chain(),
      account: rejecting,
      transport: http(devnet.adminRpcUrl, { retryCount: 0 }),
    });
    await mined(registerOperator({ ...ref(wallet), ...profile(rejecting), stake: ONE }));
    await mined(deregisterOperator(ref(wallet)));
    await passUnbonding();
    await expectRevert(withdrawStake(ref(wallet)), "TransferFailed");
    await test.stopImpersonatingAccount({ address: rejecting });
  });
});

describe("slashing", () => {
  it("moves slashed stake to the treasury and drops below-minimum operators", async () => {
    const wallet = await registered(2n * ONE);
    const address = wallet.account.address;
    const treasury = await publicClient.readContract({
      address: devnet.orchestratorAddress,
      abi: orchestratorAbi,
      functionName: "treasury",
    });
    const before = await publicClient.getBalance({ address: treasury });
    const events = await mined(
      slashOperator({ ...ref(governance), operator: address, amount: ONE, reason: "downtime" }),
    );
    expect(events[0]?.args).toMatchObject({
      operator: address,
      amount: ONE,
      remainingStake: ONE,
      reason: "downtime",
    });
    // Governance is also the treasury here and paid gas, so compare against the gas-adjusted balance.
    expect(await publicClient.getBalance({ address: treasury })).toBeGreaterThan(before);
    expect(await readIsActive({ ...client(), operator: address })).toBe(true);

    await mined(slashOperator({ ...ref(governance), operator: address, amount: 1n, reason: "more" }));
    expect(await readIsActive({ ...client(), operator: address })).toBe(false);
    await mined(addStake({ ...ref(wallet), amount: 1n }));
    expect(await readIsActive({ ...client(), operator: address })).toBe(true);
  });

  it("slashes during unbonding and guards every slashing input", async () => {
    const wallet = await registered();
    const address = wallet.account.address;
    await mined(deregisterOperator(ref(wallet)));
    await mined(slashOperator({ ...ref(governance), operator: address, amount: ONE, reason: "fraud" }));
    expect((await readOperator({ ...client(), operator: address })).stake).toBe(0n);

    const stranger = await fundedWallet();
    await expectRevert(
      slashOperator({ ...ref(wallet), operator: address, amount: 1n, reason: "x" }),
      "NotGovernance",
    );
    await expectRevert(
      slashOperator({ ...ref(governance), operator: stranger.account.address, amount: 1n, reason: "x" }),
      "NotRegistered",
    );
    await expectRevert(
      slashOperator({ ...ref(governance), operator: address, amount: 0n, reason: "x" }),
      "ZeroAmount",
    );
    await expectRevert(
      slashOperator({ ...ref(governance), operator: address, amount: 1n, reason: "x" }),
      "SlashExceedsStake",
    );
  });

  it("lets governance change the treasury and reports TransferFailed when it cannot receive", async () => {
    const wallet = await registered();
    const stranger = await fundedWallet();
    const gov = governance.account?.address ?? zeroAddress;
    const setTreasury = (w: TWallet, to: Address) => mined(setTreasuryTx({ ...ref(w), treasury: to }));
    await expectRevert(setTreasury(stranger, stranger.account.address), "NotGovernance");
    await expectRevert(setTreasury(governance, zeroAddress), "ZeroAddress");
    // The orchestrator itself has no receive(), so it is a treasury that rejects value.
    const changed = await setTreasury(governance, devnet.orchestratorAddress);
    expect(changed[0]?.args).toMatchObject({
      previousTreasury: gov,
      newTreasury: devnet.orchestratorAddress,
    });
    try {
      await expectRevert(
        slashOperator({ ...ref(governance), operator: wallet.account.address, amount: 1n, reason: "x" }),
        "TransferFailed",
      );
    } finally {
      await setTreasury(governance, gov);
    }
  });

  it("hands governance over, only from governance and never to the zero address", async () => {
    const next = await fundedWallet();
    const transfer = (w: TWallet, to: Address) => transferGovernance({ ...ref(w), governance: to });
    await expectRevert(transfer(next, next.account.address), "NotGovernance");
    await expectRevert(transfer(governance, zeroAddress), "ZeroAddress");
    await mined(transfer(governance, next.account.address));
    await mined(transfer(next, governance.account?.address ?? zeroAddress));
    const current = await publicClient.readContract({
      address: devnet.orchestratorAddress,
      abi: orchestratorAbi,
      functionName: "governance",
    });
    expect(current).toBe(governance.account?.address);
  });

  it("refuses a deployment with a zero governance address", async () => {
    const { bytecode } = await loadArtifact("Orchestrator");
    const data = encodeDeployData({
      abi: orchestratorAbi,
      bytecode,
      args: [ONE, 3600n, zeroAddress, zeroAddress],
    });
    const error = await publicClient.call({ data }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(orchestratorErrorName(error)).toBe("ZeroAddress");
  });
});

describe("build commitments", () => {
  it("records the owner's commitment, overwrites on rebuild and rejects zero ids", async () => {
    const owner = await fundedWallet();
    const buildId = keccak256(stringToHex("build"));
    const digest1 = keccak256(stringToHex("image-1"));
    const digest2 = keccak256(stringToHex("image-2"));
    const read = { ...client(), owner: owner.account.address, buildId };
    expect(await readBuildCommitment(read)).toBeUndefined();

    const events = await mined(commitBuild({ ...ref(owner), buildId, imageDigest: digest1 }));
    expect(events[0]?.eventName).toBe("BuildCommitted");
    expect(events[0]?.args).toEqual({ owner: owner.account.address, buildId, imageDigest: digest1 });
    expect((await readBuildCommitment(read))?.imageDigest).toBe(digest1);
    expect(await readIsCommitted({ ...read, imageDigest: digest1 })).toBe(true);

    await mined(commitBuild({ ...ref(owner), buildId, imageDigest: digest2 }));
    expect(await readIsCommitted({ ...read, imageDigest: digest1 })).toBe(false);
    expect(await readIsCommitted({ ...read, imageDigest: digest2 })).toBe(true);
    // Commitments are per owner: another address has committed nothing for the same build id.
    expect(
      await readIsCommitted({
        ...read,
        owner: governance.account?.address ?? zeroAddress,
        imageDigest: digest2,
      }),
    ).toBe(false);

    await expectRevert(
      commitBuild({ ...ref(owner), buildId: `0x${"0".repeat(64)}`, imageDigest: digest1 }),
      "ZeroBuildId",
    );
    await expectRevert(
      commitBuild({ ...ref(owner), buildId, imageDigest: `0x${"0".repeat(64)}` }),
      "ZeroImageDigest",
    );
  });
});

describe("relayed build commitments", () => {
  it("records a commitment in the owner's name from their EIP-712 signature, once", async () => {
    const owner = await fundedWallet();
    const relayer = governance;
    const buildId = keccak256(stringToHex("relayed build"));
    const imageDigest = keccak256(stringToHex("relayed image"));
    const now = BigInt((await publicClient.getBlock()).timestamp);
    const nonce = await readCommitNonce({ ...client(), owner: owner.account.address });
    expect(nonce).toBe(0n);
    const signed = await signBuildCommitment({
      wallet: owner,
      chainId: devnet.chainId,
      contract: devnet.orchestratorAddress,
      buildId,
      imageDigest,
      nonce,
      deadline: now + 600n,
    });
    const events = await mined(commitBuildFor({ ...ref(relayer), ...signed }));
    expect(events[0]?.args).toEqual({ owner: owner.account.address, buildId, imageDigest });
    expect(await readIsCommitted({ ...client(), owner: owner.account.address, buildId, imageDigest })).toBe(
      true,
    );
    expect(await readCommitNonce({ ...client(), owner: owner.account.address })).toBe(1n);

    // Replaying the same signature fails: the nonce moved on.
    await expectRevert(commitBuildFor({ ...ref(relayer), ...signed }), "InvalidSignature");
    // A signature by someone else than the named owner fails.
    const forged = await signBuildCommitment({
      wallet: relayer,
      chainId: devnet.chainId,
      contract: devnet.orchestratorAddress,
      buildId,
      imageDigest,
      nonce: 1n,
      deadline: now + 600n,
    });
    await expectRevert(
      commitBuildFor({
        ...ref(relayer),
        message: { ...forged.message, owner: owner.account.address },
        signature: forged.signature,
      }),
      "InvalidSignature",
    );
    const late = await signBuildCommitment({
      wallet: owner,
      chainId: devnet.chainId,
      contract: devnet.orchestratorAddress,
      buildId,
      imageDigest,
      nonce: 1n,
      deadline: now - 1n,
    });
    await expectRevert(commitBuildFor({ ...ref(relayer), ...late }), "SignatureExpired");
  });
});

describe("coverage", () => {
  it("asserted every custom error of the ABI at least once", () => {
    const all = orchestratorAbi.flatMap((item) => (item.type === "error" ? [item.name] : []));
    // ZeroAddress is also asserted via the constructor test with decodeErrorResult.
    const missing = all.filter((name) => !asserted.has(name));
    expect(missing).toEqual([]);
  });
});
