import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { advertisedEndpoints } from "@/lib/formnet/advertised-endpoints";
import { allocateLowestFree } from "@/lib/formnet/allocate";
import { hostCidr } from "@/lib/formnet/cidr";
import { formnetInterfaceName, instanceChainName } from "@/lib/formnet/naming";
import type { TFormnetRole, TWireguardPeer } from "@/lib/formnet/schemas";
import { visiblePeers } from "@/lib/formnet/visible-peers";
import { wireguardPeersFrom } from "@/lib/formnet/wireguard-peers";
import type { TFormnetPeer } from "@/lib/protocol";
import { startBusyboxVm, type TBusyboxVm } from "../netns/busybox-vm";
import { type Netns, NetnsLab } from "../netns/netns";
import { applyInstanceAccess, listInstanceAccess, removeInstanceAccess } from "./access";
import { run, succeeds, waitFor } from "./command";
import { localEndpointCandidates } from "./endpoints";
import { ensureKeyFile } from "./keys";
import { PeerSync } from "./peer-sync";
import {
  prepareUserKey,
  readUserTunnelState,
  runUserTunnel,
  spawnUserTunnelDaemon,
  stopUserTunnel,
  type TUserTunnel,
  userTunnelPaths,
  writeUserTunnelConfig,
} from "./user-tunnel";
import { WIREGUARD_SOCKET_DIR, WireguardInterface } from "./wireguard-interface";

// Five hosts as network namespaces on one LAN: the console, two nodes, two users' laptops. Node 1
// hosts a real QEMU VM owned by user A. Everything runs the real wireguard-go and iptables, and
// every member computes its WireGuard peers the way the product does: from the console's
// `formnet.peers` list with `wireguardPeersFrom` (agents and the console member; laptops with
// `skipUsers` over what `visiblePeers` shows them), nodes advertised at the address the console
// observes (`advertisedEndpoints`), the console at its own addresses (`localEndpointCandidates`).

const PORT = 51820;
const CIDR = "10.42.0.0/16";
const OWNER_A = "0xaaaa000000000000000000000000000000000001";
const OWNER_B = "0xbbbb000000000000000000000000000000000002";

type TMesh = {
  label: string;
  role: TFormnetRole;
  ns: Netns;
  keyPath: string;
  publicKey: string;
  address: string;
  /** Endpoints the console advertises for this member (none for laptops: they dial out). */
  endpoints: string[];
  owner?: string;
  running?: { iface: WireguardInterface; sync: PeerSync };
};

let lab: NetnsLab;
let dir: string;
let vm: TBusyboxVm | undefined;
let tunnelB: TUserTunnel | undefined;
const mesh = new Map<string, TMesh>();
let vmIp = "";
let bridge = "";

const get = (label: string): TMesh => {
  const entry = mesh.get(label);
  if (entry === undefined) throw new Error(`no mesh host ${label}`);
  return entry;
};

/** The console's `formnet.peers` list (FormnetAddress rows): members, and the VM under node1's key. */
function consolePeers(): TFormnetPeer[] {
  const peers: TFormnetPeer[] = [...mesh.values()].map((m) => ({
    publicKey: m.publicKey,
    ip: m.address,
    endpoints: m.endpoints,
    kind: m.role,
    ref: m.role === "user" ? `${m.owner}:${m.publicKey}` : m.label,
  }));
  // A booted instance is recorded with its node's key, so peers route its /32 to that node.
  if (vmIp)
    peers.push({ publicKey: get("node1").publicKey, ip: vmIp, endpoints: [], kind: "instance", ref: "vm1" });
  return peers;
}
const instances = () => (vmIp ? [{ nodeId: "node1", formnetIp: vmIp }] : []);

/** A member's WireGuard peers, computed as its real counterpart does. */
function peersOf(label: string): TWireguardPeer[] {
  const self = get(label);
  if (self.role === "node")
    return wireguardPeersFrom({ peers: consolePeers(), selfPublicKey: self.publicKey });
  if (self.role === "console")
    return wireguardPeersFrom({
      peers: consolePeers(),
      selfPublicKey: self.publicKey,
      instances: instances(),
    });
  // A laptop: `form manage formnet-up` over `formnet.peers` as the API shows it to its user.
  const own = self.owner === OWNER_A ? instances() : [];
  return wireguardPeersFrom({
    peers: visiblePeers(consolePeers(), { address: self.owner ?? "", isAdmin: false }),
    selfPublicKey: self.publicKey,
    skipUsers: true,
    instances: own,
  });
}
const stateDir = (label: string): string => join(dir, `${label}-state`);

async function pings(from: string, ip: string): Promise<boolean> {
  return succeeds("busybox", ["ping", "-c", "1", "-W", "1", ip], { netns: get(from).ns.name });
}
async function waitPing(from: string, ip: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(`${from} to ping ${ip}`, async () => ((await pings(from, ip)) ? true : undefined), {
    timeoutMs,
    intervalMs: 200,
  });
}
async function httpGet(from: string, url: string): Promise<string> {
  return run("busybox", ["timeout", "3", "busybox", "wget", "-q", "-O", "-", url], {
    netns: get(from).ns.name,
  });
}
/** Packets the VM's chain dropped so far (its last rule is the DROP). */
async function droppedPackets(): Promise<number> {
  const text = await run("iptables", ["-w", "-L", instanceChainName({ vmIp, bridge }), "-v", "-n", "-x"], {
    netns: get("node1").ns.name,
  });
  const drop = text.split("\n").find((line) => /\bDROP\b/.test(line));
  return Number(drop?.trim().split(/\s+/)[0] ?? Number.NaN);
}

/** What a node agent or the console member runs: the interface and its peer sync. */
async function bringUp(entry: TMesh): Promise<{ iface: WireguardInterface; sync: PeerSync }> {
  if (entry.role === "user") throw new Error("laptops use the user tunnel");
  const iface = await WireguardInterface.up({
    name: formnetInterfaceName({ role: entry.role, id: `${lab.prefix.slice(3)}${entry.label.slice(-1)}` }),
    address: `${entry.address}/16`,
    listenPort: PORT,
    privateKeyPath: entry.keyPath,
    netns: entry.ns.name,
    logPath: join(dir, `${entry.label}-wg.log`),
  });
  const sync = new PeerSync({ iface, fetchPeers: async () => peersOf(entry.label) });
  await sync.refreshNow();
  sync.start();
  entry.running = { iface, sync };
  return entry.running;
}
const running = (label: string) => {
  const member = get(label).running;
  if (member === undefined) throw new Error(`${label} is not running`);
  return member;
};
async function stopMember(label: string): Promise<void> {
  const member = running(label);
  await member.sync.stop();
  await member.iface.down();
  get(label).running = undefined;
}

/** The gateway address every agent's instance bridge carries (node-agent/hypervisor/qemu.ts). */
const VM_GATEWAY = "169.254.42.1";

/**
 * The node's side of an instance, as the agent sets it up with node-agent/host/net.ts (which runs
 * in the host's own namespace and is not reachable from core/): a bridge carrying the VMs' gateway
 * address, forwarding on, and the VM's /32 routed into the bridge.
 */
async function hostInstanceBridge(opts: { netns: string; bridge: string; vmIp: string }) {
  const { netns } = opts;
  await run("ip", ["link", "add", opts.bridge, "type", "bridge"], { netns });
  await run("ip", ["address", "add", hostCidr(VM_GATEWAY), "dev", opts.bridge], { netns });
  await run("ip", ["link", "set", opts.bridge, "up"], { netns });
  await run("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"], { netns });
  await run("ip", ["route", "replace", hostCidr(opts.vmIp), "dev", opts.bridge], { netns });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "formnet-it-"));
  lab = await NetnsLab.create();
  const taken: string[] = [];
  const allocate = (): string => {
    const ip = allocateLowestFree({ cidr: CIDR, taken });
    taken.push(ip);
    return ip;
  };
  // The first node creates the network; everyone after gets the lowest free address.
  const layout: Array<[string, TFormnetRole, string | undefined]> = [
    ["node1", "node", undefined],
    ["node2", "node", undefined],
    ["console", "console", undefined],
    ["laptopA", "user", OWNER_A],
    ["laptopB", "user", OWNER_B],
  ];
  for (const [label, role, owner] of layout) {
    const host = await lab.addHost(label);
    const keyPath = role === "user" ? userTunnelPaths(stateDir(label)).key : join(dir, `${label}.key`);
    const { publicKey } =
      role === "user" ? await prepareUserKey(stateDir(label)) : await ensureKeyFile(keyPath);
    const endpoints =
      role === "node"
        ? // The console saw the agent's WebSocket come from the node's LAN address.
          advertisedEndpoints({ configured: [], observedAddress: host.lanIp, listenPort: PORT })
        : role === "console"
          ? (await localEndpointCandidates({ listenPort: PORT, netns: host.ns.name })).map((c) => c.endpoint)
          : [];
    mesh.set(label, {
      label,
      role,
      ns: host.ns,
      keyPath,
      publicKey,
      address: allocate(),
      endpoints,
      ...(owner === undefined ? {} : { owner }),
    });
  }
  vmIp = allocate();

  for (const label of ["node1", "node2", "console"]) await bringUp(get(label));

  const node1 = get("node1");
  bridge = `fnb-${lab.prefix.slice(3)}1`;
  await hostInstanceBridge({ netns: node1.ns.name, bridge, vmIp });
  await applyInstanceAccess({
    vmIp,
    allowedSources: [get("laptopA").address, get("console").address],
    bridge,
    netns: node1.ns.name,
  });
  vm = await startBusyboxVm({
    ns: node1.ns,
    bridge,
    tap: "tap-vm1",
    ip: vmIp,
    gateway: VM_GATEWAY,
    consoleLog: join(dir, "vm1-console.log"),
  });

  // Laptops: A runs the background daemon (as `form manage formnet-up` does), B runs in-process.
  for (const label of ["laptopA", "laptopB"]) {
    await writeUserTunnelConfig(stateDir(label), {
      interfaceName: formnetInterfaceName({ role: "user", id: `${lab.prefix.slice(3)}${label.slice(-1)}` }),
      address: get(label).address,
      cidr: CIDR,
      listenPort: 0,
      peers: peersOf(label),
    });
  }
  await spawnUserTunnelDaemon({ stateDir: stateDir("laptopA"), netns: get("laptopA").ns.name });
  tunnelB = await runUserTunnel({ stateDir: stateDir("laptopB"), netns: get("laptopB").ns.name });
}, 120_000);

afterAll(async () => {
  await stopUserTunnel({ stateDir: stateDir("laptopA") }).catch(() => undefined);
  await tunnelB?.stop().catch(() => undefined);
  for (const entry of mesh.values()) if (entry.running) await stopMember(entry.label).catch(() => undefined);
  await vm?.stop().catch(() => undefined);
  await lab?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("formnet mesh (wireguard-go in network namespaces)", () => {
  it("allocated the lowest free addresses in join order", () => {
    expect([...mesh.values()].map((m) => m.address)).toEqual([
      "10.42.0.1",
      "10.42.0.2",
      "10.42.0.3",
      "10.42.0.4",
      "10.42.0.5",
    ]);
    expect(vmIp).toBe("10.42.0.6");
  });

  it("routes packets across the mesh: node↔node, console↔nodes, laptop↔node", async () => {
    const ip = (label: string): string => get(label).address;
    await waitPing("node1", ip("node2"));
    await waitPing("node2", ip("node1"));
    await waitPing("console", ip("node1"));
    await waitPing("console", ip("node2"));
    await waitPing("laptopA", ip("node1"));
    await waitPing("node1", ip("laptopA"));
    const dump = await running("node1").iface.dump();
    const node2Peer = dump.peers.find((p) => p.publicKey === get("node2").publicKey);
    expect(node2Peer?.latestHandshake).not.toBeNull();
    expect(node2Peer?.rxBytes).toBeGreaterThan(0);
    expect(node2Peer?.endpoint).toBe(`${lab.host("node2").lanIp}:${PORT}`);
    // The VM's /32 rides on node1's peer entry everywhere it is routed.
    expect(dump.peers.find((p) => p.publicKey === get("node2").publicKey)?.allowedIps).toEqual([
      `${get("node2").address}/32`,
    ]);
    const onNode2 = (await running("node2").iface.dump()).peers.find(
      (p) => p.publicKey === get("node1").publicKey,
    );
    expect(onNode2?.allowedIps.sort()).toEqual([`${get("node1").address}/32`, `${vmIp}/32`].sort());
    // Re-applying an unchanged peer list touches nothing (live sessions are kept).
    expect(await running("node1").sync.refreshNow()).toEqual({ added: 0, updated: 0, removed: 0 });
  });

  it("lets the owner's laptop and the console reach the VM on node1", async () => {
    await waitPing("node1", vmIp);
    await waitPing("laptopA", vmIp);
    expect(await httpGet("laptopA", `http://${vmIp}:8080/`)).toContain(`formnet-vm ${vmIp}`);
    expect(await httpGet("console", `http://${vmIp}:8080/`)).toContain(`formnet-vm ${vmIp}`);
  });

  it("keeps the VM unreachable from another user's laptop, even with forged allowed-ips", async () => {
    const node1 = get("node1");
    // Layer 1: B's peers do not route the VM's address at all.
    const planned = peersOf("laptopB").find((p) => p.publicKey === node1.publicKey);
    expect(planned?.allowedIps).toEqual([`${node1.address}/32`]);
    expect(await pings("laptopB", vmIp)).toBe(false);

    // Layer 2: B edits its own config to route the VM through node1; node1's firewall drops it.
    const forged = peersOf("laptopB").map((p) =>
      p.publicKey === node1.publicKey ? { ...p, allowedIps: [...p.allowedIps, `${vmIp}/32`] } : p,
    );
    await tunnelB?.sync.stop();
    await tunnelB?.iface.setPeers(forged);
    await waitPing("laptopB", node1.address); // control: B's tunnel to node1 works
    const before = await droppedPackets();
    expect(await pings("laptopB", vmIp)).toBe(false);
    await expect(httpGet("laptopB", `http://${vmIp}:8080/`)).rejects.toThrow();
    expect(await droppedPackets()).toBeGreaterThan(before);
    // Another node is not an allowed source either.
    expect(await pings("node2", vmIp)).toBe(false);
    // The owner still gets through.
    expect(await httpGet("laptopA", `http://${vmIp}:8080/`)).toContain("formnet-vm");
  });

  it("applies access rules idempotently and removes them cleanly", async () => {
    const netns = get("node1").ns.name;
    const sources = [get("laptopA").address, get("console").address];
    await applyInstanceAccess({ vmIp, allowedSources: sources, bridge, netns });
    await applyInstanceAccess({ vmIp, allowedSources: [...sources].reverse(), bridge, netns });
    expect(await listInstanceAccess({ vmIp, bridge, netns })).toEqual(sources.map((s) => `${s}/32`).sort());
    const rules = await run("iptables", ["-w", "-S", "FORWARD"], { netns });
    expect(rules.split("\n").filter((l) => l.includes(instanceChainName({ vmIp, bridge })))).toHaveLength(1);
    await removeInstanceAccess({ vmIp, bridge, netns });
    await removeInstanceAccess({ vmIp, bridge, netns });
    expect(await listInstanceAccess({ vmIp, bridge, netns })).toEqual([]);
    expect(
      (await run("iptables", ["-w", "-S", "FORWARD"], { netns }))
        .split("\n")
        .filter((l) => l.includes(instanceChainName({ vmIp, bridge }))),
    ).toEqual([]);
    await applyInstanceAccess({ vmIp, allowedSources: sources, bridge, netns });
    await waitPing("laptopA", vmIp);
  });

  it("runs several formnet members on one host, each with its own name, port and source route", async () => {
    const host = get("console");
    const node2 = get("node2");
    const extraIp = "10.42.0.200";
    const keyPath = join(dir, "extra.key");
    const extra = await WireguardInterface.up({
      name: formnetInterfaceName({ role: "node", id: `${lab.prefix.slice(3)}x` }),
      address: `${extraIp}/16`,
      listenPort: PORT + 1,
      privateKeyPath: keyPath,
      netns: host.ns.name,
      routingTable: 4242,
      logPath: join(dir, "extra-wg.log"),
    });
    try {
      expect(extra.name).not.toBe(running("console").iface.name);
      expect((await extra.dump()).listenPort).toBe(PORT + 1);
      // node2 learns the second member through its normal peer sync.
      mesh.set("extra", {
        label: "extra",
        role: "node",
        ns: host.ns,
        keyPath,
        publicKey: extra.publicKey,
        address: extraIp,
        endpoints: advertisedEndpoints({
          configured: [],
          observedAddress: lab.host("console").lanIp,
          listenPort: PORT + 1,
        }),
      });
      await running("node2").sync.refreshNow();
      await extra.setPeers(peersOf("extra").filter((p) => p.publicKey === node2.publicKey));
      // Packets from each member's address leave through that member's own interface.
      await waitFor(
        "the second member to reach node2 from its own address",
        async () =>
          (await succeeds("busybox", ["ping", "-c", "1", "-W", "1", "-I", extraIp, node2.address], {
            netns: host.ns.name,
          }))
            ? true
            : undefined,
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      await waitPing("console", node2.address);

      // A restarted agent finds wireguard-go still running and adopts the interface.
      const adopted = await WireguardInterface.up({
        name: extra.name,
        address: `${extraIp}/16`,
        listenPort: PORT + 1,
        privateKeyPath: keyPath,
        netns: host.ns.name,
        routingTable: 4242,
      });
      expect(adopted.publicKey).toBe(extra.publicKey);
      expect(adopted.implementation).toBe("userspace");
      await adopted.down();
      expect(existsSync(`${WIREGUARD_SOCKET_DIR}/${extra.name}.sock`)).toBe(false);
      expect((await run("ip", ["rule", "show", "from", extraIp], { netns: host.ns.name })).trim()).toBe("");
    } finally {
      await extra.down();
      mesh.delete("extra");
      await running("node2").sync.refreshNow();
    }
    // Removing one member left the other intact.
    await waitPing("console", get("node1").address);
  });

  it("rejoins after a node restart with the same key and address", async () => {
    const node1 = get("node1");
    const before = running("node1");
    const name = before.iface.name;
    const publicKey = before.iface.publicKey;

    await stopMember("node1");
    expect(existsSync(`${WIREGUARD_SOCKET_DIR}/${name}.sock`)).toBe(false);
    expect(await pings("node2", node1.address)).toBe(false);

    const after = await bringUp(node1);
    expect(after.iface.publicKey).toBe(publicKey);
    expect(after.iface.name).toBe(name);
    const addr = await run("ip", ["-4", "-o", "address", "show", "dev", name], { netns: node1.ns.name });
    expect(addr).toContain(`${node1.address}/16`);
    await waitPing("node2", node1.address);
    await waitPing("console", vmIp);
    // Laptops advertise no endpoint, so the restarted node cannot dial laptop A: the laptop finds
    // its old session dead (WireGuard re-handshakes 15 s after data that got no answer) and dials
    // node1 again at the endpoint the console advertises.
    await waitPing("laptopA", vmIp, 45_000);
    expect(await httpGet("laptopA", `http://${vmIp}:8080/`)).toContain("formnet-vm");
  });

  it("tears a laptop's background tunnel down on leave", async () => {
    const state = await readUserTunnelState(stateDir("laptopA"));
    expect(state?.address).toBe(get("laptopA").address);
    await stopUserTunnel({ stateDir: stateDir("laptopA") });
    expect(await readUserTunnelState(stateDir("laptopA"))).toBeUndefined();
    expect(
      await succeeds("ip", ["link", "show", state?.interfaceName ?? "none"], {
        netns: get("laptopA").ns.name,
      }),
    ).toBe(false);
    expect(existsSync(`${WIREGUARD_SOCKET_DIR}/${state?.interfaceName}.sock`)).toBe(false);
  });
});
