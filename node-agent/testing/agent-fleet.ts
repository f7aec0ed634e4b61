import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { TCapacity } from "../config/schema";
import { readStatusFile } from "../config/status-file";
import { cleanStaleBuildWork } from "../image/stale-work";
import { writeTestAgentConfig } from "./agent-config";
import { cleanAgentHost } from "./host-cleanup";
import { startAgentProcess, type TAgentProcess } from "./start-agent-process";

/**
 * Several real node agents on one host, for end-to-end tests and benches: each gets its own data
 * dir (hence its own bridge name), operator key, formnet UDP port and capacity. They share the
 * builder cache (/var/cache/formation), as agents on one host would.
 */
export type TFleetAgent = {
  name: string;
  address: string;
  dataDir: string;
  configPath: string;
  password: string;
  /** The running process, undefined while stopped or killed. */
  process: TAgentProcess | undefined;
  /** Every process this agent ran (restarts included), for log assertions and cleanup. */
  history: TAgentProcess[];
};

export async function createFleetAgent(opts: {
  name: string;
  consoleUrl: string;
  capacity: TCapacity;
  formnetPort: number;
  maxConcurrent?: number;
}): Promise<TFleetAgent> {
  const privateKey: Hex = generatePrivateKey();
  const password = `fleet-${opts.name}-password`;
  const dataDir = await mkdtemp(join(tmpdir(), `fleet-${opts.name}-`));
  const { configPath } = await writeTestAgentConfig({
    dataDir,
    consoleUrl: opts.consoleUrl,
    privateKey,
    password,
    formnetPort: opts.formnetPort,
    overrides: {
      node: { region: "test", capacity: opts.capacity },
      jobs: { maxConcurrent: opts.maxConcurrent ?? 1, shutdownGraceMs: 5_000, sshReadyTimeoutMs: 300_000 },
    },
  });
  return {
    name: opts.name,
    address: privateKeyToAccount(privateKey).address,
    dataDir,
    configPath,
    password,
    process: undefined,
    history: [],
  };
}

/**
 * Starts (or restarts) the agent and waits for "connected to console". Ephemeral: a graceful stop
 * deletes its VMs, bridge and formnet interface, so a test leaves the host as it found it.
 */
export async function startFleetAgent(agent: TFleetAgent): Promise<TAgentProcess> {
  const proc = await startAgentProcess({
    configPath: agent.configPath,
    password: agent.password,
    env: { LOG_LEVEL: "info", FORMATION_AGENT_EPHEMERAL: "1" },
    timeoutMs: 90_000,
  });
  agent.process = proc;
  agent.history.push(proc);
  return proc;
}

/** SIGKILL, as a crashed host would die: no graceful stop, VMs and children are left as they are. */
export async function killFleetAgent(agent: TFleetAgent): Promise<void> {
  const proc = agent.process;
  if (!proc) return;
  agent.process = undefined;
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.child.once("exit", () => resolve()));
  proc.child.kill("SIGKILL");
  await exited;
}

/** The node id the agent wrote into its status file once welcomed. */
export async function fleetNodeId(agent: TFleetAgent): Promise<string | null> {
  return (await readStatusFile(join(agent.dataDir, "status.json")))?.nodeId ?? null;
}

/** Polls the status file until the agent has a node id; throws at the deadline. */
export async function waitForNodeId(agent: TFleetAgent, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const id = await fleetNodeId(agent);
    if (id) return id;
    if (Date.now() > deadline) throw new Error(`agent ${agent.name} wrote no node id within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** SHA-256 of the image file the agent stores for `digest` (what its VMs boot from). */
export function hashAgentImage(agent: TFleetAgent, digest: string): Promise<string> {
  const hex = digest.replace(/^sha256:/, "");
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(join(agent.dataDir, "images", `sha256-${hex}.img`))
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(`sha256:${hash.digest("hex")}`));
  });
}

/**
 * Leaves the host clean whatever happened: graceful stop (ephemeral teardown) of running agents,
 * then deletes any VM, bridge and formnet interface a killed or wedged agent left behind.
 */
export async function teardownFleet(agents: TFleetAgent[]): Promise<void> {
  await Promise.all(agents.map((a) => a.process?.stop(30_000)));
  // FLEET_LOG_DIR keeps every agent's JSON log lines for post-mortems (CI artefacts, local runs).
  const logDir = process.env.FLEET_LOG_DIR;
  if (logDir) {
    await mkdir(logDir, { recursive: true });
    for (const agent of agents) {
      const text = agent.history.flatMap((p) => p.lines.map((l) => JSON.stringify(l))).join("\n");
      await writeFile(join(logDir, `agent-${agent.name}.log`), `${text}\n`);
    }
  }
  for (const agent of agents) {
    agent.process = undefined;
    const ifaces: string[] = [];
    for (const proc of agent.history) {
      for (const line of proc.lines) {
        if (line.msg === "formnet interface up" && typeof line.iface === "string") ifaces.push(line.iface);
      }
    }
    await cleanAgentHost({ dataDir: agent.dataDir, interfaces: ifaces });
    await rm(agent.dataDir, { recursive: true, force: true });
  }
}

/**
 * An agent killed mid-build leaves its build disk mounted (and its loop device attached) under
 * `<cacheDir>/work/` (the builder's own cleanup never ran): the agent's start-up cleanup removes
 * work whose builder is gone (`cleanStaleBuildWork`), run here too in case the agent never came
 * back. Also removes the cached image of `imageDigest` (tests build a fresh context each run, so
 * the entry would only pile up).
 */
export async function cleanBuilderCache(opts: {
  cacheDir: string;
  imageDigest?: string | undefined;
}): Promise<void> {
  await cleanStaleBuildWork({ cacheDir: opts.cacheDir });
  if (!opts.imageDigest) return;
  const imagesDir = join(opts.cacheDir, "images");
  for (const key of await readdir(imagesDir).catch(() => [])) {
    const meta = await readFile(join(imagesDir, key, "meta.json"), "utf8").catch(() => "");
    if (meta.includes(opts.imageDigest)) await rm(join(imagesDir, key), { recursive: true, force: true });
  }
}
