import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { connectWithin, waitForTcp } from "./tcp-connect";

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

const listen = (port = 0) =>
  new Promise<number>((resolve) => {
    server = createServer((s) => {
      // The probes close at once: the server's end of it may see a reset.
      s.on("error", () => undefined);
      s.end("SSH-2.0-test\r\n");
    });
    server.listen(port, "127.0.0.1", () => {
      const address = server?.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });

/** A port nothing listens on (bound, read, released). */
async function freePort(): Promise<number> {
  const port = await listen();
  await new Promise<void>((r) => server?.close(() => r()));
  server = undefined;
  return port;
}

describe("connectWithin", () => {
  it("connects to a listening port", async () => {
    const port = await listen();
    const socket = await connectWithin({ host: "127.0.0.1", port, timeoutMs: 2_000 });
    expect(socket.remotePort).toBe(port);
    socket.destroy();
  });

  it("rejects at once when the port is closed", async () => {
    const port = await freePort();
    const t = Date.now();
    await expect(connectWithin({ host: "127.0.0.1", port, timeoutMs: 5_000 })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    expect(Date.now() - t).toBeLessThan(2_000);
  });

  it("settles within its timeout on an address nothing answers for", async () => {
    // TEST-NET-1 (RFC 5737): the SYN goes unanswered, or a firewall on the way refuses it.
    const t = Date.now();
    await expect(connectWithin({ host: "192.0.2.1", port: 22, timeoutMs: 300 })).rejects.toThrow();
    expect(Date.now() - t).toBeLessThan(2_000);
  });
});

describe("waitForTcp", () => {
  it("returns true once a server starts listening", async () => {
    const port = await freePort();
    const waiting = waitForTcp({ host: "127.0.0.1", port, deadline: Date.now() + 10_000, intervalMs: 20 });
    setTimeout(() => void listen(port), 200);
    expect(await waiting).toBe(true);
  });

  it("returns false at the deadline", async () => {
    const port = await freePort();
    expect(await waitForTcp({ host: "127.0.0.1", port, deadline: Date.now() + 300, intervalMs: 20 })).toBe(
      false,
    );
  });
});
