import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { inheritedEnv } from "../env";
import { inNetns, run, type TRunOptions, waitFor } from "../formnet/command";

/**
 * Test harness: several "hosts" as Linux network namespaces on one machine, wired with veth pairs to
 * a bridge that plays the LAN. Every name carries a per-run suffix so parallel or crashed runs never
 * collide, and everything is torn down by `destroy()` — also on process exit if a test forgets.
 */

/** Short random suffix for per-run unique names (namespaces, interfaces, chains). */
export function runSuffix(): string {
  return randomBytes(3).toString("hex");
}

export type TSpawnInOptions = {
  /** Append the process's stdout and stderr to this file. */
  logPath?: string;
  env?: NodeJS.ProcessEnv;
};

/** A network namespace that owns the processes started in it. */
export class Netns {
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(readonly name: string) {}

  /** Create the namespace and bring its loopback up. */
  static async create(name: string): Promise<Netns> {
    await run("ip", ["netns", "add", name]);
    liveNamespaces.add(name);
    const ns = new Netns(name);
    try {
      await ns.exec("ip", ["link", "set", "lo", "up"]);
    } catch (error) {
      await ns.destroy();
      throw error;
    }
    return ns;
  }

  /** Run a command inside the namespace to completion. */
  exec(cmd: string, args: readonly string[], options: Omit<TRunOptions, "netns"> = {}): Promise<string> {
    return run(cmd, args, { ...options, netns: this.name });
  }

  /** Start a long-running process inside the namespace; it is killed by `destroy()`. */
  spawn(cmd: string, args: readonly string[], options: TSpawnInOptions = {}): ChildProcess {
    const [file, argv] = inNetns(this.name, cmd, args);
    const fd = options.logPath === undefined ? "ignore" : openSync(options.logPath, "a");
    const child = spawn(file, argv, {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: options.env ?? inheritedEnv(),
    });
    if (typeof fd === "number") closeSync(fd);
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /**
   * Stop this namespace's processes and delete it. Idempotent. SIGTERM first so that wireguard-go
   * removes its control socket in /var/run/wireguard; SIGKILL what is left after a grace period.
   * Deleting a namespace does not kill the processes inside it, hence `ip netns pids`.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const listed = await run("ip", ["netns", "pids", this.name]).catch(() => "");
    const pids = new Set(listed.split(/\s+/).filter(Boolean).map(Number));
    for (const child of this.children) if (child.pid !== undefined) pids.add(child.pid);
    for (const pid of pids) signal(pid, "SIGTERM");
    await waitFor("namespace processes to exit", () => ([...pids].some(alive) ? undefined : true), {
      timeoutMs: 3000,
    }).catch(() => {
      for (const pid of pids) signal(pid, "SIGKILL");
    });
    await run("ip", ["netns", "del", this.name]).catch(() => undefined);
    liveNamespaces.delete(this.name);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const liveNamespaces = new Set<string>();
process.once("exit", () => {
  // Last resort when a test run dies without its afterAll: synchronous, best effort.
  for (const name of liveNamespaces) {
    try {
      execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
    } catch {
      // Nothing more to do at exit.
    }
  }
});

export type TLanHost = { ns: Netns; lanIp: string; lanIface: string };

/**
 * A lab: a "switch" namespace holding a bridge, and hosts attached to it by veth pairs. Hosts get
 * `lanIp` on interface `lan0`. `destroy()` removes every namespace even if setup failed halfway.
 */
export class NetnsLab {
  readonly hosts = new Map<string, TLanHost>();
  private switchNs: Netns | undefined;
  private index = 0;

  private constructor(
    readonly prefix: string,
    readonly subnet: string,
  ) {}

  /** `subnet` is a /24 base such as `192.168.77` for the LAN addresses. */
  static async create(options: { prefix?: string; subnet?: string } = {}): Promise<NetnsLab> {
    const lab = new NetnsLab(options.prefix ?? `fnt${runSuffix()}`, options.subnet ?? "192.168.77");
    try {
      lab.switchNs = await Netns.create(`${lab.prefix}-sw`);
      await lab.switchNs.exec("ip", ["link", "add", "br0", "type", "bridge"]);
      await lab.switchNs.exec("ip", ["link", "set", "br0", "up"]);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  /** Add a host namespace attached to the LAN; returns it with its LAN address. */
  async addHost(label: string): Promise<TLanHost> {
    const sw = this.switchNs;
    if (sw === undefined) throw new Error("lab destroyed");
    this.index++;
    const ns = await Netns.create(`${this.prefix}-${label}`);
    const lanIp = `${this.subnet}.${this.index + 1}`;
    const host = { ns, lanIp, lanIface: "lan0" };
    this.hosts.set(label, host);
    const port = `p${this.index}`;
    await run("ip", [
      "link",
      "add",
      "lan0",
      "netns",
      ns.name,
      "type",
      "veth",
      "peer",
      "name",
      port,
      "netns",
      sw.name,
    ]);
    await sw.exec("ip", ["link", "set", port, "master", "br0", "up"]);
    await ns.exec("ip", ["address", "add", `${lanIp}/24`, "dev", "lan0"]);
    await ns.exec("ip", ["link", "set", "lan0", "up"]);
    return host;
  }

  host(label: string): TLanHost {
    const host = this.hosts.get(label);
    if (host === undefined) throw new Error(`no host ${label} in lab ${this.prefix}`);
    return host;
  }

  /** Tear everything down; safe to call more than once and after partial setup. */
  async destroy(): Promise<void> {
    const all = [...this.hosts.values()].map((h) => h.ns);
    this.hosts.clear();
    await Promise.all(all.map((ns) => ns.destroy()));
    await this.switchNs?.destroy();
    this.switchNs = undefined;
  }
}
