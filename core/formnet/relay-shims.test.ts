import { createSocket } from "node:dgram";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { keyBytes } from "@/lib/protocol/relay";
import { runShimChild } from "./relay-shims";

const KEY = "UgHqycpLjQGc6JQD/+bAMTz1oi77hXeF40d2ajqyaiM=";

function frame(type: number, rest: Uint8Array = new Uint8Array()): Buffer {
  const key = keyBytes(KEY) ?? new Uint8Array(32);
  const out = Buffer.alloc(4 + 33 + rest.length);
  out.writeUInt32BE(33 + rest.length, 0);
  out[4] = type;
  out.set(key, 5);
  out.set(rest, 37);
  return out;
}

describe("relay shim child", () => {
  it("answers a repeated OPEN with the same shim, and delivers from it to WireGuard", async () => {
    const wireguard = createSocket("udp4");
    await new Promise<void>((resolve) => wireguard.bind(0, "127.0.0.1", () => resolve()));
    const input = new PassThrough();
    const output = new PassThrough();
    const ended = runShimChild({ wireguardPort: wireguard.address().port, input, output });
    const ports: number[] = [];
    const answered = new Promise<void>((resolve) => {
      output.on("data", (chunk: Buffer) => {
        // OPENED frames: [len][2][key][port]
        for (let at = 0; at + 4 <= chunk.length; ) {
          const length = chunk.readUInt32BE(at);
          if (chunk[at + 4] === 2) ports.push(chunk.readUInt16BE(at + 4 + 33));
          at += 4 + length;
        }
        if (ports.length === 2) resolve();
      });
    });
    // Two opens back to back, before the first socket is bound (the parent retried a slow open).
    input.write(Buffer.concat([frame(1), frame(1)]));
    await answered;
    expect(ports[0]).toBe(ports[1]);
    const got = new Promise<{ port: number; text: string }>((resolve) =>
      wireguard.once("message", (msg, rinfo) => resolve({ port: rinfo.port, text: msg.toString() })),
    );
    input.write(frame(4, Buffer.from("datagram from the peer")));
    expect(await got).toEqual({ port: ports[0], text: "datagram from the peer" });
    input.end();
    await ended;
    wireguard.close();
  });
});
