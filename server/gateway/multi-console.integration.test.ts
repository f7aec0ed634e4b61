import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { migrateDatabase } from "@/server/db/migrate";
import { startPostgresCluster, type TPostgresCluster } from "@/server/db/postgres-cluster";
import { loadEnv } from "@/server/env";
import { startConsole, type TRunningConsole } from "@/server/http/console-server";
import { TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import type { TServices } from "@/server/services/services";
import { completeBoot, completeBuild, sha256Digest } from "@/server/testing/agent-actions";
import { eventually, FakeAgent, type TOffer } from "@/server/testing/fake-agent";
import { FAST_TIMINGS, testFormfile } from "@/server/testing/platform";
import { testRepositories } from "@/server/testing/repositories";
import { controlPlaneModule } from "./module";

// Two consoles sharing one PostgreSQL and one data dir (as replicas behind a load balancer would
// share a volume or object store): offers and cancels must reach whichever console holds the
// agent's socket, through LISTEN/NOTIFY.
const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
let cluster: TPostgresCluster;
let dataDir: string;
const consoles: TRunningConsole[] = [];
const agents: FakeAgent[] = [];

async function startReplica(): Promise<TRunningConsole> {
  const env = loadEnv({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    CONSOLE_ORIGIN: TEST_CONSOLE_ORIGIN,
    DATABASE_URL: cluster.url,
    FORMATION_DATA_DIR: dataDir,
  });
  const running = await startConsole({
    env,
    port: 0,
    migrate: false,
    withNext: false,
    logger: createLogger("test-console"),
    controlPlane: {
      config: FAST_TIMINGS,
      admission: { isAdmitted: async (a) => a.toLowerCase() === operator.address.toLowerCase() },
    },
    modules: [controlPlaneModule()],
  });
  consoles.push(running);
  return running;
}

const cp = (c: TRunningConsole | undefined): TServices => {
  if (!c) throw new Error("no console");
  return c.runtime.services;
};
const repos = (c: TRunningConsole | undefined) => {
  if (!c) throw new Error("no console");
  return testRepositories(c.runtime.db);
};

async function agentOn(c: TRunningConsole, hold = false): Promise<FakeAgent> {
  const a = await FakeAgent.connect({
    url: c.url,
    account: operator,
    onOffer: async (offer: TOffer, agent) => {
      if (hold) return;
      if (offer.kind === "build") await completeBuild({ url: c.url, agent, offer });
      else if (offer.kind === "boot") completeBoot(agent, offer);
    },
  });
  agents.push(a);
  return a;
}

beforeAll(async () => {
  cluster = await startPostgresCluster();
  dataDir = mkdtempSync(path.join(os.tmpdir(), "formation-multi-"));
  await migrateDatabase({ databaseUrl: cluster.url });
  await startReplica();
  await startReplica();
});
afterAll(async () => {
  for (const a of agents) await a.close();
  for (const c of consoles) await c.close();
  await cluster?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("two consoles on one PostgreSQL", () => {
  it("routes offers, results and cancels to the console holding each agent's socket", async () => {
    const [a, b] = consoles;
    if (!a || !b) throw new Error("consoles missing");
    const onA = await agentOn(a);
    const onB = await agentOn(b);

    // The build is submitted to console B; whichever console's agent leases it, it completes.
    const context = randomBytes(64);
    const build = await cp(b).builds.create({
      owner,
      formfile: testFormfile("multi"),
      context,
      contextDigest: sha256Digest(context),
    });
    await eventually(async () => (await repos(a).builds.find(build.buildId))?.status === "built", {
      what: "build completed through either console",
    });

    // Shipping from console A places one replica behind each console.
    const shipped = await cp(a).deployments.ship({ owner, buildId: build.buildId, replicas: 2 });
    expect(new Set(shipped.instances.map((i) => i.nodeId))).toEqual(new Set([onA.nodeId, onB.nodeId]));
    // Under CI load (a VM lane beside this one) a round trip through both consoles and PostgreSQL
    // can take seconds; a timeout says where each replica and its jobs were.
    let seen = "";
    await eventually(
      async () => {
        const views = await cp(b).deploymentViews.instances({ owner, buildId: build.buildId });
        const jobs = await repos(a).jobs.openForInstances(views.map((i) => i.instanceId));
        seen = [
          ...views.map((i) => `${i.instanceId} ${i.status} on ${i.nodeId}`),
          ...jobs.map((j) => `job ${j.kind} ${j.state} on ${j.nodeId} (${j.attempts} attempts)`),
        ].join(", ");
        return views.every((i) => i.status === "running");
      },
      { what: "both replicas running", timeoutMs: 30_000 },
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}: ${seen}`);
    });

    // A job held by the agent on console B, cancelled through console A.
    const holder = await agentOn(b, true);
    const job = await cp(a).jobs.enqueue({
      kind: "restart",
      payload: { instanceId: "i-00000000000000000000" },
      nodeId: holder.nodeId,
      idempotencyKey: "multi-cancel",
    });
    const offer = await holder.nextOffer("restart");
    expect(offer.jobId).toBe(job.id);
    holder.send({ type: "job.ack", jobId: job.id });
    await eventually(async () => (await repos(a).jobs.find(job.id))?.state === "running");
    await cp(a).jobs.cancel(job.id, "cancelled on the other console");
    expect(await holder.waitFor((m) => m.type === "job.cancel")).toMatchObject({ jobId: job.id });
  });

  it("an agent that moves to the other console keeps its node, and the old socket is closed", async () => {
    const [a, b] = consoles;
    if (!a || !b) throw new Error("consoles missing");
    const first = await agentOn(a);
    const moved = await FakeAgent.connect({ url: b.url, account: operator, wgPublicKey: first.wgPublicKey });
    agents.push(moved);
    expect(moved.nodeId).toBe(first.nodeId);
    await first.waitFor(() => first.closeCode !== null).catch(() => undefined);
    expect(first.closeCode).toBe(4002);
    const node = await repos(a).nodes.find(moved.nodeId);
    expect(node?.consoleId).toBe(cp(b).consoleId);
  });
});
