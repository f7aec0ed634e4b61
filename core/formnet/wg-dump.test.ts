import { describe, expect, it } from "vitest";
import { parseWgDump } from "./wg-dump";

const PRIV = "cPbQ0g0mOl9Yl3ZbCe5dgjdXHgPEFLWZHGD3dWWLPHQ=";
const PUB = "MTJ6SXUwj2eQIniqGrXkd3Rx9/ba3UGnbdKaLBvEnXY=";
const PEER1 = "0kWThLSD3nXxIUn76yYHPnxLUCZLBdL56LrNcQTR0zY=";
const PEER2 = "ezYrRs1Kgfly68r4PLQ1q1TMyxSbSkIWaFGKz6ty+Ds=";

describe("parseWgDump", () => {
  it("parses the interface and peers and drops the private key", () => {
    const text = [
      [PRIV, PUB, "51820", "off"].join("\t"),
      [
        PEER1,
        "(none)",
        "192.168.77.3:51820",
        "10.42.0.2/32,10.42.0.6/32",
        "1764121234",
        "348",
        "404",
        "25",
      ].join("\t"),
      [PEER2, "(none)", "(none)", "(none)", "0", "0", "0", "off"].join("\t"),
      "",
    ].join("\n");
    const dump = parseWgDump(text);
    expect(dump).toEqual({
      publicKey: PUB,
      listenPort: 51820,
      peers: [
        {
          publicKey: PEER1,
          endpoint: "192.168.77.3:51820",
          allowedIps: ["10.42.0.2/32", "10.42.0.6/32"],
          latestHandshake: new Date(1764121234 * 1000),
          rxBytes: 348,
          txBytes: 404,
          persistentKeepalive: 25,
        },
        { publicKey: PEER2, allowedIps: [], latestHandshake: null, rxBytes: 0, txBytes: 0 },
      ],
    });
    expect(JSON.stringify(dump)).not.toContain(PRIV);
  });

  it("rejects empty output", () => {
    expect(() => parseWgDump("")).toThrow(/malformed/);
  });
});
