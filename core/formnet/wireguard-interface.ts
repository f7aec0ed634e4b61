import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { intToIp, ipToInt, parseCidr, prefixMask } from "@/lib/formnet/cidr";
import { type TWireguardPeer, ZWireguardPeer } from "@/lib/formnet/schemas";
import { coreEnv, inheritedEnv } from "../env";
import { createLogger, type Logger } from "../log";
import { commandLine, FormnetCommandError, inNetns, run, succeeds, waitFor } from "./command";
import { ensureKeyFile } from "./keys";
import { parseWgDump, type TWgDump } from "./wg-dump";

/** Where wireguard-go puts its control sockets; shared by all network namespaces of a host. */
export const WIREGUARD_SOCKET_DIR = "/var/run/wireguard";

export type TWireguardImplementation = "kernel" | "userspace";

export type TWireguardUpOptions = {
  /** Interface name, ≤ 15 chars and unique on the whole host (see `formnetInterfaceName`). */
  name: string;
  /** Own formnet address with the root prefix, e.g. `10.42.0.5/16`: the prefix routes formnet here. */
  address: string;
  /** UDP port; 0 lets the kernel choose (laptops). */
  listenPort: number;
  /** Private key file; generated (0600) if missing. */
  privateKeyPath: string;
  netns?: string;
  /** `auto` (default) uses the kernel module when it loads, else `wireguard-go`. */
  implementation?: TWireguardImplementation | "auto";
  /** wireguard-go's own output goes here (appended); discarded when absent. */
  logPath?: string;
  mtu?: number;
  /**
   * Source-based routing for hosts with several formnet members in one namespace (console + agent
   * in a devnet): the root prefix is routed through this interface in table `routingTable`, used for
   * packets whose source is this member's address, instead of a second main-table route. Without it,
   * packets of one member could leave through the other member's interface and be dropped by the
   * receiver's cryptokey routing (source not in that peer's allowed-ips).
   */
  routingTable?: number;
  logger?: Logger;
};

type TApplied = { endpoint?: string; allowedIps: string; keepalive: number };

export type TSetPeersResult = { added: number; updated: number; removed: number };

const socketPath = (name: string): string => `${WIREGUARD_SOCKET_DIR}/${name}.sock`;

/**
 * One WireGuard interface of formnet, driven with `ip` and `wg set` (never wg-quick, so the peer
 * list can be diff-applied without dropping live sessions).
 */
export class WireguardInterface {
  private readonly applied = new Map<string, TApplied>();

  private constructor(
    readonly name: string,
    readonly address: string,
    readonly publicKey: string,
    readonly listenPort: number,
    readonly implementation: TWireguardImplementation,
    readonly netns: string | undefined,
    private readonly routingTable: number | undefined,
    private readonly logger: Logger,
    private child: ChildProcess | undefined,
  ) {}

  /** Create (or adopt, if it already runs) the interface, set key and port, address it and bring it up. */
  static async up(options: TWireguardUpOptions): Promise<WireguardInterface> {
    const { name, netns } = options;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name))
      throw new Error(`Invalid interface name "${name}" (≤ 15 chars)`);
    const logger = (options.logger ?? createLogger("formnet")).child({ iface: name, netns });
    const { publicKey, privateKeyPath } = await ensureKeyFile(options.privateKeyPath);
    let implementation: TWireguardImplementation;
    let child: ChildProcess | undefined;
    const existing = await succeeds("wg", ["show", name, "public-key"], { netns });
    if (existing) {
      implementation = existsSync(socketPath(name)) ? "userspace" : "kernel";
      logger.info({ implementation }, "adopting running WireGuard interface");
    } else {
      if (await succeeds("ip", ["link", "show", name], { netns })) {
        throw new Error(
          `Interface ${name} exists but is not a WireGuard interface; choose another name or remove it (ip link del ${name})`,
        );
      }
      const wanted = options.implementation ?? "auto";
      if (
        wanted !== "userspace" &&
        (await succeeds("ip", ["link", "add", name, "type", "wireguard"], { netns }))
      ) {
        implementation = "kernel";
      } else if (wanted === "kernel") {
        throw new Error(`The wireguard kernel module is not available; cannot create ${name}`);
      } else {
        implementation = "userspace";
        child = await startWireguardGo({ name, netns, logPath: options.logPath });
      }
    }
    const iface = new WireguardInterface(
      name,
      options.address,
      publicKey,
      options.listenPort,
      implementation,
      netns,
      options.routingTable,
      logger,
      child,
    );
    try {
      await run(
        "wg",
        ["set", name, "private-key", privateKeyPath, "listen-port", String(options.listenPort)],
        {
          netns,
        },
      );
      if (options.routingTable === undefined) {
        await run("ip", ["address", "replace", options.address, "dev", name], { netns });
      } else {
        await run("ip", ["address", "replace", options.address, "dev", name, "noprefixroute"], { netns });
      }
      await run("ip", ["link", "set", name, "mtu", String(options.mtu ?? 1420), "up"], { netns });
      if (options.routingTable !== undefined) await iface.addSourceRoute(options.routingTable);
    } catch (error) {
      await iface.down().catch(() => undefined);
      throw error;
    }
    logger.info(
      { implementation, address: options.address, listenPort: options.listenPort },
      "formnet interface up",
    );
    return iface;
  }

  /** Current state from `wg show dump` (handshakes, transfer counters, endpoints). */
  async dump(): Promise<TWgDump> {
    return parseWgDump(await run("wg", ["show", this.name, "dump"], { netns: this.netns }));
  }

  /**
   * Points one peer at `endpoint` now (the path selector: a relay shim or a direct address). The
   * planned endpoint `setPeers` remembers is unchanged, so the next sync does not undo it.
   */
  async setEndpoint(publicKey: string, endpoint: string): Promise<void> {
    await run("wg", ["set", this.name, "peer", publicKey, "endpoint", endpoint], { netns: this.netns });
  }

  /**
   * Make the interface's peer list equal `peers` with a single `wg set`: stale peers are removed,
   * new or changed ones set, unchanged ones untouched (their sessions survive). An endpoint is only
   * re-set when the desired value changes, so WireGuard's roaming to a peer's real address sticks.
   */
  async setPeers(peers: readonly TWireguardPeer[]): Promise<TSetPeersResult> {
    const desired = new Map(peers.map((peer) => [peer.publicKey, ZWireguardPeer.parse(peer)]));
    const current = new Map((await this.dump()).peers.map((peer) => [peer.publicKey, peer]));
    const args = ["set", this.name];
    const result: TSetPeersResult = { added: 0, updated: 0, removed: 0 };
    for (const key of current.keys()) {
      if (desired.has(key)) continue;
      args.push("peer", key, "remove");
      this.applied.delete(key);
      result.removed++;
    }
    for (const [key, peer] of desired) {
      const allowedIps = [...peer.allowedIps].sort().join(",");
      const keepalive = peer.persistentKeepalive ?? 0;
      const live = current.get(key);
      const last = this.applied.get(key);
      const endpointChanged =
        peer.endpoint !== undefined && (live?.endpoint === undefined || peer.endpoint !== last?.endpoint);
      const unchanged =
        live !== undefined &&
        [...live.allowedIps].sort().join(",") === allowedIps &&
        (live.persistentKeepalive ?? 0) === keepalive &&
        !endpointChanged;
      this.applied.set(key, { endpoint: peer.endpoint, allowedIps, keepalive });
      if (unchanged) continue;
      args.push("peer", key);
      if (endpointChanged && peer.endpoint !== undefined) args.push("endpoint", peer.endpoint);
      args.push(
        "persistent-keepalive",
        keepalive === 0 ? "off" : String(keepalive),
        "allowed-ips",
        allowedIps,
      );
      if (live === undefined) result.added++;
      else result.updated++;
    }
    if (args.length > 2) await run("wg", args, { netns: this.netns });
    if (result.added + result.updated + result.removed > 0) this.logger.info(result, "formnet peers applied");
    return result;
  }

  private sourceRule(table: number): string[] {
    return ["from", this.address.split("/")[0] ?? "", "lookup", String(table)];
  }

  private async addSourceRoute(table: number): Promise<void> {
    const [ip, prefix] = this.address.split("/");
    const { network } = parseCidr(`${intToIp(ipToInt(ip ?? "") & prefixMask(Number(prefix)))}/${prefix}`);
    await run(
      "ip",
      ["route", "replace", `${intToIp(network)}/${prefix}`, "dev", this.name, "table", String(table)],
      {
        netns: this.netns,
      },
    );
    const rules = await run("ip", ["rule", "show", ...this.sourceRule(table)], { netns: this.netns });
    if (rules.trim() === "")
      await run("ip", ["rule", "add", ...this.sourceRule(table)], { netns: this.netns });
  }

  /** Remove the interface; for wireguard-go also wait until its process has exited. */
  async down(): Promise<void> {
    if (this.routingTable !== undefined) {
      const rule = this.sourceRule(this.routingTable);
      while (
        (await run("ip", ["rule", "show", ...rule], { netns: this.netns }).catch(() => "")).trim() !== ""
      ) {
        await run("ip", ["rule", "del", ...rule], { netns: this.netns });
      }
    }
    try {
      await run("ip", ["link", "del", this.name], { netns: this.netns });
    } catch (error) {
      // Already gone is fine: down() must be safe to call twice and after a crash.
      if (
        !(error instanceof FormnetCommandError) ||
        (await succeeds("ip", ["link", "show", this.name], { netns: this.netns }))
      ) {
        throw error;
      }
    }
    if (this.implementation === "userspace") {
      const child = this.child;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        await Promise.race([
          exited,
          waitFor("wireguard-go exit", () => undefined, { timeoutMs: 3000 }).catch(() => undefined),
        ]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      await waitFor(
        `${socketPath(this.name)} to disappear`,
        () => (existsSync(socketPath(this.name)) ? undefined : true),
        {
          timeoutMs: 5000,
        },
      );
      this.child = undefined;
    }
    this.applied.clear();
    this.logger.info("formnet interface down");
  }
}

async function startWireguardGo(options: {
  name: string;
  netns?: string;
  logPath?: string;
}): Promise<ChildProcess> {
  const [file, argv] = inNetns(options.netns, "wireguard-go", ["-f", options.name]);
  // Always a file, never a pipe: wireguard-go must survive its parent (a pipe would break and kill
  // it with SIGPIPE on its next log line), and the file keeps its startup errors for the message.
  const logPath = options.logPath ?? join(tmpdir(), `wireguard-go-${options.name}.log`);
  const fd = openSync(logPath, "a", 0o600);
  const startedAt = statSync(logPath).size;
  const child = spawn(file, argv, {
    // Own process group so the interface outlives a crash of its parent; adopted on the next up().
    detached: true,
    stdio: ["ignore", fd, fd],
    env: inheritedEnv({ LOG_LEVEL: coreEnv().WG_LOG_LEVEL ?? "error" }),
  });
  closeSync(fd);
  child.unref();
  const outcome = await waitFor(
    `wireguard-go to open ${socketPath(options.name)}`,
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) return "exited";
      const ready = await succeeds("wg", ["show", options.name, "public-key"], { netns: options.netns });
      return ready ? "ready" : undefined;
    },
    { timeoutMs: 10_000 },
  ).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  if (outcome === "exited") {
    const output = readFileSync(logPath, "utf8")
      .slice(startedAt)
      .split("\n")
      // Drop the "kernel has first class support" banner box that wireguard-go prints on Linux.
      .filter((line) => !/[\u2500-\u257f]/.test(line) && line.trim() !== "")
      .join("\n")
      .slice(-4000);
    throw new FormnetCommandError(commandLine(file, argv), child.exitCode, output);
  }
  return child;
}
