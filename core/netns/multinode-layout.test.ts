import { describe, expect, it } from "vitest";
import { multinodeLayout } from "./multinode-layout";

describe("multinodeLayout", () => {
  it("puts node n on its own LAN behind router n on the underlay", () => {
    const layout = multinodeLayout({ nodes: 4 });
    expect(layout.consoleHostIp).toBe("198.18.0.1");
    expect(layout.underlayCidr).toBe("198.18.0.0/24");
    expect(layout.hosts.map((h) => h.nodeNetns)).toEqual([
      "formation-node-1",
      "formation-node-2",
      "formation-node-3",
      "formation-node-4",
    ]);
    expect(layout.hosts[2]).toMatchObject({
      n: 3,
      routerNetns: "formation-router-3",
      routerWanIp: "198.18.0.13",
      routerLanIp: "172.30.3.1",
      nodeLanIp: "172.30.3.2",
      lanCidr: "172.30.3.0/24",
    });
    expect(layout.forwardUdpPorts).toEqual([51820]);
    expect(layout.laptop).toMatchObject({
      nodeNetns: "formation-laptop",
      routerNetns: "formation-router-laptop",
      routerWanIp: "198.18.0.10",
      nodeLanIp: "172.30.0.2",
    });
  });

  it("keeps root-namespace names within 15 bytes and distinct per prefix", () => {
    const a = multinodeLayout({ nodes: 200, prefix: "formation" });
    const b = multinodeLayout({ nodes: 1, prefix: "fmtest-1a2b3c" });
    for (const name of [a.wanBridge, ...a.hosts.map((h) => h.rootVeth)])
      expect(name.length).toBeLessThanOrEqual(15);
    expect(a.wanBridge).not.toBe(b.wanBridge);
    expect(a.forwardChain.length).toBeLessThanOrEqual(28);
  });

  it("honours configured blocks", () => {
    const layout = multinodeLayout({ nodes: 2, underlayCidr: "198.19.7.0/24", lanCidr: "10.99.0.0/16" });
    expect(layout.consoleHostIp).toBe("198.19.7.1");
    expect(layout.hosts[1]?.routerWanIp).toBe("198.19.7.12");
    expect(layout.hosts[1]?.nodeLanIp).toBe("10.99.2.2");
  });

  it("says which setting is too small", () => {
    expect(() => multinodeLayout({ nodes: 0 })).toThrow(/FORMATION_NODES/);
    expect(() => multinodeLayout({ nodes: 300 })).toThrow(/FORMATION_UNDERLAY_CIDR/);
    expect(() => multinodeLayout({ nodes: 3, lanCidr: "10.0.0.0/24" })).toThrow(/FORMATION_LAN_CIDR/);
    expect(() => multinodeLayout({ nodes: 1, prefix: "Bad Prefix" })).toThrow(/netns prefix/);
  });
});
