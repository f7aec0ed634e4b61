// The multinode local network of `FORMATION_NODES=N npm start` (or `npm start -- --nodes N`): N
// node hosts, each a network namespace behind a NAT router of its own, running a node agent that
// registers and stakes with its own devnet key and reaches the console only by dialling out. A host
// whose processes all die has crashed: it stays down for a while, then boots again like a machine.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { DEVNET_MAX_NODES, DEVNET_NODE_ACCOUNT_OFFSET, devnetPrivateKey } from "../../contracts/devnet";
import { inSimulatedHost } from "../../core/netns/host-mounts";
import type { TMultinodeLayoutOptions, TNatMode } from "../../core/netns/multinode-layout";
import { MultinodeNetwork } from "../../core/netns/multinode-network";

export type TMultinodeSettings = Required<Omit<TMultinodeLayoutOptions, "forwardUdpPorts">> & {
  /** How long a crashed host stays down before it boots again. */
  rebootDelayMs: number;
  /** vCPUs and memory each simulated host offers. */
  vcpu: number;
  memoryMb: number;
};

/** The formnet port of every node host (each host has its own network stack, so all use 51820). */
export const NODE_FORMNET_PORT = 51820;

/**
 * Multinode settings from `--nodes N` or FORMATION_NODES, or null for the single-node platform
 * (the agent on this machine itself, as before).
 */
export function multinodeSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): TMultinodeSettings | null {
  const flag = argv.indexOf("--nodes");
  const raw = flag >= 0 ? argv[flag + 1] : env.FORMATION_NODES;
  if (raw === undefined || raw === "") return null;
  const nodes = Number(raw);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > DEVNET_MAX_NODES)
    throw new Error(
      `--nodes / FORMATION_NODES must be a whole number from 1 to ${DEVNET_MAX_NODES} (got "${raw}")`,
    );
  const number = (name: string, fallback: number): number => {
    const value = env[name] === undefined || env[name] === "" ? fallback : Number(env[name]);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
    return value;
  };
  return {
    nodes,
    nat: parseNat(env.FORMATION_NAT ?? "", nodes),
    prefix: env.FORMATION_NETNS_PREFIX || "formation",
    underlayCidr: env.FORMATION_UNDERLAY_CIDR || "198.18.0.0/24",
    lanCidr: env.FORMATION_LAN_CIDR || "172.30.0.0/16",
    rebootDelayMs: number("FORMATION_HOST_REBOOT_DELAY_MS", 60_000),
    vcpu: number("FORMATION_NODE_VCPU", 2),
    // Each host offers an equal share of 80 % of this machine's memory (at least 2 GiB).
    memoryMb: number(
      "FORMATION_NODE_MEMORY_MB",
      Math.max(2048, Math.floor(((totalmem() / 1024 / 1024) * 0.8) / nodes)),
    ),
  };
}

/**
 * FORMATION_NAT: comma-separated `<host>=<mode>`, host a node number or `laptop`, mode `forward`
 * (the formnet port forwarded: a node's default), `plain` (nothing forwarded: the laptop's default)
 * or `strict` (symmetric NAT, unsolicited inbound UDP dropped).
 */
export function parseNat(raw: string, nodes: number): Record<number, TNatMode> {
  const out: Record<number, TNatMode> = {};
  for (const item of raw
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const [host, mode] = item.split("=");
    const n = host === "laptop" ? 0 : Number(host);
    if (
      !Number.isInteger(n) ||
      n < 0 ||
      n > nodes ||
      (mode !== "forward" && mode !== "plain" && mode !== "strict")
    )
      throw new Error(`FORMATION_NAT: "${item}" is not <node 1..${nodes}|laptop>=<forward|plain|strict>`);
    out[n] = mode;
  }
  return out;
}

/** Builds the network (removing what an earlier run left) before anything listens on it. */
export function startNetwork(settings: TMultinodeSettings): Promise<MultinodeNetwork> {
  return MultinodeNetwork.up({ ...settings, forwardUdpPorts: [NODE_FORMNET_PORT] });
}

/** What the console needs on a multinode network: its underlay address and formnet membership. */
export function consoleEnvFor(network: MultinodeNetwork): Record<string, string> {
  return { FORMATION_ALSO_LISTEN: network.layout.consoleHostIp, FORMATION_CONSOLE_FORMNET: "1" };
}

type TServiceSpec = {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  readyLine?: (line: string) => boolean;
  readyTimeoutMs?: number;
  /** Unexpected exit: resolve "relaunch" to start again at once, "backoff" for the usual delay. */
  onUnexpectedExit?: () => Promise<"relaunch" | "backoff">;
};
type TSupervisor = { start(spec: TServiceSpec): Promise<void> };

export type TNodeHostsOptions = {
  network: MultinodeNetwork;
  settings: TMultinodeSettings;
  supervisor: TSupervisor;
  root: string;
  dataDir: string;
  /** Environment of every agent (password, image GC settings …). */
  env: Record<string, string>;
  consolePort: number;
  chain?: { rpcPort: number; chainId: string; orchestratorAddress: string };
  log: (msg: string) => void;
};

/** Initialises (first start only) and starts every node host's agent; resolves when all connected. */
export async function startNodeHosts(o: TNodeHostsOptions): Promise<void> {
  const { layout } = o.network;
  const consoleUrl = `http://${layout.consoleHostIp}:${o.consolePort}`;
  await Promise.all(
    layout.hosts.map(async (host) => {
      const dir = join(o.dataDir, "nodes", String(host.n), "agent");
      const config = join(dir, "agent.json");
      if (!existsSync(config)) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        await initAgent({ ...o, netns: host.nodeNetns, n: host.n, dir, consoleUrl });
      }
      const [command, args] = inSimulatedHost(host.nodeNetns, [
        process.execPath,
        "--import",
        join(o.root, "scripts/lib/exit-with-parent.mjs"),
        join(o.root, "node-agent/bin.mjs"),
        "run",
        "--config",
        config,
      ]);
      await o.supervisor.start({
        name: `node-${host.n}`,
        command,
        args,
        // A stopped platform is powered-off hosts: the agent deletes its VMs and formnet on stop.
        env: { ...o.env, FORMATION_AGENT_EPHEMERAL: "1" },
        readyLine: (line) => line.includes('"msg":"connected'),
        readyTimeoutMs: 300_000,
        onUnexpectedExit: () => hostDown(o, host.n),
      });
    }),
  );
}

/**
 * The agent of host n exited unexpectedly. If nothing else runs in its namespace, the host itself
 * went down (every process killed): it stays down for the reboot delay, then comes back with a
 * fresh kernel state and the same disk. Otherwise only the agent died: the usual restart applies
 * and the new agent adopts the VMs still running.
 */
async function hostDown(o: TNodeHostsOptions, n: number): Promise<"relaunch" | "backoff"> {
  if ((await o.network.hostPids(n)).length > 0) return "backoff";
  const seconds = Math.round(o.settings.rebootDelayMs / 1000);
  o.log(
    `node host ${n} crashed (no process left in ${o.network.host(n).nodeNetns}); it boots again in ${seconds} s`,
  );
  await new Promise((resolve) => setTimeout(resolve, o.settings.rebootDelayMs));
  // A reboot starts over from scratch, so one that failed half-way (the kernel still tearing the
  // old namespace down) is tried again rather than leaving a host without its network.
  for (let attempt = 1; ; attempt++) {
    try {
      await o.network.rebootHost(n);
      break;
    } catch (error) {
      if (attempt === 3) throw error;
      o.log(
        `node host ${n} reboot failed (${error instanceof Error ? error.message : String(error)}); trying again`,
      );
      await new Promise((resolve) => setTimeout(resolve, 2000 * attempt));
    }
  }
  o.log(`node host ${n} rebooted; starting its agent`);
  return "relaunch";
}

/**
 * Agent settings a platform passes from its environment to `node-agent init`: tests keep the
 * machine's shared image cache (keep-recent), benches give agents a cache of their own and a
 * short GC window (the soak).
 */
const AGENT_INIT_ENV_FLAGS = [
  ["FORMATION_AGENT_IMAGES_KEEP_RECENT", "--images-keep-recent"],
  ["FORMATION_AGENT_IMAGES_MIN_AGE_MINUTES", "--images-min-age-minutes"],
  ["FORMATION_AGENT_CACHE_DIR", "--cache-dir"],
  ["FORMATION_AGENT_VM_SNAPSHOTS", "--vm-snapshots"],
] as const;

/** The `node-agent init` flags of the AGENT_INIT_ENV_FLAGS set in `env`. */
export function agentInitFlags(env: Readonly<Record<string, string | undefined>>): string[] {
  return AGENT_INIT_ENV_FLAGS.flatMap(([name, flag]) => {
    const value = env[name];
    return value ? [flag, value] : [];
  });
}

async function initAgent(
  o: TNodeHostsOptions & { netns: string; n: number; dir: string; consoleUrl: string },
): Promise<void> {
  const argv = [
    process.execPath,
    join(o.root, "node-agent/bin.mjs"),
    "init",
    "--yes",
    "--data-dir",
    o.dir,
    "--console-url",
    o.consoleUrl,
    "--formnet-port",
    String(NODE_FORMNET_PORT),
    "--region",
    `local-${o.n}`,
    "--vcpu",
    String(o.settings.vcpu),
    "--memory-mb",
    String(o.settings.memoryMb),
  ];
  argv.push(...agentInitFlags({ ...process.env, ...o.env }));
  if (o.chain) {
    const rpcUrl = `http://${o.network.layout.consoleHostIp}:${o.chain.rpcPort}`;
    argv.push("--private-key", devnetPrivateKey(DEVNET_NODE_ACCOUNT_OFFSET + o.n), "--chain-rpc-url", rpcUrl);
    argv.push("--chain-id", o.chain.chainId, "--contract-address", o.chain.orchestratorAddress);
  } else {
    argv.push("--generate-key");
  }
  const [command, args] = inSimulatedHost(o.netns, argv);
  o.log(`initialising node host ${o.n} (${o.netns})`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: o.root,
      env: { ...process.env, ...o.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    for (const stream of [child.stdout, child.stderr])
      stream.on("data", (chunk: Buffer) => (output += chunk));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(`node-agent init of node host ${o.n} failed (exit ${code}):\n${output.slice(-4000)}`),
        );
    });
  });
}
