/**
 * Local chain figures on the embedded Hardhat devnet.
 *   npx tsx bench/chain-bench.ts [--starts 5] [--txs 20]
 * Prints: devnet start-up (spawn → RPC ready → Orchestrator deployed), registration latency
 * (register sent → receipt), commitBuild latency, an isActive read, and how long the console's
 * admission cache takes to notice a registration through contract events.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  keccak256,
  parseEther,
  toHex,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startDevnet, type TDevnet } from "../contracts/devnet";
import { chainFromConfig, nodeKeyFromAddress } from "../lib/chain/config";
import { readIsActive } from "../lib/chain/read";
import { commitBuild, registerOperator, waitForSuccess } from "../lib/chain/write";
import { createAdmission } from "../server/chain/admission";

const { values } = parseArgs({
  options: { starts: { type: "string", default: "5" }, txs: { type: "string", default: "20" } },
});
const starts = Number(values.starts);
const txs = Number(values.txs);

function stats(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return `median ${at(0.5).toFixed(1)} ms, min ${sorted[0]?.toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms (n=${sorted.length})`;
}

async function withDevnet<T>(fn: (devnet: TDevnet) => Promise<T>): Promise<T> {
  const dataDir = await mkdtemp(join(tmpdir(), "formation-chain-bench-"));
  const devnet = await startDevnet({ port: 0, dataDir });
  try {
    return await fn(devnet);
  } finally {
    await devnet.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rpcReady: number[] = [];
  const deployed: number[] = [];
  for (let i = 0; i < starts; i++) {
    await withDevnet(async (d) => {
      rpcReady.push(d.timings.rpcReadyMs);
      deployed.push(d.timings.deployedMs);
    });
  }

  const register: number[] = [];
  const commit: number[] = [];
  const read: number[] = [];
  const admissionLag: number[] = [];
  const gas = { register: 0n, commit: 0n };
  await withDevnet(async (d) => {
    const chain = chainFromConfig({ chainId: d.chainId, rpcUrl: d.rpcUrl });
    const client = createPublicClient({ chain, transport: http(d.rpcUrl), pollingInterval: 10 });
    const test = createTestClient({ chain, mode: "hardhat", transport: http(d.adminRpcUrl) });
    const admission = createAdmission({
      rpcUrl: d.rpcUrl,
      chainId: d.chainId,
      contract: d.orchestratorAddress,
    });
    const contract = d.orchestratorAddress;
    try {
      for (let i = 0; i < txs; i++) {
        const account = privateKeyToAccount(generatePrivateKey());
        await test.setBalance({ address: account.address, value: parseEther("10") });
        const wallet = createWalletClient({ chain, account, transport: http(d.rpcUrl) });
        await admission.isAdmitted(account.address); // caches the refusal

        let t = performance.now();
        const hash = await registerOperator({
          wallet,
          contract,
          nodeKey: nodeKeyFromAddress(account.address),
          region: "bench",
          capacity: { vcpu: 2, memoryMb: 4096, diskGb: 20 },
          metadata: "{}",
          stake: parseEther("1"),
        });
        const r = await waitForSuccess(client, hash, { pollingIntervalMs: 10 });
        register.push(performance.now() - t);
        gas.register = r.gasUsed;

        t = performance.now();
        while (!(await admission.isAdmitted(account.address))) await new Promise((r) => setTimeout(r, 5));
        admissionLag.push(performance.now() - t);

        t = performance.now();
        await readIsActive({ client, contract, operator: account.address });
        read.push(performance.now() - t);

        t = performance.now();
        const c = await commitBuild({
          wallet,
          contract,
          buildId: keccak256(toHex(`b${i}`)),
          imageDigest: keccak256(toHex(`i${i}`)),
        });
        const cr = await waitForSuccess(client, c, { pollingIntervalMs: 10 });
        commit.push(performance.now() - t);
        gas.commit = cr.gasUsed;
      }
    } finally {
      admission.close();
    }
  });

  const lines = [
    `devnet spawn → RPC ready:          ${stats(rpcReady)}`,
    `devnet spawn → contract deployed:  ${stats(deployed)}`,
    `register (sent → receipt):         ${stats(register)}`,
    `commitBuild (sent → receipt):      ${stats(commit)}`,
    `isActive read (eth_call):          ${stats(read)}`,
    `admission sees registration:       ${stats(admissionLag)} (event polling 200 ms)`,
    `gas: register ${gas.register}, commitBuild ${gas.commit}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
