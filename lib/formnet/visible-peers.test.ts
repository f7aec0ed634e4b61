import { describe, expect, it } from "vitest";
import type { TFormnetPeer } from "../protocol";
import { visiblePeers } from "./visible-peers";

const key = (c: string) => `${c.repeat(43)}=`;
const peer = (kind: TFormnetPeer["kind"], ref: string, k: string): TFormnetPeer => ({
  publicKey: key(k),
  ip: "10.42.0.1",
  endpoints: [],
  kind,
  ref,
});

describe("visiblePeers", () => {
  const peers = [
    peer("node", "n-1", "A"),
    peer("console", "console-1", "B"),
    peer("instance", "i-1", "C"),
    peer("user", `0xaa:${key("D")}`, "D"),
    peer("user", `0xbb:${key("E")}`, "E"),
  ];

  it("shows a user the nodes and their own devices only", () => {
    expect(visiblePeers(peers, { address: "0xAA", isAdmin: false }).map((p) => p.ref)).toEqual([
      "n-1",
      `0xaa:${key("D")}`,
    ]);
  });

  it("shows an administrator everything", () => {
    expect(visiblePeers(peers, { address: "0xcc", isAdmin: true })).toHaveLength(peers.length);
  });
});
