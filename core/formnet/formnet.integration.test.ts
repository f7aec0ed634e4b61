import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allocateLowestFree } from "@/lib/formnet/allocate";
import { formnetBridgeName, formnetInterfaceName, instanceChainName } from "@/lib/formnet/naming";
import { planPeersFor } from "@/lib/formnet/plan";
import type { TFormnetInstance, TFormnetMember, TFormnetRole } from "@/lib/formnet/schemas";
import { startBusyboxVm, type TBusyboxVm } from "../netns/busybox-vm";
import { type Netns, NetnsLab } from "../netns/netns";
import { applyInstanceAccess, listInstanceAccess, removeInstanceAccess } from "./access";
import { run, succeeds, waitFor } from "./command";
import { localEndpointCandidates } from "./endpoints";
import { ensureKeyFile } from "./keys";
import { FormnetMember } from "./member";
import { observedPeerEndpoints } from "./status";
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
// hosts a real QEMU VM owned by user A. Everything runs the real wireguard-go and iptables.

const PORT = 51820;
const CIDR = "10.42.0.0/16";
const OWNER_A = "0xAAaa000000000000000000000000000000000001";
const OWNER_B = "0xbbbb000000000000000000000000000000000002";

type TMesh = {
  label: string;
  role: TFormnetRole;
  ns: Netns;
  member: TFormnetMember;
  keyPath: string;
  running?: FormnetMember;
};

let lab: NetnsLab;
let dir: string;
let vm: TBusyboxVm | undefined;
let tunnelB: TUserTunnel | undefined;
const mesh = new Map<string, TMesh>();
const instances: TFormnetInstance[] = [];
let vmIp = "";
let bridge = "";

const get = (label: string): TMesh => {
  const entry = mesh.get(label);
  if (entry === undefined) throw new Error(`no mesh host ${label}`);
  return entry;
};
const members = (): TFormnetMember[] => [...mesh.values()].map((m) => m.member);
const planFor = (label: string) => planPeersFor({ viewer: get(label).member, members: members(), instances });
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

async function bringUp(entry: TMesh): Promise<FormnetMember> {
  if (entry.role === "user") throw new Error("laptops use the user tunnel");
  entry.running = await FormnetMember.start({
    role: entry.role,
    id: `${lab.prefix.slice(3)}${entry.label.slice(-1)}`,
    address: entry.member.address,
    cidr: CIDR,
    listenPort: PORT,
    privateKeyPath: entry.keyPath,
    fetchPeers: async () => planFor(entry.label),
    netns: entry.ns.name,
    logPath: join(dir, `${entry.label}-wg.log`),
  });
  return entry.running;
}
const running = (label: string): FormnetMember => {
  const member = get(label).running;
  if (member === undefined) throw new Error(`${label} is not running`);
  return member;
};

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
      role === "user" ? [] : await localEndpointCandidates({ listenPort: PORT, netns: host.ns.name });
    const member: TFormnetMember = { id: label, role, publicKey, address: allocate(), endpoints, owner };
    mesh.set(label, { label, role, ns: host.ns, member, keyPath });
  }
  vmIp = allocate();
  instances.push({ instanceId: "vm1", nodeId: "node1", owner: OWNER_A.toLowerCase(), address: vmIp });

  for (const label of ["node1", "node2", "console"]) await bringUp(get(label));

  const node1 = get("node1");
  bridge = running("node1").bridge ?? "";
  expect(bridge).toBe(formnetBridgeName(`${lab.prefix.slice(3)}1`));
  await running("node1").attachInstance({
    vmIp,
    allowedSources: [get("laptopA").member.address, get("console").member.address],
  });
  vm = await startBusyboxVm({
    ns: node1.ns,
    bridge,
    tap: "tap-vm1",
    ip: vmIp,
    gateway: node1.member.address,
    consoleLog: join(dir, "vm1-console.log"),
  });

  // Laptops: A runs the background daemon (as `form manage formnet-up` will), B runs in-process.
  for (const label of ["laptopA", "laptopB"]) {
    const entry = get(label);
    await writeUserTunnelConfig(stateDir(label), {
      interfaceName: formnetInterfaceName({ role: "user", id: `${lab.prefix.slice(3)}${label.slice(-1)}` }),
      address: entry.member.address,
      cidr: CIDR,
      listenPort: 0,
      peers: planFor(label),
    });
  }
  await spawnUserTunnelDaemon({ stateDir: stateDir("laptopA"), netns: get("laptopA").ns.name });
  tunnelB = await runUserTunnel({ stateDir: stateDir("laptopB"), netns: get("laptopB").ns.name });
}, 120_000);

afterAll(async () => {
  await stopUserTunnel({ stateDir: stateDir("laptopA") }).catch(() => undefined);
  await tunnelB?.stop().catch(() => undefined);
  for (const entry of mesh.values()) await entry.running?.stop().catch(() => undefined);
  await vm?.stop().catch(() => undefined);
  await lab?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("formnet mesh (wireguard-go in network namespaces)", () => {
  it("allocated the lowest free addresses in join order", () => {
    expect([...mesh.values()].map((m) => m.member.address)).toEqual([
      "10.42.0.1",
      "10.42.0.2",
      "10.42.0.3",
      "10.42.0.4",
      "10.42.0.5",
    ]);
    expect(vmIp).toBe("10.42.0.6");
  });

  it("routes packets across the mesh: node↔node, console↔nodes, laptop↔node", async () => {
    const ip = (label: string): string => get(label).member.address;
    await waitPing("node1", ip("node2"));
    await waitPing("node2", ip("node1"));
    await waitPing("console", ip("node1"));
    await waitPing("console", ip("node2"));
    await waitPing("laptopA", ip("node1"));
    await waitPing("node1", ip("laptopA"));
    const status = await running("node1").status();
    const node2Peer = status.peers.find((p) => p.publicKey === get("node2").member.publicKey);
    expect(node2Peer?.connected).toBe(true);
    expect(node2Peer?.rxBytes).toBeGreaterThan(0);
    expect(node2Peer?.endpoint).toBe(`${lab.host("node2").lanIp}:${PORT}`);
    // Re-applying an unchanged plan touches nothing (live sessions are kept).
    expect(await running("node1").refreshPeers()).toEqual({ added: 0, updated: 0, removed: 0 });
  });

  it("lets the owner's laptop and the console reach the VM on node1", async () => {
    await waitPing("node1", vmIp);
    await waitPing("laptopA", vmIp);
    expect(await httpGet("laptopA", `http://${vmIp}:8080/`)).toContain(`formnet-vm ${vmIp}`);
    expect(await httpGet("console", `http://${vmIp}:8080/`)).toContain(`formnet-vm ${vmIp}`);
  });

  it("keeps the VM unreachable from another user's laptop, even with forged allowed-ips", async () => {
    const node1 = get("node1").member;
    // Layer 1: B's planned config does not route the VM's address at all.
    const planned = planFor("laptopB").find((p) => p.publicKey === node1.publicKey);
    expect(planned?.allowedIps).toEqual([`${node1.address}/32`]);
    expect(await pings("laptopB", vmIp)).toBe(false);

    // Layer 2: B edits its own config to route the VM through node1; node1's firewall drops it.
    const forged = planFor("laptopB").map((p) =>
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
    const sources = [get("laptopA").member.address, get("console").member.address];
    await applyInstanceAccess({ vmIp, allowedSources: sources, bridge, netns });
    await applyInstanceAccess({ vmIp, allowedSources: [...sources].reverse(), bridge, netns });
    expect(await listInstanceAccess({ vmIp, bridge, netns })).toEqual(sources.map((s) => `${s}/32`).sort());
    const rules = await run("iptables", ["-w", "-S", "FORWARD"], { netns });
    expect(rules.split("\n").filter((l) => l.includes(instanceChainName({ vmIp, bridge })))).toHaveLength(1);
    await removeInstanceAccess({ vmIp, bridge, netns });
    await removeInstanceAccess({ vmIp, bridge, netns });
    expect(await listInstanceAccess({ vmIp, bridge, netns })).toEqual([]);
    // With its chain gone the bridge's default deny still protects the VM.
    expect(await pings("laptopA", vmIp)).toBe(false);
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
        member: {
          id: "extra",
          role: "node",
          publicKey: extra.publicKey,
          address: extraIp,
          endpoints: [{ endpoint: `${lab.host("console").lanIp}:${PORT + 1}`, source: "local" }],
        },
      });
      await running("node2").refreshPeers();
      await extra.setPeers(planFor("extra").filter((p) => p.publicKey === node2.member.publicKey));
      // Packets from each member's address leave through that member's own interface.
      await waitFor(
        "the second member to reach node2 from its own address",
        async () =>
          (await succeeds("busybox", ["ping", "-c", "1", "-W", "1", "-I", extraIp, node2.member.address], {
            netns: host.ns.name,
          }))
            ? true
            : undefined,
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      await waitPing("console", node2.member.address);

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
      await running("node2").refreshPeers();
    }
    // Removing one member left the other intact.
    await waitPing("console", get("node1").member.address);
  });

  it("rejoins after a node restart with the same key and address", async () => {
    const node1 = get("node1");
    const before = running("node1");
    const name = before.iface.name;
    // The console learns laptop A's NAT-side endpoint from another node's status and offers it as an
    // observed candidate, so the restarted node can dial the laptop at once.
    const seen = observedPeerEndpoints(await running("node2").status()).get(get("laptopA").member.publicKey);
    expect(seen).toMatch(new RegExp(`^${lab.host("laptopA").lanIp.replaceAll(".", "\\.")}:\\d+$`));
    get("laptopA").member.endpoints = [{ endpoint: seen ?? "", source: "observed" }];

    await before.stop();
    expect(existsSync(`${WIREGUARD_SOCKET_DIR}/${name}.sock`)).toBe(false);
    expect(await pings("node2", node1.member.address)).toBe(false);

    const after = await bringUp(node1);
    expect(after.publicKey).toBe(before.publicKey);
    expect(after.iface.name).toBe(name);
    const addr = await run("ip", ["-4", "-o", "address", "show", "dev", name], { netns: node1.ns.name });
    expect(addr).toContain(`${node1.member.address}/16`);
    await waitPing("node2", node1.member.address);
    await waitPing("console", vmIp);
    await waitPing("laptopA", vmIp, 10_000);
    expect(await httpGet("laptopA", `http://${vmIp}:8080/`)).toContain("formnet-vm");
  });

  it("tears a laptop's background tunnel down on leave", async () => {
    const state = await readUserTunnelState(stateDir("laptopA"));
    expect(state?.address).toBe(get("laptopA").member.address);
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
