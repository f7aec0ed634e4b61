import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { firstFreeUdpPort, udpPortFree } from "./udp-port";

describe("free UDP ports", () => {
  it("skips a port another socket holds", async () => {
    const holder = createSocket("udp4");
    await new Promise<void>((r) => holder.bind(0, r));
    const held = holder.address().port;
    try {
      expect(await udpPortFree(held)).toBe(false);
      expect(await firstFreeUdpPort(held)).toBeGreaterThan(held);
    } finally {
      holder.close();
    }
    expect(await udpPortFree(held)).toBe(true);
  });
});
