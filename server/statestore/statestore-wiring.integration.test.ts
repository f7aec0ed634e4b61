import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { createLogger } from "@/core/log";
import type { TInstanceStatus, TMetrics } from "@/lib/protocol";
import { AgentStoreReplica } from "@/node-agent/store/replica";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { loadEnv } from "@/server/env";
import { controlPlaneModule } from "@/server/gateway/module";
import { startConsole, type TRunningConsole } from "@/server/http/console-server";
import { callTrpc, siweSignIn, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { eventually, FakeAgent } from "@/server/testing/fake-agent";
import { stateStoreModule, type TConsoleStateStore } from "./module";

// A real console (in-process, real SQLite, real WebSockets) with the control plane and the state
// store module, and real agent-side replicas (AgentStoreReplica) with their own directories.
const operator = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
const admin = privateKeyToAccount(generatePrivateKey());
const opAddr = operator.address.toLowerCase();
const nodeKey = `nodes/${opAddr}`;

let database: TTestDatabase;
let consoleDir: string;
let agentDir: string;
let strangerDir: string;
let running: TRunningConsole | undefined;
let port = 0;
let replica: AgentStoreReplica | undefined;
let fake: FakeAgent | undefined;
let metrics: TMetrics = { cpuPct: 12.5, memUsedMb: 100, diskUsedGb: 1, netRx: 0, netTx: 0 };
const instances: { instanceId: string; status: TInstanceStatus }[] = [];

async function startTheConsole(): Promise<TRunningConsole> {
  const env = loadEnv({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    CONSOLE_ORIGIN: TEST_CONSOLE_ORIGIN,
    DATABASE_URL: database.url,
    FORMATION_DATA_DIR: consoleDir,
    FORMATION_AGENT_ALLOWLIST: operator.address,
    FORMATION_ADMINS: admin.address,
  });
  const c = await startConsole({
    env,
    // The agent replica keeps dialing one URL, so a restarted console takes the same port.
    port,
    migrate: false,
    withNext: false,
    logger: createLogger("test-console"),
    modules: [controlPlaneModule(), stateStoreModule({ syncIntervalMs: 150 })],
  });
  port = c.port;
  return c;
}

function stateOf(c: TRunningConsole | undefined): TConsoleStateStore {
  const state = c?.runtime.services.stateStore;
  if (!state) throw new Error("state store module not running");
  return state;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await database.prisma.$disconnect();
  consoleDir = await mkdtemp(join(tmpdir(), "formation-ss-console-"));
  agentDir = await mkdtemp(join(tmpdir(), "formation-ss-agent-"));
  strangerDir = await mkdtemp(join(tmpdir(), "formation-ss-stranger-"));
  running = await startTheConsole();
});

afterAll(async () => {
  await replica?.close();
  await fake?.close();
  await running?.close();
  await database?.cleanup();
  for (const dir of [consoleDir, agentDir, strangerDir])
    if (dir) await rm(dir, { recursive: true, force: true });
});

describe("state store wiring: console ⇄ agent replica", () => {
  it("replicates the agent's node record to the console and mirrors it into the database", async () => {
    // The node exists in the database through the agent gateway (admission by allow-list).
    fake = await FakeAgent.connect({ url: running?.url ?? "", account: operator });
    const nodeId = fake.welcome?.nodeId ?? "";
    await running?.runtime.db.instance.create({
      data: {
        id: "i-wiring-1",
        deploymentId: "d-wiring",
        buildId: "b-wiring",
        owner: admin.address.toLowerCase(),
        nodeId,
        status: "booting",
        desired: "running",
        imageDigest: `sha256:${"0".repeat(64)}`,
        vcpu: 1,
        memoryMb: 512,
        diskGb: 5,
      },
    });
    instances.push({ instanceId: "i-wiring-1", status: "running" });

    replica = await AgentStoreReplica.open({
      dataDir: agentDir,
      account: operator,
      consoleUrl: running?.url ?? "",
      node: () => ({
        capabilities: { accel: "tcg", region: "test" },
        capacity: { vcpu: 2, memMb: 2048, diskGb: 20 },
        metrics,
      }),
      instances: async () => instances,
      heartbeatIntervalMs: 60_000,
      instancePollMs: 100,
    });
    replica.start();
    const state = stateOf(running);

    // The agent's record reaches the console store, signed by the operator.
    const record = await eventually(
      () => {
        const v = state.store.get(nodeKey);
        return typeof v?.heartbeat === "number" ? v : undefined;
      },
      { what: "node record on the console" },
    );
    expect(record.capacity).toEqual({ vcpu: 2, memMb: 2048, diskGb: 20 });
    expect(state.store.history(nodeKey).map((h) => h.signer)).toContain(opAddr);
    // Console-owned fields reach the agent, signed by the console.
    await eventually(() => replica?.store.get(nodeKey)?.admitted === true, {
      what: "admission on the agent",
    });
    expect(replica.consoleAddress).toBe(state.store.address);

    // Mirrored into the database: metrics of the store record.
    await eventually(
      async () => {
        const row = await running?.runtime.db.node.findUnique({ where: { id: nodeId } });
        return row?.lastMetrics && JSON.parse(row.lastMetrics).cpuPct === 12.5;
      },
      { what: "metrics mirrored into the database" },
    );

    // Placement goes console → store → agent; the host's status goes agent → store → database.
    await eventually(() => replica?.store.get("instances/i-wiring-1")?.node === opAddr, {
      what: "placement on the agent",
    });
    await eventually(
      async () => {
        const row = await running?.runtime.db.instance.findUnique({ where: { id: "i-wiring-1" } });
        return row?.status === "running";
      },
      { what: "instance status mirrored" },
    );
    // formnet allocations arrive too: the agent can derive its peer list from the store.
    await eventually(() => replica?.peers().some((p) => p.publicKey === fake?.wgPublicKey), {
      what: "formnet peer in the agent's store",
    });
  });

  it("keeps writing while the console is down and the new console catches up and mirrors", async () => {
    const nodeId = fake?.welcome?.nodeId ?? "";
    await fake?.close();
    fake = undefined;
    await running?.close();
    running = undefined;
    const agent = replica;
    if (!agent) throw new Error("no replica");
    await eventually(() => !agent.isConnected(), { what: "link down" });

    metrics = { cpuPct: 77.25, memUsedMb: 300, diskUsedGb: 2, netRx: 5, netTx: 6 };
    const hash = await agent.writeNode();
    expect(hash).toBeDefined();
    const heartbeat = agent.store.get(nodeKey)?.heartbeat;
    instances[0] = { instanceId: "i-wiring-1", status: "stopped" };
    expect(await agent.writeInstances()).toBe(1);

    running = await startTheConsole();
    const state = stateOf(running);
    await eventually(() => state.store.get(nodeKey)?.heartbeat === heartbeat, {
      timeoutMs: 40_000,
      what: "catch-up of the offline writes",
    });
    expect(state.store.headsDigest()).toBe(agent.store.headsDigest());
    await eventually(
      async () => {
        const row = await running?.runtime.db.node.findUnique({ where: { id: nodeId } });
        if (!row?.lastMetrics || row.lastHeartbeatAt?.getTime() !== heartbeat) return false;
        return JSON.parse(row.lastMetrics).cpuPct === 77.25;
      },
      { what: "heartbeat and metrics mirrored after restart" },
    );
    await eventually(
      async () => {
        const row = await running?.runtime.db.instance.findUnique({ where: { id: "i-wiring-1" } });
        return row?.status === "stopped";
      },
      { what: "offline status change mirrored after restart" },
    );
  }, 60_000);

  it("refuses an unadmitted key at the WebSocket and never applies its changes", async () => {
    const url = running?.url ?? "";
    // No credentials at all: refused before the upgrade.
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${url.replace(/^http/, "ws")}/ws/store`);
      ws.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on("open", () => resolve(101));
      ws.on("error", () => undefined);
    });
    expect(status).toBe(401);

    const intruder = await AgentStoreReplica.open({
      dataDir: strangerDir,
      account: stranger,
      consoleUrl: url,
      node: () => ({ capabilities: {}, capacity: { vcpu: 64, memMb: 1, diskGb: 1 } }),
    });
    try {
      intruder.start();
      await eventually(() => intruder.dialState === "refused", { what: "stranger refused" });
      // Its own replica holds the record; the console never gets it.
      await eventually(() => intruder.store.get(`nodes/${stranger.address.toLowerCase()}`), {
        what: "stranger's local write",
      });
      const console_ = stateOf(running);
      expect(console_.store.get(`nodes/${stranger.address.toLowerCase()}`)).toBeUndefined();
      expect(console_.authorizer.rolesOf(stranger.address)).toEqual([]);
      // Relayed by someone who is connected (the store checks every change itself): refused too.
      const envelopes = intruder.store.missingFor({ t: "heads", full: true, docs: [] });
      expect(envelopes.length).toBeGreaterThan(0);
      const rejected: string[] = [];
      console_.store.on("rejected", (e: { code: string }) => rejected.push(e.code));
      await console_.store.ingest(envelopes);
      expect(rejected).toContain("unknown-signer");
      expect(console_.store.get(`nodes/${stranger.address.toLowerCase()}`)).toBeUndefined();
    } finally {
      await intruder.close();
    }
  });

  it("gives a second console on the same data dir the next replica slot and the same key", async () => {
    const first = stateOf(running);
    const env = loadEnv({
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      CONSOLE_ORIGIN: TEST_CONSOLE_ORIGIN,
      DATABASE_URL: database.url,
      FORMATION_DATA_DIR: consoleDir,
    });
    const second = await startConsole({
      env,
      port: 0,
      migrate: false,
      withNext: false,
      logger: createLogger("test-console"),
      modules: [stateStoreModule({ syncIntervalMs: 60_000 })],
    });
    try {
      const state = stateOf(second);
      expect(state.dir).toBe(join(consoleDir, "statestore-2"));
      expect(state.store.address).toBe(first.store.address);
    } finally {
      await second.close();
    }
  });

  it("serves the read API with signers to admins and operators only", async () => {
    const url = running?.url ?? "";
    const state = stateOf(running);
    const asAdmin = await siweSignIn({ url, account: admin });
    const history = await callTrpc({
      url,
      path: "state.history",
      type: "query",
      input: { key: nodeKey },
      headers: { cookie: asAdmin.cookie },
    });
    expect(history.ok).toBe(true);
    const entries = history.data as { signer: string; role: string[] }[];
    expect(entries.some((e) => e.signer === opAddr && e.role.includes("node"))).toBe(true);
    expect(entries.some((e) => e.signer === state.store.address && e.role.includes("console"))).toBe(true);

    const asOperator = await siweSignIn({ url, account: operator });
    const list = await callTrpc({
      url,
      path: "state.list",
      type: "query",
      input: { kind: "nodes" },
      headers: { cookie: asOperator.cookie },
    });
    expect(list.ok).toBe(true);
    expect((list.data as { key: string }[]).map((e) => e.key)).toContain(nodeKey);

    const asStranger = await siweSignIn({ url, account: stranger });
    const denied = await callTrpc({
      url,
      path: "state.get",
      type: "query",
      input: { key: nodeKey },
      headers: { cookie: asStranger.cookie },
    });
    expect(denied.appCode).toBe("FORBIDDEN");
  });
});
