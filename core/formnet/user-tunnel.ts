import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { writeFileAtomic } from "@/core/fs/atomic-write";
import { parseCidr } from "@/lib/formnet/cidr";
import { type TUserTunnelConfig, ZUserTunnelConfig } from "@/lib/formnet/schemas";
import { createLogger, type Logger } from "../log";
import { run, waitFor } from "./command";
import { ensureKeyFile } from "./keys";
import { PeerSync } from "./peer-sync";
import { WireguardInterface } from "./wireguard-interface";

/**
 * A developer laptop's side of formnet, independent of the CLI framework: the CLI (`form manage
 * join|formnet-up|leave`) calls these with its state directory. The private key is created in that
 * directory and never leaves the laptop; the console only ever sees the public key.
 */

export const ZUserTunnelState = z.object({
  interfaceName: z.string(),
  address: z.string(),
  publicKey: z.string(),
  /** Process that owns the interface (the background daemon or the caller). */
  pid: z.number().int(),
  netns: z.string().optional(),
  startedAt: z.string(),
});
export type TUserTunnelState = z.infer<typeof ZUserTunnelState>;

/** Files of a laptop's formnet state directory. */
export function userTunnelPaths(stateDir: string) {
  return {
    key: join(stateDir, "formnet.key"),
    config: join(stateDir, "formnet-config.json"),
    state: join(stateDir, "formnet-state.json"),
    log: join(stateDir, "formnet.log"),
  };
}

/** Create the laptop's key (0600) if needed and return its public key, to send with `join`. */
export async function prepareUserKey(stateDir: string): Promise<{ publicKey: string }> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const { publicKey } = await ensureKeyFile(userTunnelPaths(stateDir).key);
  return { publicKey };
}

/** Store the config the console returned (address, interface, peers); the daemon re-reads it. */
export async function writeUserTunnelConfig(stateDir: string, config: TUserTunnelConfig): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = userTunnelPaths(stateDir).config;
  // Atomic, so the daemon never reads a half-written file.
  await writeFileAtomic(path, JSON.stringify(ZUserTunnelConfig.parse(config), null, 2), { mode: 0o600 });
}

export async function readUserTunnelConfig(stateDir: string): Promise<TUserTunnelConfig> {
  return ZUserTunnelConfig.parse(JSON.parse(await readFile(userTunnelPaths(stateDir).config, "utf8")));
}

export async function readUserTunnelState(stateDir: string): Promise<TUserTunnelState | undefined> {
  try {
    return ZUserTunnelState.parse(JSON.parse(await readFile(userTunnelPaths(stateDir).state, "utf8")));
  } catch {
    return undefined;
  }
}

export type TRunUserTunnelOptions = {
  stateDir: string;
  /** Peers source; defaults to re-reading the config file (which the CLI rewrites). */
  fetchPeers?: () => Promise<TUserTunnelConfig["peers"]>;
  intervalMs?: number;
  netns?: string;
  /** See `TWireguardUpOptions.routingTable`: for a laptop sharing its host with a node or console. */
  routingTable?: number;
  logger?: Logger;
};

export type TUserTunnel = { iface: WireguardInterface; sync: PeerSync; stop: () => Promise<void> };

/** Bring the laptop's interface up from the stored config and keep its peers fresh until `stop()`. */
export async function runUserTunnel(options: TRunUserTunnelOptions): Promise<TUserTunnel> {
  const { stateDir, netns } = options;
  const paths = userTunnelPaths(stateDir);
  const logger = options.logger ?? createLogger("formnet-user");
  const config = await readUserTunnelConfig(stateDir);
  const { prefix } = parseCidr(config.cidr);
  const iface = await WireguardInterface.up({
    name: config.interfaceName,
    address: `${config.address}/${prefix}`,
    listenPort: config.listenPort,
    privateKeyPath: paths.key,
    netns,
    logPath: paths.log,
    routingTable: options.routingTable,
    logger,
  });
  const fetchPeers = options.fetchPeers ?? (async () => (await readUserTunnelConfig(stateDir)).peers);
  const sync = new PeerSync({ iface, fetchPeers, intervalMs: options.intervalMs, logger });
  try {
    await sync.refreshNow();
  } catch (error) {
    await iface.down().catch(() => undefined);
    throw error;
  }
  sync.start();
  const state: TUserTunnelState = {
    interfaceName: iface.name,
    address: config.address,
    publicKey: iface.publicKey,
    pid: process.pid,
    ...(netns === undefined ? {} : { netns }),
    startedAt: new Date().toISOString(),
  };
  await writeFile(paths.state, JSON.stringify(state, null, 2), { mode: 0o600 });
  const stop = async (): Promise<void> => {
    await sync.stop();
    await iface.down();
    await rm(paths.state, { force: true });
  };
  return { iface, sync, stop };
}

const DAEMON_ENTRY = fileURLToPath(new URL("./user-tunnel-daemon.mjs", import.meta.url));

/**
 * Start the tunnel as a background process (`formnet-up`): it owns the interface, logs to
 * `formnet.log` in the state directory, re-reads the config every interval and on SIGHUP, and tears
 * the interface down on SIGTERM. Resolves once the interface is up.
 */
export async function spawnUserTunnelDaemon(options: {
  stateDir: string;
  netns?: string;
  intervalMs?: number;
  timeoutMs?: number;
}): Promise<TUserTunnelState> {
  const paths = userTunnelPaths(options.stateDir);
  await rm(paths.state, { force: true });
  const fd = openSync(paths.log, "a", 0o600);
  const args = [DAEMON_ENTRY, "--state-dir", resolve(options.stateDir)];
  if (options.netns !== undefined) args.push("--netns", options.netns);
  if (options.intervalMs !== undefined) args.push("--interval-ms", String(options.intervalMs));
  // cwd "/" so the daemon neither pins the caller's directory nor depends on it.
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", fd, fd], cwd: "/" });
  closeSync(fd);
  child.unref();
  return waitFor(
    `the formnet tunnel daemon to come up (see ${paths.log})`,
    async () => {
      if (child.exitCode !== null) throw new Error(`formnet tunnel daemon exited with ${child.exitCode}`);
      const state = await readUserTunnelState(options.stateDir);
      return state?.pid === child.pid ? state : undefined;
    },
    { timeoutMs: options.timeoutMs ?? 30_000, intervalMs: 100 },
  );
}

/** Tear the laptop's tunnel down (`leave` / stop): signal the daemon, or remove a leftover interface. */
export async function stopUserTunnel(options: { stateDir: string; timeoutMs?: number }): Promise<void> {
  const paths = userTunnelPaths(options.stateDir);
  const state = await readUserTunnelState(options.stateDir);
  if (state === undefined) return;
  const alive = (): boolean => {
    try {
      process.kill(state.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (state.pid !== process.pid && alive()) {
    process.kill(state.pid, "SIGTERM");
    await waitFor("the formnet tunnel daemon to exit", () => (alive() ? undefined : true), {
      timeoutMs: options.timeoutMs ?? 10_000,
    });
  }
  // The daemon removes its interface; after a crash it may still exist, so remove it here too.
  await run("ip", ["link", "del", state.interfaceName], { netns: state.netns }).catch(() => undefined);
  await rm(paths.state, { force: true });
}
