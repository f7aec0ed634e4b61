import { describe, expect, it } from "vitest";
import { decodeRelayDatagram, encodeRelayDatagram } from "@/lib/protocol/relay";
import { RelayHub, type TRelayClient, type TRelayMember } from "./relay-hub";

const NODE = "UgHqycpLjQGc6JQD/+bAMTz1oi77hXeF40d2ajqyaiM=";
const LAPTOP_A = "TAWMW9/oCGUKNv9u07vjvngV7W/8VOjUcTKpt5g5Ezg=";
const LAPTOP_B = "HR9cSHYWErMJze0gerXKuVVkDjepKYB+Thd76QB1mC8=";

function client(member: TRelayMember): TRelayClient & { received: Uint8Array[] } {
  const received: Uint8Array[] = [];
  return { member, received, send: (frame) => received.push(frame) > 0 };
}

const handshake = () => {
  const m = new Uint8Array(148);
  m[0] = 1;
  return m;
};

describe("RelayHub", () => {
  it("forwards a WireGuard datagram to the destination key, labelled with the sender's key", () => {
    const hub = new RelayHub();
    const node = client({ key: NODE, kind: "node", owner: null });
    const laptop = client({ key: LAPTOP_A, kind: "user", owner: "0xa" });
    hub.attach(node);
    hub.attach(laptop);
    expect(hub.forward(laptop, encodeRelayDatagram(NODE, handshake()))).toBeNull();
    const got = decodeRelayDatagram(node.received[0] ?? new Uint8Array());
    expect(got?.key).toBe(LAPTOP_A);
    expect(got?.payload.length).toBe(148);
    expect(hub.stats).toMatchObject({ forwarded: 1, bytes: 148 });
  });

  it("forwards nothing but WireGuard messages, never between two laptops, never to the unknown", () => {
    const hub = new RelayHub();
    const a = client({ key: LAPTOP_A, kind: "user", owner: "0xa" });
    const b = client({ key: LAPTOP_B, kind: "user", owner: "0xb" });
    const node = client({ key: NODE, kind: "node", owner: null });
    hub.attach(a);
    hub.attach(b);
    hub.attach(node);
    const http = new TextEncoder().encode("GET /metadata HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n");
    expect(hub.forward(a, encodeRelayDatagram(NODE, http))).toBe("droppedNotWireguard");
    expect(hub.forward(a, encodeRelayDatagram(LAPTOP_B, handshake()))).toBe("droppedForbidden");
    expect(hub.forward(node, encodeRelayDatagram(NODE, handshake()))).toBe("droppedForbidden");
    const detach = hub.attach(client({ key: LAPTOP_B, kind: "user", owner: "0xb" }));
    detach();
    expect(hub.forward(node, encodeRelayDatagram(LAPTOP_B, handshake()))).toBe("droppedNoRoute");
    expect(node.received).toHaveLength(0);
    expect(b.received).toHaveLength(0);
  });

  it("lists the pairs that used the relay recently, both directions as one pair", () => {
    let now = 1_000;
    const hub = new RelayHub(() => now);
    const node = client({ key: NODE, kind: "node", owner: null });
    const laptop = client({ key: LAPTOP_A, kind: "user", owner: "0xa" });
    hub.attach(node);
    hub.attach(laptop);
    hub.forward(laptop, encodeRelayDatagram(NODE, handshake()));
    now += 10_000;
    const reply = new Uint8Array(92);
    reply[0] = 2;
    hub.forward(node, encodeRelayDatagram(LAPTOP_A, reply));
    hub.forward(laptop, encodeRelayDatagram(LAPTOP_B, handshake()));
    expect(hub.recentPairs(60_000)).toEqual([
      { keys: [LAPTOP_A, NODE].sort(), lastAt: 11_000, datagrams: 2, bytes: 240 },
    ]);
    now += 61_000;
    expect(hub.recentPairs(60_000)).toEqual([]);
  });
});
