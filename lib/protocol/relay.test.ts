import { describe, expect, it } from "vitest";
import { decodeRelayDatagram, encodeRelayDatagram, isWireguardDatagram, keyBytes } from "./relay";

const KEY = "UgHqycpLjQGc6JQD/+bAMTz1oi77hXeF40d2ajqyaiM=";

function message(type: number, length: number): Uint8Array {
  const m = new Uint8Array(length);
  m[0] = type;
  return m;
}

describe("relay frames", () => {
  it("round-trips a datagram with its key", () => {
    const payload = message(4, 48);
    const decoded = decodeRelayDatagram(encodeRelayDatagram(KEY, payload));
    expect(decoded?.key).toBe(KEY);
    expect([...(decoded?.payload ?? [])]).toEqual([...payload]);
  });

  it("refuses malformed frames and keys", () => {
    expect(decodeRelayDatagram(new Uint8Array(10))).toBeNull();
    expect(decodeRelayDatagram(new Uint8Array([2, ...new Uint8Array(40)]))).toBeNull();
    expect(keyBytes("not a key")).toBeNull();
    expect(() => encodeRelayDatagram("nope", new Uint8Array(1))).toThrow();
  });

  it("recognises exactly WireGuard's four message shapes", () => {
    expect(isWireguardDatagram(message(1, 148))).toBe(true);
    expect(isWireguardDatagram(message(2, 92))).toBe(true);
    expect(isWireguardDatagram(message(3, 64))).toBe(true);
    expect(isWireguardDatagram(message(4, 32))).toBe(true);
    expect(isWireguardDatagram(message(4, 1456))).toBe(true);
    // A full-MTU packet (1420-byte plaintext, padding capped by the MTU) + header and tag.
    expect(isWireguardDatagram(message(4, 1452))).toBe(true);
    expect(isWireguardDatagram(message(1, 149))).toBe(false);
    expect(isWireguardDatagram(message(4, 31))).toBe(false);
    expect(isWireguardDatagram(message(5, 148))).toBe(false);
    const reservedSet = message(4, 48);
    reservedSet[2] = 1;
    expect(isWireguardDatagram(reservedSet)).toBe(false);
    expect(isWireguardDatagram(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))).toBe(false);
  });
});
