#!/usr/bin/env node
// `npm start`: the whole platform on embedded defaults, like the original's single-node
// `formation-minimal`: host packages, database file, local EVM chain with the orchestration
// contract, the console (Next.js + WebSockets on one port) and one node agent on this machine.
// Every service is supervised and its output labelled; Ctrl-C stops everything cleanly and a second
// start resumes with the same data directory.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureHostReady, prepareBuild, run } from "./lib/steps.mjs";
import { Supervisor } from "./lib/supervisor.mjs";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const dataDir = resolve(process.env.FORMATION_DATA_DIR ?? join(root, ".data"));
const port = Number(process.env.PORT ?? 3000);
const chainPort = Number(process.env.CHAIN_PORT ?? 8545);
const consoleUrl = `http://localhost:${port}`;
const log = (msg) => process.stdout.write(`[start] ${msg}\n`);
const tsx = join(root, "node_modules/.bin/tsx");

async function main() {
  mkdirSync(dataDir, { recursive: true });
  const started = Date.now();
  await ensureHostReady({ root, log });
  await prepareBuild({ root, log, production: process.env.NODE_ENV === "production" });

  const supervisor = new Supervisor({ cwd: root, log });
  let shuttingDown = false;
  const shutdown = async (signal) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal} received, stopping the platform`);
    await supervisor.stopAll();
    log("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));

  const env = { FORMATION_DATA_DIR: dataDir, PORT: String(port), CONSOLE_ORIGIN: consoleUrl };

  if (existsSync(join(root, "contracts/devnet.ts"))) {
    await supervisor.start({
      name: "chain",
      command: tsx,
      args: ["contracts/devnet.ts", "--port", String(chainPort), "--data-dir", dataDir],
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
    command: tsx,
    args: ["server/main.ts"],
    env,
    readyProbe: async () => (await fetch(`${consoleUrl}/healthz`)).ok,
    readyTimeoutMs: 180_000,
  });
  log(`console is up at ${consoleUrl} (${((Date.now() - started) / 1000).toFixed(1)} s after start)`);

  const agentConfig = join(dataDir, "agent", "agent.json");
  if (existsSync(join(root, "node-agent/main.ts"))) {
    const agentEnv = { ...env, NODE_AGENT_PASSWORD: process.env.NODE_AGENT_PASSWORD ?? "formation-devnet" };
    if (!existsSync(agentConfig)) {
      await run({
        cmd: join(root, "node-agent/bin.mjs"),
        args: [
          "init",
          "--yes",
          "--generate-key",
          "--data-dir",
          join(dataDir, "agent"),
          "--console-url",
          consoleUrl,
        ],
        env: agentEnv,
        cwd: root,
        log,
      });
    }
    await supervisor.start({
      name: "agent",
      command: join(root, "node-agent/bin.mjs"),
      args: ["run", "--config", agentConfig],
      env: agentEnv,
      readyLine: (line) => line.includes('"msg":"connected'),
      readyTimeoutMs: 180_000,
    });
  }
  log(`platform ready in ${((Date.now() - started) / 1000).toFixed(1)} s — open ${consoleUrl}`);
}

main().catch((err) => {
  process.stderr.write(`[start] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
