import { describe, expect, it } from "vitest";
import { wireguardPeersFrom } from "./formnet-peers";

const key = (c: string) => `${c.repeat(42)}E=`;

describe("wireguardPeersFrom", () => {
  it("merges entries per key, drops self and picks the first valid endpoint", () => {
    const peers = wireguardPeersFrom({
      selfPublicKey: key("S"),
      peers: [
        { publicKey: key("S"), ip: "10.42.0.1", endpoints: [], kind: "node", ref: "me" },
        {
          publicKey: key("B"),
          ip: "10.42.0.3",
          endpoints: ["bogus", "198.51.100.2:51820"],
          kind: "node",
          ref: "n2",
        },
        { publicKey: key("B"), ip: "10.42.0.9", endpoints: [], kind: "instance", ref: "i1" },
        { publicKey: key("A"), ip: "10.42.0.7", endpoints: [], kind: "user", ref: "0xabc" },
      ],
    });
    expect(peers).toEqual([
      { publicKey: key("A"), allowedIps: ["10.42.0.7/32"], persistentKeepalive: 25 },
      {
        publicKey: key("B"),
        endpoint: "198.51.100.2:51820",
        allowedIps: ["10.42.0.3/32", "10.42.0.9/32"],
        persistentKeepalive: 25,
      },
    ]);
  });
});
