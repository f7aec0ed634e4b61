import { describe, expect, it } from "vitest";
import { parseWireMessage, STORE_PROTOCOL_VERSION } from "./wire";

const hash = "a".repeat(64);
const envelope = {
  key: "dns/a",
  hash,
  signer: `0x${"1".repeat(40)}`,
  signature: `0x${"2".repeat(130)}`,
  change: "AAAA",
};

describe("store wire messages", () => {
  it("accepts the three message kinds", () => {
    expect(
      parseWireMessage(
        JSON.stringify({ t: "hello", v: STORE_PROTOCOL_VERSION, replica: "0xabc", digest: "d" }),
      )?.t,
    ).toBe("hello");
    expect(
      parseWireMessage(JSON.stringify({ t: "heads", full: true, docs: [{ key: "dns/a", heads: [hash] }] }))
        ?.t,
    ).toBe("heads");
    expect(parseWireMessage(JSON.stringify({ t: "changes", envelopes: [envelope] }))?.t).toBe("changes");
  });

  it.each([
    ["not json", "{nope"],
    ["unknown type", JSON.stringify({ t: "gossip" })],
    ["bad entity key", JSON.stringify({ t: "heads", full: false, docs: [{ key: "widgets/a", heads: [] }] })],
    ["short hash", JSON.stringify({ t: "heads", full: false, docs: [{ key: "dns/a", heads: ["abc"] }] })],
    ["empty changes", JSON.stringify({ t: "changes", envelopes: [] })],
    [
      "upper-case signer",
      JSON.stringify({ t: "changes", envelopes: [{ ...envelope, signer: `0x${"A".repeat(40)}` }] }),
    ],
    [
      "too many envelopes",
      JSON.stringify({ t: "changes", envelopes: Array.from({ length: 501 }, () => envelope) }),
    ],
  ])("rejects %s", (_name, raw) => {
    expect(parseWireMessage(raw)).toBeUndefined();
  });
});
