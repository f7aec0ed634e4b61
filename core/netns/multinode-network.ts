import { readdir, rm, stat } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { run, succeeds } from "../formnet/command";
import {
  multinodeLayout,
  type THostLayout,
  type TMultinodeLayout,
  type TMultinodeLayoutOptions,
  type TNatMode,
} from "./multinode-layout";

const WIREGUARD_SOCKETS = "/var/run/wireguard";

/**
 * The multinode local network on this machine (`multinode-layout.ts` has the plan). The root
 * namespace is the console's host; every node host is a namespace behind a NAT router namespace.
 * Everything it creates carries the layout's prefix or tag, so `up()` first removes what a crashed
 * earlier run left, and `down()` removes all of it.
 */
export class MultinodeNetwork {
  private constructor(readonly layout: TMultinodeLayout) {}

  /** Builds (or rebuilds) the whole network. */
  static async up(options: TMultinodeLayoutOptions): Promise<MultinodeNetwork> {
    const network = new MultinodeNetwork(multinodeLayout(options));
    await network.down();
    try {
      await network.#upUnderlay();
      for (const host of network.layout.hosts) {
        await network.#upRouter(host, { nat: host.nat });
        await network.#upNodeHost(host);
      }
      await network.#upRouter(network.layout.laptop, { nat: network.layout.laptop.nat });
      await network.#upNodeHost(network.layout.laptop);
    } catch (error) {
      await network.down().catch(() => undefined);
      throw error;
    }
    return network;
  }

  /** The handle of a network that is already up (a test sharing a running platform's network). */
  static attach(options: TMultinodeLayoutOptions): MultinodeNetwork {
    return new MultinodeNetwork(multinodeLayout(options));
  }

  host(n: number): THostLayout {
    const host = this.layout.hosts[n - 1];
    if (!host) throw new Error(`there is no node host ${n} (1..${this.layout.hosts.length})`);
    return host;
  }

  /** Processes running in node host n's namespace (the agent, wireguard-go, QEMU …). */
  async hostPids(n: number): Promise<number[]> {
    const out = await run("ip", ["netns", "pids", this.host(n).nodeNetns]).catch(() => "");
    return out.split(/\s+/).filter(Boolean).map(Number);
  }

  /** A host crash: every process of node host n dies at once (SIGKILL). */
  async crashHost(n: number): Promise<number> {
    const pids = await this.hostPids(n);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    return pids.length;
  }

  /**
   * Cuts node host n off the network (`cut: true`) or joins it again: its router's WAN link goes
   * down, so the host and everything on it keep running but reach nothing beyond their LAN — the
   * console, the chain, other hosts and laptops — and nothing reaches them.
   */
  async partitionHost(n: number, cut: boolean): Promise<void> {
    await run("ip", ["link", "set", this.host(n).rootVeth, cut ? "down" : "up"]);
  }

  /**
   * Brings node host n back as a rebooted machine: whatever still runs there is killed, its kernel
   * state (interfaces, bridges, taps, routes, iptables) is discarded with its namespace, the
   * host-wide traces of its dead processes (wireguard-go control sockets) are removed, and a fresh
   * namespace is wired to its router again. Its disk (the agent's data directory) is untouched.
   */
  async rebootHost(n: number): Promise<void> {
    const host = this.host(n);
    await this.crashHost(n);
    await deleteNetns(host.nodeNetns);
    // The old namespace goes once its last process is reaped, and its end of the LAN veth (eth0)
    // with it: asynchronously, seconds later on a busy machine. Deleting the router's end now takes
    // the pair, so the new one can be made ("RTNETLINK answers: File exists" otherwise).
    await deleteLink("lan0", host.routerNetns);
    await removeStaleWireguardSockets();
    await this.#upNodeHost(host);
  }

  /** Removes every namespace, interface and rule of this network; idempotent. */
  async down(): Promise<void> {
    const { layout } = this;
    // Every step runs whatever failed before it: a half-removed network must not survive a stop.
    const failures: unknown[] = [];
    const step = async (fn: () => Promise<unknown>) => {
      await fn().catch((error: unknown) => failures.push(error));
    };
    for (const host of [...layout.hosts, layout.laptop]) {
      await step(() => killNetns(host.nodeNetns));
      await step(() => deleteNetns(host.nodeNetns));
      await step(() => deleteNetns(host.routerNetns));
      // The root end of the router's veth goes with the router's namespace (asynchronously).
      await step(() => deleteLink(host.rootVeth));
    }
    await step(() => deleteLink(layout.wanBridge));
    await step(() => dropChain({ table: "filter", hook: "FORWARD", chain: layout.forwardChain }));
    await step(() => dropChain({ table: "nat", hook: "POSTROUTING", chain: layout.natChain }));
    await step(() => removeStaleWireguardSockets());
    if (failures.length > 0)
      throw new AggregateError(failures, "the multinode network was not removed completely");
  }

  async #upUnderlay(): Promise<void> {
    const { layout } = this;
    await run("ip", ["link", "add", layout.wanBridge, "type", "bridge"]);
    await run("ip", [
      "address",
      "add",
      `${layout.consoleHostIp}/${layout.underlayPrefixLength}`,
      "dev",
      layout.wanBridge,
    ]);
    await run("ip", ["link", "set", layout.wanBridge, "up"]);
    // The console's host routes the routers' traffic to the real internet (package mirrors for
    // builds), masqueraded, as an ISP would.
    await run("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
    await ensureChain({ table: "filter", hook: "FORWARD", chain: layout.forwardChain });
    await run("iptables", ["-w", "-A", layout.forwardChain, "-i", layout.wanBridge, "-j", "ACCEPT"]);
    await run("iptables", ["-w", "-A", layout.forwardChain, "-o", layout.wanBridge, "-j", "ACCEPT"]);
    await ensureChain({ table: "nat", hook: "POSTROUTING", chain: layout.natChain });
    await run("iptables", [
      "-w",
      "-t",
      "nat",
      "-A",
      layout.natChain,
      "-s",
      layout.underlayCidr,
      "!",
      "-d",
      layout.underlayCidr,
      "-j",
      "MASQUERADE",
    ]);
  }

  async #upRouter(host: THostLayout, opts: { nat: TNatMode }): Promise<void> {
    const { layout } = this;
    const ns = host.routerNetns;
    await createNetns(ns);
    await run("ip", ["link", "add", host.rootVeth, "type", "veth", "peer", "name", "wan0", "netns", ns]);
    await run("ip", ["link", "set", host.rootVeth, "master", layout.wanBridge, "up"]);
    const inRouter = (args: string[]) => run("ip", args, { netns: ns });
    await inRouter(["address", "add", `${host.routerWanIp}/${layout.underlayPrefixLength}`, "dev", "wan0"]);
    await inRouter(["link", "set", "wan0", "up"]);
    await inRouter(["route", "add", "default", "via", layout.consoleHostIp]);
    await run("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"], { netns: ns });
    await this.#applyNat(host, opts.nat);
  }

  /**
   * Sets the NAT behaviour of host n's router (0: the laptop's) while everything runs: `forward`
   * (a home router with the formnet port forwarded), `plain` (masquerade, nothing forwarded: the
   * source port is kept when free, so peers reach the host after it sent to them), `strict`
   * (symmetric NAT: a random source port per destination, `--random-fully`, and unsolicited
   * inbound UDP dropped; no direct path to a peer behind another strict NAT).
   */
  async setNat(n: number, mode: TNatMode): Promise<void> {
    await this.#applyNat(n === 0 ? this.layout.laptop : this.host(n), mode);
  }

  async #applyNat(host: THostLayout, mode: TNatMode): Promise<void> {
    const ns = host.routerNetns;
    const ipt = (args: string[]) => run("iptables", ["-w", ...args], { netns: ns });
    await ipt(["-t", "nat", "-F", "POSTROUTING"]);
    await ipt(["-t", "nat", "-F", "PREROUTING"]);
    await ipt(["-F", "FORWARD"]);
    await ipt([
      "-t",
      "nat",
      "-A",
      "POSTROUTING",
      "-o",
      "wan0",
      "-j",
      "MASQUERADE",
      ...(mode === "strict" ? ["--random-fully"] : []),
    ]);
    if (mode === "strict") {
      const inbound = ["-A", "FORWARD", "-i", "wan0", "-p", "udp", "-m", "conntrack"];
      await ipt([...inbound, "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]);
      await ipt(["-A", "FORWARD", "-i", "wan0", "-p", "udp", "-j", "DROP"]);
    }
    for (const port of mode === "forward" ? this.layout.forwardUdpPorts : []) {
      await ipt([
        ...["-t", "nat", "-A", "PREROUTING", "-i", "wan0", "-p", "udp", "--dport", String(port)],
        ...["-j", "DNAT", "--to-destination", `${host.nodeLanIp}:${port}`],
      ]);
    }
    // A flow already tracked keeps the NAT decision it got (a strict router would keep forwarding
    // a pair that had been talking, a newly forwarded port would stay unreachable for 30 s): forget
    // them all, as a router reboot would.
    await run("conntrack", ["-F"], { netns: ns });
    host.nat = mode;
  }

  async #upNodeHost(host: THostLayout): Promise<void> {
    const ns = host.nodeNetns;
    await createNetns(ns);
    await run("ip", ["link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", ns], {
      netns: host.routerNetns,
    });
    await run("ip", ["address", "add", `${host.routerLanIp}/24`, "dev", "lan0"], { netns: host.routerNetns });
    await run("ip", ["link", "set", "lan0", "up"], { netns: host.routerNetns });
    await run("ip", ["address", "add", `${host.nodeLanIp}/24`, "dev", "eth0"], { netns: ns });
    await run("ip", ["link", "set", "eth0", "up"], { netns: ns });
    await run("ip", ["route", "add", "default", "via", host.routerLanIp], { netns: ns });
  }
}

async function createNetns(name: string): Promise<void> {
  await run("ip", ["netns", "add", name]);
  await run("ip", ["link", "set", "lo", "up"], { netns: name });
}

async function killNetns(name: string): Promise<void> {
  const out = await run("ip", ["netns", "pids", name]).catch(() => "");
  for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Deletes a link (in `netns`, or the root namespace) if it (still) exists; one that vanished meanwhile is fine. */
async function deleteLink(name: string, netns?: string): Promise<void> {
  const options = netns === undefined ? {} : { netns };
  if (!(await succeeds("ip", ["link", "show", name], options))) return;
  await run("ip", ["link", "del", name], options).catch(async (error: unknown) => {
    if (await succeeds("ip", ["link", "show", name], options)) throw error;
  });
}

async function deleteNetns(name: string): Promise<void> {
  if (await succeeds("ip", ["netns", "pids", name])) await run("ip", ["netns", "del", name]);
}

async function ensureChain(opts: { table: string; hook: string; chain: string }): Promise<void> {
  const t = ["-w", "-t", opts.table];
  await run("iptables", [...t, "-N", opts.chain]);
  await run("iptables", [...t, "-I", opts.hook, "1", "-j", opts.chain]);
}

async function dropChain(opts: { table: string; hook: string; chain: string }): Promise<void> {
  const t = ["-w", "-t", opts.table];
  while (await succeeds("iptables", [...t, "-C", opts.hook, "-j", opts.chain])) {
    await run("iptables", [...t, "-D", opts.hook, "-j", opts.chain]);
  }
  if (await succeeds("iptables", [...t, "-L", opts.chain, "-n"])) {
    await run("iptables", [...t, "-F", opts.chain]);
    await run("iptables", [...t, "-X", opts.chain]);
  }
}

/**
 * wireguard-go's control sockets live host-wide in /var/run/wireguard; a killed wireguard-go leaves
 * its socket behind. A socket nobody listens on is stale and removed (a rebooted host's would be) —
 * unless it is only seconds old: a wireguard-go starting elsewhere on this machine has bound it
 * but may not listen yet.
 */
export async function removeStaleWireguardSockets(minAgeMs = 30_000): Promise<string[]> {
  const names = await readdir(WIREGUARD_SOCKETS).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.filter((n) => n.endsWith(".sock"))) {
    const path = join(WIREGUARD_SOCKETS, name);
    const born = await stat(path).then(
      (s) => s.mtimeMs,
      () => Date.now(),
    );
    if (Date.now() - born < minAgeMs) continue;
    if (await listening(path)) continue;
    await rm(path, { force: true });
    removed.push(name);
  }
  return removed;
}

/** False only when nobody listens (ECONNREFUSED); a busy or odd socket counts as alive. */
function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code !== "ECONNREFUSED"));
  });
}
