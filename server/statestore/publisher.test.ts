import { describe, expect, it } from "vitest";
import { entityKey } from "@/lib/statestore/entities";
import { peerEntityId } from "./publisher";

describe("peerEntityId", () => {
  it("makes a device ref with a base64 key a valid store id, and leaves node refs alone", () => {
    const ref = "0x73d36ad8112d571b2c6ad328592597ff2909b1ee:tmUtggMikO6v3IxHNpuugoNPlYvnM9G6qj5cZLG/3SI=";
    expect(() => entityKey("peers", ref)).toThrow(RangeError);
    expect(entityKey("peers", peerEntityId(ref))).toBe(
      "peers/0x73d36ad8112d571b2c6ad328592597ff2909b1ee:tmUtggMikO6v3IxHNpuugoNPlYvnM9G6qj5cZLG_3SI",
    );
    expect(peerEntityId("node-3f2a")).toBe("node-3f2a");
  });
});
