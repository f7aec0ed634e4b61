import { execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { createLogger } from "@/core/log";
import type { TFormfile } from "@/lib/formfile/canonical";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { startConsole } from "@/server/http/console-server";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import {
  completeBoot,
  completeBuild,
  completeInstanceJob,
  sha256Digest,
} from "@/server/testing/agent-actions";
import { eventually, FakeAgent, type TOffer } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";
import { ingressModule } from "./module";
import { edgeGet, startReplicaApp, startSwampedApp, steadyGets, type TReplicaApp } from "./testing";

/**
 * The edge against a real console (API, control plane, health checks, restart/replace decisions)
 * and node agents speaking the real protocol whose "VMs" are real HTTP servers on their formnet
 * addresses — a formnet block on loopback (127.x/16), so the test needs no interface of its own.
 */

const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
const other = privateKeyToAccount(generatePrivateKey());
const block = `127.${100 + randomInt(150)}`;
let platform: TTestPlatform;
const agents: FakeAgent[] = [];
/** Replica apps by instance id; `dead` ones stay down through restarts (a broken VM). */
const apps = new Map<string, TReplicaApp>();
const dead = new Set<string>();
/** Builds whose replicas answer /healthz with 500. */
const sickBuilds = new Set<string>();
const dropRules: string[][] = [];
const isRoot = process.getuid?.() === 0;

async function onOffer(offer: TOffer, agent: FakeAgent): Promise<void> {
  if (offer.kind === "build") {
    await completeBuild({ url: platform.url, agent, offer });
  } else if (offer.kind === "boot") {
    const app = await startReplicaApp({
      instanceId: offer.payload.instanceId,
      ip: offer.payload.formnetIp,
      port: 8080,
      healthy: !sickBuilds.has(offer.payload.buildId),
    });
    apps.set(offer.payload.instanceId, app);
    completeBoot(agent, offer);
  } else if (offer.kind === "delete") {
    await apps.get(offer.payload.instanceId)?.kill();
    apps.delete(offer.payload.instanceId);
    completeInstanceJob(agent, offer);
  } else {
    completeInstanceJob(agent, offer);
  }
}

const signed = (account: typeof owner, action: string, params: unknown, contentDigest?: `0x${string}`) =>
  signAction(account, {
    action,
    params,
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
    ...(contentDigest ? { contentDigest } : {}),
  });

async function query<T>(account: typeof owner, path: string, input?: unknown): Promise<T> {
  const authorization = await createReadAuthorization(account, {
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  const r = await callTrpc({ url: platform.url, path, type: "query", input, headers: { authorization } });
  if (!r.ok) throw new Error(`${path}: ${r.appCode ?? r.status}`);
  return r.data as T;
}

/** Builds `formfile` (fake agent) and ships it; resolves with the build id and its app URL. */
async function deploy(formfile: TFormfile, replicas: number, opts: { sick?: boolean } = {}) {
  const context = randomBytes(64);
  const digest = sha256Digest(context);
  const params = { formfile, contextDigest: digest, contextBase64: context.toString("base64") };
  const created = await callTrpc({
    url: platform.url,
    path: "builds.create",
    type: "mutation",
    input: await signed(owner, "build.create", params, `0x${digest.slice(7)}`),
  });
  expect(created.ok, String(created.appCode)).toBe(true);
  const buildId = (created.data as { buildId: string }).buildId;
  if (opts.sick) sickBuilds.add(buildId);
  await eventually(
    async () => (await query<{ status: string }>(owner, "builds.get", { buildId })).status === "built",
    {
      timeoutMs: 20_000,
    },
  );
  const ship = await callTrpc({
    url: platform.url,
    path: "instances.ship",
    type: "mutation",
    input: await signed(owner, "instance.ship", { buildId, replicas }),
  });
  expect(ship.ok, String(ship.appCode)).toBe(true);
  const build = await query<{ app: { url: string | null; urls: { port: number; url: string }[] } }>(
    owner,
    "builds.get",
    { buildId },
  );
  if (!build.app.url) throw new Error("the build has no app URL");
  return { buildId, url: build.app.url, urls: build.app.urls };
}

function webFormfile(name: string, opts: { retries?: number } = {}): TFormfile {
  return {
    ...testFormfile(name),
    expose: [8080],
    healthcheck: {
      kind: "http",
      path: "/healthz",
      port: 8080,
      intervalMs: 1_000,
      timeoutMs: 500,
      retries: opts.retries ?? 2,
      startPeriodMs: 0,
    },
  };
}

beforeAll(async () => {
  platform = await startTestPlatform({
    operators: [operator.address],
    config: { formnetCidr: `${block}.0.0/16` },
    modules: [
      ingressModule({
        config: { routesRefreshMs: 300, connectTimeoutMs: 500, suspectMs: 300 },
        recorder: { intervalMs: 300, bootAllowanceMs: 1_500 },
      }),
    ],
  });
  for (let i = 0; i < 4; i++)
    agents.push(await FakeAgent.connect({ url: platform.url, account: operator, onOffer }));
});

afterAll(async () => {
  for (const rule of dropRules) {
    try {
      execFileSync("iptables", ["-D", ...rule]);
    } catch {
      // Already gone.
    }
  }
  for (const a of agents) await a.close();
  for (const app of apps.values()) await app.kill().catch(() => undefined);
  await platform?.close();
});

describe("ingress edge", () => {
  let web: Awaited<ReturnType<typeof deploy>>;

  it("gives a deployment a URL; 3 healthy replicas behind it share the requests", async () => {
    web = await deploy(webFormfile("web"), 3);
    const port = new URL(platform.url).port;
    expect(web.url).toMatch(new RegExp(`^http://web-[0-9a-f]{8}\\.localhost:${port}/$`));
    expect(web.urls).toEqual([{ port: 8080, url: web.url }]);
    const ips = await eventually(async () => {
      const rows = await query<{ status: string; urls: unknown[] }[]>(owner, "instances.getIp", {
        buildId: web.buildId,
      });
      return rows.length === 3 && rows.every((r) => r.status === "running") ? rows : null;
    });
    expect(ips[0]?.urls).toEqual(web.urls);
    // Replicas take traffic once their first health check passed.
    await eventually(async () => (await edgeGet(web.url)).status === 200, { timeoutMs: 15_000 });
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await edgeGet(`${web.url}page?i=${i}`);
      expect(r.status).toBe(200);
      expect(r.body).toContain(`hello from ${r.instance}`);
      // The app sees its public host and the client's address.
      expect(r.body).toContain(`host=${new URL(web.url).host}`);
      expect(r.body).toMatch(/xff=127\.0\.0\.1/);
      seen.set(r.instance ?? "", (seen.get(r.instance ?? "") ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual([...apps.keys()].filter((id) => seen.has(id)).sort());
    expect(seen.size).toBe(3);
    for (const n of seen.values()) expect(n).toBe(10);

    // The owner sees the traffic and each replica's health; another wallet sees nothing.
    const deploymentId = (
      await query<{ deploymentId: string }>(owner, "deployments.forBuild", { buildId: web.buildId })
    ).deploymentId;
    const status = await query<{
      healthy: number;
      urls: unknown[];
      replicas: { state: string; check: string }[];
      traffic: {
        status: Record<string, number>;
        log: { path: string; status: number; instanceId: string }[];
      };
    }>(owner, "ingress.status", { deploymentId });
    expect(status.healthy).toBe(3);
    expect(status.urls).toEqual(web.urls);
    expect(status.replicas.map((r) => r.check)).toEqual(
      Array(3).fill("http GET :8080/healthz every 1s (timeout 500ms, 2 retries)"),
    );
    expect(status.traffic.status["2xx"]).toBeGreaterThanOrEqual(30);
    expect(status.traffic.log[0]).toMatchObject({ path: "/page", status: 200 });
    const authorization = await createReadAuthorization(other, {
      origin: TEST_CONSOLE_ORIGIN,
      chainId: platform.env.chainId,
    });
    const theirs = await callTrpc({
      url: platform.url,
      path: "ingress.status",
      type: "query",
      input: { deploymentId },
      headers: { authorization },
    });
    expect(theirs.appCode).toBe("NOT_FOUND");
  });

  it("a replica that dies loses no GET of a steady 20 req/s stream, and is restarted, then replaced", async () => {
    const victim = [...apps.values()][0];
    if (!victim) throw new Error("no replica");
    const before = await query<{ instanceId: string }[]>(owner, "instances.getIp", { buildId: web.buildId });
    const stream = steadyGets(web.url, { perSecond: 20, ms: 4_000 });
    await new Promise((r) => setTimeout(r, 1_000));
    dead.add(victim.instanceId);
    await victim.kill();
    const results = await stream;
    const failed = results.filter((r) => r.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(75);
    // After the kill the victim serves nothing.
    const afterKill = results.slice(-40);
    expect(afterKill.some((r) => r.instance === victim.instanceId)).toBe(false);

    // The console restarts it first (the VM stays broken here), then replaces it on another node.
    const replaced = await eventually(
      async () => {
        const rows = await query<{ instanceId: string; status: string; placement: string | null }[]>(
          owner,
          "instances.getIp",
          { buildId: web.buildId },
        );
        const fresh = rows.find((r) => !before.some((b) => b.instanceId === r.instanceId));
        return fresh?.status === "running" ? fresh : null;
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    expect(replaced.placement).toMatch(
      new RegExp(`^replaces ${victim.instanceId} on node .*: unhealthy after a restart .*failed`),
    );
    const restartJobs = agents.flatMap((a) =>
      a.received.filter(
        (m) => m.type === "job.offer" && m.kind === "restart" && m.payload.instanceId === victim.instanceId,
      ),
    );
    expect(restartJobs).toHaveLength(1);
    // The new replica takes traffic once healthy.
    await eventually(
      async () => {
        for (let i = 0; i < 6; i++)
          if ((await edgeGet(web.url)).instance === replaced.instanceId) return true;
        return false;
      },
      { timeoutMs: 15_000 },
    );
  });

  it.skipIf(!isRoot)(
    "a replica whose host vanishes (packets dropped) costs its GETs latency, not errors",
    async () => {
      const victim = [...apps.values()].find((a) => !dead.has(a.instanceId));
      if (!victim) throw new Error("no live replica");
      // Warm keep-alive connections to every replica, so the loss hits pooled sockets too.
      for (let i = 0; i < 12; i++) await edgeGet(web.url);
      const stream = steadyGets(web.url, { perSecond: 20, ms: 4_000 });
      await new Promise((r) => setTimeout(r, 1_000));
      // Every packet to the host is dropped (its SSH port too: nothing tells the edge it is alive).
      const rule = ["INPUT", "-d", victim.ip, "-p", "tcp", "-j", "DROP"];
      execFileSync("iptables", ["-I", ...rule]);
      dropRules.push(rule);
      const results = await stream;
      // The host stays gone for this test only: its address may be given to a later replica.
      execFileSync("iptables", ["-D", ...rule]);
      dropRules.splice(dropRules.indexOf(rule), 1);
      const failed = results.filter((r) => r.status !== 200);
      expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
      const slowest = Math.max(...results.map((r) => r.ms));
      process.stderr.write(
        `ingress: dropped host — ${results.length} GETs, 0 failed, slowest ${slowest.toFixed(0)} ms\n`,
      );
      expect(slowest).toBeLessThan(2_000);
    },
  );

  it("a replica failing its HEALTHCHECK gets no traffic, and its failures are on record", async () => {
    const sick = await deploy(webFormfile("sick"), 1, { sick: true });
    const instance = await eventually(async () => {
      const rows = await query<{ instanceId: string; status: string }[]>(owner, "instances.getIp", {
        buildId: sick.buildId,
      });
      return rows[0]?.status === "running" ? rows[0] : null;
    });
    const app = await eventually(() => apps.get(instance.instanceId));
    await eventually(() => app.healthChecks >= 2, { timeoutMs: 10_000 });
    const r = await edgeGet(sick.url);
    expect(r.status).toBe(503);
    expect(r.body).toContain("passes its health check");
    expect(app.requests).toEqual([]);
    const health = await eventually(async () => {
      const rows = await query<{ instanceId: string; state: string; failures: { reason: string }[] }[]>(
        owner,
        "ingress.health",
        { buildId: sick.buildId },
      );
      const row = rows.find((h) => h.instanceId === instance.instanceId);
      return row?.state === "unhealthy" ? row : null;
    });
    expect(health.failures.at(-1)?.reason).toBe("GET :8080/healthz answered 500");
  });

  it("a replica too busy to accept connections (full accept queue) is waited for, not failed or taken out", async () => {
    const busy = await deploy(webFormfile("busy", { retries: 10 }), 1);
    const instance = await eventually(async () => {
      const rows = await query<{ instanceId: string; status: string }[]>(owner, "instances.getIp", {
        buildId: busy.buildId,
      });
      return rows[0]?.status === "running" ? rows[0] : null;
    });
    const app = await eventually(() => apps.get(instance.instanceId));
    await eventually(async () => (await edgeGet(busy.url)).status === 200);
    // Its app is swapped for one that listens with a backlog of 1 and accepts nothing for 2 s (its
    // event loop is blocked) while its queue is full: the kernel drops SYNs, as a swamped app's does.
    await app.kill();
    const { child: swamped } = await startSwampedApp({ ip: app.ip, port: app.port, blockMs: 2_000 });
    try {
      const r = await edgeGet(busy.url, { timeoutMs: 15_000 });
      expect(r.status, r.body).toBe(200);
      expect(r.ms).toBeGreaterThan(500);
      // Still in rotation: the only replica answers the next request at once.
      expect((await edgeGet(busy.url)).status).toBe(200);
    } finally {
      swamped.kill("SIGKILL");
    }
  });

  it("a second console on the same database is an edge for the same apps (its own checks, the same replicas)", async () => {
    const second = await startConsole({
      env: platform.env,
      port: 0,
      migrate: false,
      withNext: false,
      logger: createLogger("second-console"),
      modules: [ingressModule({ config: { routesRefreshMs: 300, connectTimeoutMs: 500, suspectMs: 300 } })],
    });
    try {
      const via = `127.0.0.1:${new URL(second.url).port}`;
      const live = new Set([...apps.keys()].filter((id) => !dead.has(id)));
      const served = await eventually(async () => {
        const r = await edgeGet(web.url, { via });
        return r.status === 200 && r.instance ? r.instance : null;
      });
      expect(live.has(served)).toBe(true);
      const spread = new Set<string>();
      for (let i = 0; i < 12; i++) spread.add((await edgeGet(web.url, { via })).instance ?? "");
      expect(spread.size).toBeGreaterThan(1);
    } finally {
      await second.close();
    }
  });

  it("proxies WebSocket upgrades", async () => {
    const u = new URL(web.url);
    const ws = new WebSocket(`ws://127.0.0.1:${u.port}/echo`, { headers: { host: u.host } });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once("open", () => ws.send("ping"));
      ws.once("message", (data) => resolve(String(data)));
      ws.once("error", reject);
    });
    ws.close();
    expect(reply).toMatch(/^i-[0-9a-f]{20}: ping$/);
  });

  it("answers unknown app hosts itself and leaves the console's own host alone", async () => {
    const port = new URL(platform.url).port;
    const unknown = await edgeGet(`http://nothing-0badf00d.localhost:${port}/`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain("Nothing is deployed");
    const healthz = await fetch(`${platform.url}/healthz`);
    expect(healthz.status).toBe(200);
    // Another owner's app of the same NAME has another host.
    const theirs = await query<{ app: { url: string | null } }[]>(other, "builds.list", {
      limit: 5,
      all: false,
    });
    expect(theirs).toEqual([]);
  });
});
