import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPublicClient, createWalletClient, http, parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainFromConfig } from "../lib/chain/config";
import { startDevnet, type TDevnet } from "./devnet";

let devnet: TDevnet;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-rpc-filter-"));

beforeAll(async () => {
  devnet = await startDevnet({ port: 0, dataDir });
}, 90_000);
afterAll(async () => {
  await devnet?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function rpc(body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(devnet.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe("the devnet's public RPC", () => {
  it("refuses to send from the node's unlocked accounts and hides them", async () => {
    const accounts = await fetch(devnet.adminRpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "eth_accounts", params: [] }),
    });
    const deployer = ((await accounts.json()) as { result: string[] }).result[0];
    expect(deployer).toMatch(/^0x/);
    const thief = privateKeyToAccount(generatePrivateKey()).address;
    const before = await createPublicClient({ transport: http(devnet.rpcUrl) }).getBalance({
      address: thief,
    });
    const send = await rpc({
      jsonrpc: "2.0",
      id: 1,
      method: "eth_sendTransaction",
      params: [{ from: deployer, to: thief, value: "0xde0b6b3a7640000" }],
    });
    expect(send.json).toMatchObject({ id: 1, error: { code: -32601 } });
    expect(JSON.stringify(send.json)).toContain("eth_sendRawTransaction");
    expect((await rpc({ jsonrpc: "2.0", id: 2, method: "eth_accounts", params: [] })).json).toMatchObject({
      result: [],
    });
    for (const method of [
      "personal_sign",
      "eth_sign",
      "hardhat_setBalance",
      "evm_mine",
      "hardhat_impersonateAccount",
    ]) {
      const answer = await rpc({ jsonrpc: "2.0", id: 3, method, params: [] });
      expect({ method, answer: answer.json }).toMatchObject({ method, answer: { error: { code: -32601 } } });
    }
    // A batch is filtered call by call: the read is answered, the send refused.
    const batch = await rpc([
      { jsonrpc: "2.0", id: 10, method: "eth_chainId", params: [] },
      {
        jsonrpc: "2.0",
        id: 11,
        method: "eth_sendTransaction",
        params: [{ from: deployer, to: thief, value: "0x1" }],
      },
    ]);
    expect(batch.json).toMatchObject([
      { id: 10, result: "0x7a69" },
      { id: 11, error: { code: -32601 } },
    ]);
    expect(await createPublicClient({ transport: http(devnet.rpcUrl) }).getBalance({ address: thief })).toBe(
      before,
    );
  });

  it("forwards reads and transactions signed with the sender's own key", async () => {
    const chain = chainFromConfig({ chainId: devnet.chainId, rpcUrl: devnet.rpcUrl });
    const funded = privateKeyToAccount(devnet.accounts[5] ?? "0x");
    const to = privateKeyToAccount(generatePrivateKey()).address;
    const wallet = createWalletClient({ chain, account: funded, transport: http(devnet.rpcUrl) });
    const hash = await wallet.sendTransaction({ to, value: parseEther("1") });
    const client = createPublicClient({ chain, transport: http(devnet.rpcUrl) });
    await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    expect(await client.getBalance({ address: to })).toBe(parseEther("1"));
  });

  it("answers malformed bodies with JSON-RPC errors, not by crashing", async () => {
    const res = await fetch(devnet.rpcUrl, { method: "POST", body: "{not json" });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: -32700 } });
    expect((await rpc({ id: 4 })).json).toMatchObject({ id: 4, error: { code: -32600 } });
  });
});
