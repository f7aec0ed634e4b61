import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { replicaProbe, tcpProbe } from "./probes";
import { startSwampedApp } from "./testing";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function listener(): Promise<number> {
  const server: Server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** A swamped app's port on loopback, for the test's lifetime (testing.ts startSwampedApp). */
async function swampedPort(): Promise<number> {
  const { port, child } = await startSwampedApp({ ip: "127.0.0.1" });
  cleanups.push(() => child.kill("SIGKILL"));
  return port;
}

describe("replicaProbe", () => {
  it("passes when the app's port accepts", async () => {
    const port = await listener();
    expect(
      (await replicaProbe({ ip: "127.0.0.1", port, hostPort: await closedPort(), timeoutMs: 500 })).ok,
    ).toBe(true);
  });

  it("fails at once when the app's port refuses, whatever the guest's kernel says", async () => {
    const port = await closedPort();
    const r = await replicaProbe({ ip: "127.0.0.1", port, hostPort: await listener(), timeoutMs: 2_000 });
    expect(r).toMatchObject({ ok: false, reason: `TCP connect to :${port} failed: ECONNREFUSED` });
    expect(r.ms).toBeLessThan(1_000);
  });

  it("a swamped app whose kernel still answers (accepts or refuses) counts as there", async () => {
    const port = await swampedPort();
    expect((await tcpProbe({ ip: "127.0.0.1", port, timeoutMs: 300 })).ok).toBe(false);
    expect(
      (await replicaProbe({ ip: "127.0.0.1", port, hostPort: await listener(), timeoutMs: 300 })).ok,
    ).toBe(true);
    expect(
      (await replicaProbe({ ip: "127.0.0.1", port, hostPort: await closedPort(), timeoutMs: 300 })).ok,
    ).toBe(true);
  });

  it("fails when neither the app nor the kernel answers in time", async () => {
    const port = await swampedPort();
    const r = await replicaProbe({ ip: "127.0.0.1", port, hostPort: await swampedPort(), timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, reason: `no TCP connection to :${port} within 300 ms` });
  });
});
