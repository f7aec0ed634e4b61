import { describe, expect, it } from "vitest";
import { chooseEndpoint } from "./endpoint";
import { planPeersFor } from "./plan";
import { type TFormnetInstance, type TFormnetMember, ZFormnetPeer } from "./schemas";

const key = (c: string): string => `${c.repeat(42)}A=`;

const consoleHost: TFormnetMember = {
  id: "console",
  role: "console",
  publicKey: key("C"),
  address: "10.42.0.1",
  endpoints: [{ endpoint: "203.0.113.1:51820", source: "configured" }],
};
const node1: TFormnetMember = {
  id: "n1",
  role: "node",
  publicKey: key("N"),
  address: "10.42.0.2",
  endpoints: [
    { endpoint: "192.168.1.10:51820", source: "local" },
    { endpoint: "198.51.100.7:40001", source: "observed" },
  ],
};
const node2: TFormnetMember = {
  id: "n2",
  role: "node",
  publicKey: key("M"),
  address: "10.42.0.3",
  endpoints: [{ endpoint: "192.168.1.11:51820", source: "local" }],
};
const alice: TFormnetMember = {
  id: "alice-laptop",
  role: "user",
  publicKey: key("A"),
  address: "10.42.0.4",
  endpoints: [],
  owner: "0xAlice",
};
const bob: TFormnetMember = {
  ...alice,
  id: "bob-laptop",
  publicKey: key("B"),
  address: "10.42.0.5",
  owner: "0xbob",
};
const members = [consoleHost, node1, node2, alice, bob];
const instances: TFormnetInstance[] = [
  { instanceId: "i-a", nodeId: "n1", owner: "0xalice", address: "10.42.0.10" },
  { instanceId: "i-b", nodeId: "n1", owner: "0xBob", address: "10.42.0.11" },
  { instanceId: "i-c", nodeId: "n2", owner: "0xBob", address: "10.42.0.12" },
];

const byKey = (peers: ReturnType<typeof planPeersFor>, k: string) => peers.find((p) => p.publicKey === k);

describe("planPeersFor", () => {
  it("gives a laptop only nodes and the console, with only its owner's VMs", () => {
    const peers = planPeersFor({ viewer: alice, members, instances });
    expect(peers.map((p) => p.publicKey).sort()).toEqual([key("C"), key("M"), key("N")].sort());
    expect(byKey(peers, key("N"))?.allowedIps).toEqual(["10.42.0.2/32", "10.42.0.10/32"]);
    expect(byKey(peers, key("M"))?.allowedIps).toEqual(["10.42.0.3/32"]);
    expect(byKey(peers, key("C"))?.allowedIps).toEqual(["10.42.0.1/32"]);
    for (const peer of peers) expect(ZFormnetPeer.parse(peer)).toEqual(peer);
    const bobPeers = planPeersFor({ viewer: bob, members, instances });
    expect(byKey(bobPeers, key("N"))?.allowedIps).toEqual(["10.42.0.2/32", "10.42.0.11/32"]);
    expect(byKey(bobPeers, key("M"))?.allowedIps).toEqual(["10.42.0.3/32", "10.42.0.12/32"]);
  });

  it("gives a node every other node with all its VMs, the console and all laptops", () => {
    const peers = planPeersFor({ viewer: node2, members, instances });
    expect(peers).toHaveLength(4);
    expect(byKey(peers, key("N"))?.allowedIps).toEqual(["10.42.0.2/32", "10.42.0.10/32", "10.42.0.11/32"]);
    expect(byKey(peers, key("A"))?.allowedIps).toEqual(["10.42.0.4/32"]);
    expect(byKey(peers, key("B"))?.allowedIps).toEqual(["10.42.0.5/32"]);
    expect(byKey(peers, key("M"))).toBeUndefined();
    expect(peers.every((p) => p.persistentKeepalive === 25)).toBe(true);
  });

  it("picks same-LAN endpoints between nodes and leaves laptops without endpoints", () => {
    const peers = planPeersFor({ viewer: node2, members, instances });
    expect(byKey(peers, key("N"))?.endpoint).toBe("192.168.1.10:51820");
    expect(byKey(peers, key("A"))?.endpoint).toBeUndefined();
    const fromConsole = planPeersFor({ viewer: consoleHost, members, instances });
    expect(byKey(fromConsole, key("N"))?.endpoint).toBe("198.51.100.7:40001");
  });
});

describe("chooseEndpoint", () => {
  it("prefers same LAN, then configured, then public observed", () => {
    const peer = [
      { endpoint: "10.0.0.5:51820", source: "local" as const },
      { endpoint: "198.51.100.9:1234", source: "observed" as const },
    ];
    expect(chooseEndpoint({ viewer: [{ endpoint: "10.0.0.9:51820", source: "local" }], peer })).toBe(
      "10.0.0.5:51820",
    );
    expect(chooseEndpoint({ viewer: [], peer })).toBe("198.51.100.9:1234");
    expect(
      chooseEndpoint({ viewer: [], peer: [...peer, { endpoint: "vpn.example:9", source: "configured" }] }),
    ).toBe("vpn.example:9");
    expect(chooseEndpoint({ viewer: [], peer: [{ endpoint: "10.1.1.1:5", source: "local" }] })).toBe(
      "10.1.1.1:5",
    );
    expect(chooseEndpoint({ viewer: [], peer: [] })).toBeUndefined();
  });
});
