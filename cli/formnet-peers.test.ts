import { describe, expect, it } from "vitest";
import { laptopPeersFrom } from "./formnet-peers";

const NODE = `${"A".repeat(42)}A=`;
const OTHER_NODE = `${"B".repeat(42)}A=`;
const ME = `${"C".repeat(42)}A=`;
const OTHER_USER = `${"D".repeat(42)}A=`;

describe("laptopPeersFrom", () => {
  it("routes the user's own instances to the node hosting them", () => {
    const peers = laptopPeersFrom({
      selfPublicKey: ME,
      peers: [{ publicKey: NODE, ip: "10.42.0.1", endpoints: [], kind: "node", ref: "n1" }],
      instances: [
        { nodeId: "n1", formnetIp: "10.42.0.9" },
        { nodeId: "n1", formnetIp: null },
        { nodeId: "n2", formnetIp: "10.42.0.10" },
      ],
    });
    expect(peers).toEqual([
      { publicKey: NODE, allowedIps: ["10.42.0.1/32", "10.42.0.9/32"], persistentKeepalive: 25 },
    ]);
  });

  it("merges a node with the VMs it fronts, drops users and self", () => {
    const peers = laptopPeersFrom({
      selfPublicKey: ME,
      peers: [
        { publicKey: NODE, ip: "10.42.0.1", endpoints: ["192.0.2.1:51820"], kind: "node", ref: "n1" },
        { publicKey: NODE, ip: "10.42.0.5", endpoints: [], kind: "instance", ref: "i-1" },
        { publicKey: OTHER_NODE, ip: "10.42.0.2", endpoints: [], kind: "node", ref: "n2" },
        { publicKey: ME, ip: "10.42.0.3", endpoints: [], kind: "user", ref: "0xa:me" },
        { publicKey: OTHER_USER, ip: "10.42.0.4", endpoints: [], kind: "user", ref: "0xb:x" },
      ],
    });
    expect(peers).toEqual([
      {
        publicKey: NODE,
        endpoint: "192.0.2.1:51820",
        allowedIps: ["10.42.0.1/32", "10.42.0.5/32"],
        persistentKeepalive: 25,
      },
      { publicKey: OTHER_NODE, allowedIps: ["10.42.0.2/32"], persistentKeepalive: 25 },
    ]);
  });
});
