import { describe, expect, it } from "vitest";
import { ZFormnetPeer } from "./common";
import { peersForProtocol } from "./peers-for-protocol";

const KEY = `${"A".repeat(43)}=`;
const consolePeer = ZFormnetPeer.parse({
  publicKey: KEY,
  ip: "10.42.0.1",
  endpoints: [],
  kind: "console",
  ref: "console-1",
});

describe("peersForProtocol", () => {
  it("keeps console peers for agents of protocol 3", () => {
    expect(peersForProtocol([consolePeer], 3)).toEqual([consolePeer]);
  });

  it("sends console peers to older agents as the /32 peers they already know", () => {
    expect(peersForProtocol([consolePeer], 2)).toEqual([{ ...consolePeer, kind: "user" }]);
  });
});
