import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { HealthChecker, type TReplicaHealth } from "./health-checker";
import type { TReplicaTarget } from "./route-table";

const servers: Server[] = [];
const checkers: HealthChecker[] = [];
afterEach(async () => {
  for (const c of checkers.splice(0)) c.stop();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function app(status: () => number): Promise<{ port: number; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(status());
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, server };
}

function target(port: number, healthcheck: TReplicaTarget["healthcheck"]): TReplicaTarget {
  return {
    instanceId: "i-1",
    deploymentId: "d-1",
    buildId: "b",
    nodeId: "n",
    ip: "127.0.0.1",
    ports: [port],
    healthcheck,
    check: "test",
  };
}

function checker(): { checker: HealthChecker; changes: string[] } {
  const changes: string[] = [];
  const c = new HealthChecker({ localAddress: () => undefined, log: createLogger("test") });
  c.onChange((h: TReplicaHealth, change) => changes.push(change === "state" ? h.state : "failure"));
  checkers.push(c);
  return { checker: c, changes };
}

const until = async (fn: () => boolean) => {
  const deadline = Date.now() + 5_000;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("health checker", () => {
  it("routes a replica after its first passing HTTP check and stops after `retries` failures", async () => {
    let status = 200;
    const { port } = await app(() => status);
    const { checker: c, changes } = checker();
    const hc = {
      kind: "http" as const,
      path: "/healthz",
      port,
      intervalMs: 50,
      timeoutMs: 200,
      retries: 2,
      startPeriodMs: 0,
    };
    c.sync([target(port, hc)]);
    expect(c.isRoutable("i-1")).toBe(false);
    await until(() => c.isRoutable("i-1"));
    status = 500;
    await until(() => !c.isRoutable("i-1"));
    const h = c.get("i-1");
    expect(h?.consecutiveFailures).toBeGreaterThanOrEqual(2);
    expect(h?.failures.at(-1)?.reason).toBe(`GET :${port}/healthz answered 500`);
    expect(changes.slice(0, 2)).toEqual(["unknown", "healthy"]);
    expect(changes).toContain("unhealthy");
    status = 200;
    await until(() => c.isRoutable("i-1"));
  });

  it("a replica whose app listens only after its first probes gets traffic within a second, not an interval", async () => {
    // A port nothing listens on yet: the first probes fail.
    const { port, server } = await app(() => 200);
    await new Promise((r) => server.close(r));
    servers.splice(servers.indexOf(server), 1);
    const { checker: c } = checker();
    c.sync([
      target(port, { kind: "tcp", port, intervalMs: 60_000, timeoutMs: 200, retries: 3, startPeriodMs: 0 }),
    ]);
    await until(() => (c.get("i-1")?.failures.length ?? 0) >= 1);
    const late = createServer();
    await new Promise<void>((r) => late.listen(port, "127.0.0.1", r));
    servers.push(late);
    const listening = performance.now();
    await until(() => c.isRoutable("i-1"));
    expect(performance.now() - listening).toBeLessThan(2_500);
  });

  it("markDown takes a replica out at once; a passing probe brings it back", async () => {
    const { port } = await app(() => 200);
    const { checker: c } = checker();
    c.sync([
      target(port, { kind: "tcp", port, intervalMs: 60_000, timeoutMs: 200, retries: 3, startPeriodMs: 0 }),
    ]);
    await until(() => c.isRoutable("i-1"));
    c.markDown("i-1", "request failed: ECONNREFUSED");
    expect(c.isRoutable("i-1")).toBe(false);
    expect(c.get("i-1")?.failures.at(-1)?.reason).toBe("request failed: ECONNREFUSED");
    // The re-probe comes after a second, not after the 60 s interval.
    await until(() => c.isRoutable("i-1"));
  });

  it("confirmAlive fails (and marks down) when nothing answers; a replica without checks routes at once", async () => {
    const { port, server } = await app(() => 200);
    const { checker: c } = checker();
    c.sync([target(port, null)]);
    expect(c.isRoutable("i-1")).toBe(true);
    await new Promise((r) => server.close(r));
    servers.splice(servers.indexOf(server), 1);
    expect(await c.confirmAlive("i-1", port, 200)).toBe(false);
    expect(c.isRoutable("i-1")).toBe(false);
    // Gone from the live replicas: forgotten.
    c.sync([]);
    expect(c.get("i-1")).toBeUndefined();
  });
});
