#!/usr/bin/env node
// `npm start`: the whole platform on embedded defaults, like the original's single-node
// `formation-minimal`: host packages, database file, local EVM chain with the orchestration
// contract, the console (Next.js + WebSockets on one port) and one node agent on this machine.
// `FORMATION_NODES=N npm start` (or `npm start -- --nodes N`) instead runs N node hosts, each in a
// network namespace behind a NAT router of its own (scripts/lib/multinode.ts), the console being a
// formnet member of its own. Every service is supervised and its output labelled; Ctrl-C stops
// everything cleanly and a second start resumes with the same data directory.
import { createSocket } from "node:dgram";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { bytesToHex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { ensureHostReady, prepareBuild, run } from "./lib/steps.mjs";
import { Supervisor } from "./lib/supervisor.mjs";

// The multinode network is TypeScript shared with the tests (core/netns): load it through tsx.
register();
const multinode = await import("./lib/multinode.ts");

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const dataDir = resolve(process.env.FORMATION_DATA_DIR ?? join(root, ".data"));
const port = Number(process.env.PORT ?? 3000);
const chainPort = Number(process.env.CHAIN_PORT ?? 8545);
const consoleUrl = `http://localhost:${port}`;
const log = (msg) => process.stdout.write(`[start] ${msg}\n`);
// Hardhat's well-known development mnemonic: its accounts are funded on the local chain only.
const DEVNET_MNEMONIC = "test test test test test test test test test test test junk";
// `node --import tsx` rather than the tsx CLI: the CLI forks a child that does not receive our
// SIGTERM, which would leave the service running after Ctrl-C.
const exitWithParent = join(root, "scripts/lib/exit-with-parent.mjs");
const nodeTs = (entry, args = []) => ({
  command: process.execPath,
  args: ["--import", "tsx", "--import", exitWithParent, entry, ...args],
});
// `FORMATION_DEV=1 npm start` serves the UI with Next's dev server (hot reload) instead of a build.
const dev = process.env.FORMATION_DEV === "1";

/** Binds `port` (0 = any) on UDP and returns the port bound, or null if it is taken. */
function bindUdp(port) {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => resolve(null));
    socket.bind(port, () => {
      const bound = socket.address().port;
      socket.close(() => resolve(bound));
    });
  });
}

/** formnet's UDP port for the local agent: 51820 unless something else on this host holds it. */
async function formnetPort() {
  const wanted = Number(process.env.FORMNET_PORT ?? 51820);
  return (await bindUdp(wanted)) ?? (await bindUdp(0));
}

/** @type {Supervisor | null} */
let supervisor = null;
/** @type {import("../core/netns/multinode-network.ts").MultinodeNetwork | null} */
let network = null;
const settings = multinode.multinodeSettings(process.argv.slice(2), process.env);

async function main() {
  mkdirSync(dataDir, { recursive: true });
  const started = Date.now();
  await ensureHostReady({ root, log });
  await prepareBuild({ root, log, web: !dev });

  supervisor = new Supervisor({ cwd: root, log });
  let shuttingDown = false;
  const shutdown = async (signal) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal} received, stopping the platform`);
    await supervisor.stopAll();
    // Powered off: the node hosts, their routers and the underlay go (their disks stay in .data).
    await network?.down();
    log("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));

  const env = {
    FORMATION_DATA_DIR: dataDir,
    PORT: String(port),
    CONSOLE_ORIGIN: consoleUrl,
    NODE_ENV: dev ? "development" : "production",
    NEXT_TELEMETRY_DISABLED: "1",
  };

  if (settings) {
    network = await multinode.startNetwork(settings);
    Object.assign(env, multinode.consoleEnvFor(network));
    log(
      `multinode network: ${settings.nodes} node hosts behind NAT on ${network.layout.underlayCidr} (console host ${network.layout.consoleHostIp})`,
    );
  }

  if (existsSync(join(root, "contracts/devnet.ts"))) {
    const chainArgs = ["--port", String(chainPort), "--data-dir", dataDir];
    if (network) chainArgs.push("--also-listen", network.layout.consoleHostIp);
    await supervisor.start({
      name: "chain",
      ...nodeTs("contracts/devnet.ts", chainArgs),
      env,
      readyLine: (line) => line.includes('"event":"ready"'),
      readyTimeoutMs: 120_000,
    });
    const chain = JSON.parse(readFileSync(join(dataDir, "chain.json"), "utf8"));
    Object.assign(env, {
      CHAIN_RPC_URL: chain.rpcUrl,
      CHAIN_ID: String(chain.chainId),
      ORCHESTRATOR_ADDRESS: chain.orchestratorAddress,
    });
  }

  await supervisor.start({
    name: "console",
    ...nodeTs("server/main.ts"),
    env,
    readyProbe: async () => (await fetch(`${consoleUrl}/healthz`)).ok,
    readyTimeoutMs: 180_000,
  });
  log(`console is up at ${consoleUrl} (${((Date.now() - started) / 1000).toFixed(1)} s after start)`);

  const agentEnv = { ...env, NODE_AGENT_PASSWORD: process.env.NODE_AGENT_PASSWORD ?? "formation-devnet" };
  if (network && settings) {
    await multinode.startNodeHosts({
      network,
      settings,
      supervisor,
      root,
      dataDir,
      env: agentEnv,
      consolePort: port,
      chain: env.CHAIN_RPC_URL
        ? { rpcPort: chainPort, chainId: env.CHAIN_ID, orchestratorAddress: env.ORCHESTRATOR_ADDRESS }
        : undefined,
      log,
    });
    log(`platform ready in ${((Date.now() - started) / 1000).toFixed(1)} s — open ${consoleUrl}`);
    return;
  }

  const agentConfig = join(dataDir, "agent", "agent.json");
  if (existsSync(join(root, "node-agent/main.ts"))) {
    if (!existsSync(agentConfig)) {
      // On the local devnet the operator key is a funded test account (index 1 of the devnet
      // mnemonic), so the agent can stake and register itself on the orchestration contract.
      const args = ["init", "--yes", "--data-dir", join(dataDir, "agent"), "--console-url", consoleUrl];
      args.push("--formnet-port", String(await formnetPort()));
      // The devnet's single node offers at least 2 vCPUs so the README example (VCPU 2) can run
      // here; VMs under TCG share the host's cores.
      args.push("--vcpu", String(Math.max(2, availableParallelism())));
      // Tests share the machine's image cache with other test agents: they keep what it holds.
      args.push(...multinode.agentInitFlags(process.env));
      if (env.CHAIN_RPC_URL) {
        const key = mnemonicToAccount(DEVNET_MNEMONIC, { addressIndex: 1 }).getHdKey().privateKey;
        if (!key) throw new Error("could not derive the devnet operator key");
        args.push("--private-key", bytesToHex(key), "--chain-rpc-url", env.CHAIN_RPC_URL);
        args.push("--chain-id", env.CHAIN_ID, "--contract-address", env.ORCHESTRATOR_ADDRESS);
      } else {
        args.push("--generate-key");
      }
      await run({ cmd: join(root, "node-agent/bin.mjs"), args, env: agentEnv, cwd: root, log });
    }
    await supervisor.start({
      name: "agent",
      command: process.execPath,
      args: ["--import", exitWithParent, join(root, "node-agent/bin.mjs"), "run", "--config", agentConfig],
      env: agentEnv,
      readyLine: (line) => line.includes('"msg":"connected'),
      readyTimeoutMs: 180_000,
    });
  }
  log(`platform ready in ${((Date.now() - started) / 1000).toFixed(1)} s — open ${consoleUrl}`);
}

main().catch(async (err) => {
  process.stderr.write(`[start] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  // Never leave half a platform running behind a failed start.
  await supervisor?.stopAll();
  await network?.down().catch(() => undefined);
  process.exit(1);
});
