import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { createPublicClient, getAddress, http } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { chainFromConfig, parseChainFile } from "../lib/chain/config";
import { devnetPrivateKeys } from "./devnet";

// The devnet and deploy CLIs as the `npm start` supervisor and an operator run them.
const root = join(import.meta.dirname, "..");
let dataDir: string;
let devnet: ChildProcess | undefined;
const ZReady = z.object({
  event: z.literal("ready"),
  rpcUrl: z.string(),
  chainId: z.number(),
  orchestratorAddress: z.string(),
});
let ready: z.infer<typeof ZReady>;

function readyLine(child: ChildProcess, deadlineMs: number): Promise<typeof ready> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("devnet CLI printed no ready line in time")), deadlineMs);
    child.once("exit", (code) => reject(new Error(`devnet CLI exited with ${code} before ready`)));
    if (child.stdout === null) return reject(new Error("no stdout"));
    createInterface({ input: child.stdout }).on("line", (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return reject(new Error(`devnet CLI printed a line that is not JSON: ${line}`));
      }
      const result = ZReady.safeParse(parsed);
      if (result.success) {
        clearTimeout(timer);
        resolve(result.data);
      }
    });
  });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "formation-devnet-cli-"));
  devnet = spawn(
    process.execPath,
    ["--import", "tsx", "contracts/devnet.ts", "--port", "0", "--data-dir", dataDir],
    { cwd: root, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  ready = await readyLine(devnet, 120_000);
});

afterAll(async () => {
  if (devnet !== undefined && devnet.exitCode === null) devnet.kill("SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
});

describe("devnet and deploy CLIs", () => {
  it("prints a ready line that matches chain.json", async () => {
    expect(ready).toMatchObject({ event: "ready", chainId: 31337 });
    expect(ready.orchestratorAddress).toBe("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const file = parseChainFile(await readFile(join(dataDir, "chain.json"), "utf8"));
    expect(file).toEqual({
      rpcUrl: ready.rpcUrl,
      chainId: 31337,
      orchestratorAddress: ready.orchestratorAddress,
    });
  });

  it("deploys another orchestrator to the running chain with deploy.ts", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        "--import",
        "tsx",
        "contracts/deploy.ts",
        "--rpc-url",
        ready.rpcUrl,
        "--chain-id",
        "31337",
        "--minimum-stake-wei",
        "5",
      ],
      { cwd: root, env: { ...process.env, LOG_LEVEL: "warn", DEPLOYER_PRIVATE_KEY: devnetPrivateKeys()[1] } },
    );
    const line = stdout.split("\n").find((l) => l.includes('"deployed"'));
    const deployed: { orchestratorAddress: string } = JSON.parse(line ?? "{}");
    const client = createPublicClient({
      chain: chainFromConfig({ chainId: 31337, rpcUrl: ready.rpcUrl }),
      transport: http(ready.rpcUrl),
    });
    const code = await client.getCode({ address: getAddress(deployed.orchestratorAddress) });
    expect(code?.length).toBeGreaterThan(100);
  });

  it("stops cleanly on SIGTERM and takes the chain down with it", async () => {
    const child = devnet;
    if (child === undefined) throw new Error("devnet not started");
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await expect(fetch(ready.rpcUrl, { method: "POST" })).rejects.toThrow();
  });
});
