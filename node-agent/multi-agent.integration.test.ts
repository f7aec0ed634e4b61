import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packContext } from "@/core/context";
import type { TFormfile } from "@/lib/formfile/canonical";
import type { TInstanceRow } from "@/server/db/repositories/instances-repository";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";
import { DEFAULT_CACHE_DIR } from "./config/schema";
import { readStatusFile } from "./config/status-file";
import {
  cleanBuilderCache,
  createFleetAgent,
  hashAgentImage,
  killFleetAgent,
  startFleetAgent,
  type TFleetAgent,
  teardownFleet,
  waitForNodeId,
} from "./testing/agent-fleet";

/**
 * Issue #5's "done when" with real agent processes: four real `node-agent run` daemons (own data
 * dir, bridge, formnet port, operator key) on one real console. One image build survives its
 * agent being SIGKILLed mid-build; three replicas boot as real QEMU VMs on three distinct nodes
 * from the same digest while the console restarts underneath them; an agent SIGKILLed afterwards
 * loses its replica to a fourth node, and when it returns its now-surplus replica is deleted.
 * The scenarios run in order on one fleet: every VM boot costs ~25-60 s of TCG on 2 cores.
 */
const OWNER = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
/** One replica per node: the Formfile asks for 1 vCPU, each node offers 1. */
const CAPACITY = { vcpu: 1, memoryMb: 1024, diskGb: 10 };
const OFFLINE_AFTER_MS = 8_000;
const basePort = 41_000 + Math.floor(Math.random() * 10_000);

let platform: TTestPlatform;
const agents: TFleetAgent[] = [];
const nodeIds = new Map<TFleetAgent, string>();
let buildId = "";
let imageDigest: string | undefined;
let deploymentId = "";

function agent(name: string): TFleetAgent {
  const found = agents.find((a) => a.name === name);
  if (!found) throw new Error(`no agent ${name}`);
  return found;
}

function nodeOf(a: TFleetAgent): string {
  const id = nodeIds.get(a);
  if (!id) throw new Error(`agent ${a.name} has no node id yet`);
  return id;
}

async function start(a: TFleetAgent): Promise<void> {
  await startFleetAgent(a);
  nodeIds.set(a, await waitForNodeId(a));
}

async function instances(): Promise<TInstanceRow[]> {
  return (await platform.repos.instances.byDeployment(deploymentId))
    .filter((i) => i.desired !== "deleted")
    .sort((x, y) => x.id.localeCompare(y.id));
}

function sshBanner(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: 22 });
    socket.setTimeout(60_000, () => socket.destroy(new Error(`no SSH banner from ${host} within 60 s`)));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString("latin1").trim());
    });
    socket.once("error", reject);
  });
}

beforeAll(async () => {
  platform = await startTestPlatform({
    admitAll: true,
    config: {
      heartbeatIntervalMs: 1_000,
      offlineAfterMs: OFFLINE_AFTER_MS,
      leaseMs: 8_000,
      ackTimeoutMs: 5_000,
      sweepIntervalMs: 250,
      handshakeTimeoutMs: 10_000,
      metricsSampleMs: 5_000,
    },
  });
  for (const [i, name] of ["a", "b", "c", "d"].entries()) {
    agents.push(
      await createFleetAgent({
        name,
        consoleUrl: platform.url,
        capacity: CAPACITY,
        formnetPort: basePort + i,
      }),
    );
  }
  // d joins later, as the spare node that takes over a lost replica.
  // allSettled: a failed start must not leave the other agents starting unseen by the teardown.
  const started = await Promise.allSettled(["a", "b", "c"].map((n) => start(agent(n))));
  for (const s of started) if (s.status === "rejected") throw s.reason;
});

afterAll(async () => {
  await teardownFleet(agents);
  if (buildId) await cleanBuilderCache({ cacheDir: DEFAULT_CACHE_DIR, imageDigest });
  await platform?.close();
});

describe.sequential("three real agents on one console", () => {
  it("an agent SIGKILLed mid-build: the lease lapses, another agent builds the same job once", async () => {
    const contextDir = await mkdtemp(join(tmpdir(), "fleet-ctx-"));
    // A fresh file per run so the shared builder cache misses and the build really runs.
    await writeFile(join(contextDir, "nonce"), randomBytes(16).toString("hex"));
    const formfile: TFormfile = {
      ...testFormfile("fleet"),
      steps: [{ kind: "copy", src: "nonce", dst: "/srv/nonce", line: 2 }],
    };
    const packed = await packContext({ dir: contextDir, formfile });
    await rm(contextDir, { recursive: true, force: true });
    const build = await platform.services.builds.create({
      owner: OWNER,
      formfile,
      context: packed.tarGz,
      contextDigest: packed.digest,
    });
    buildId = build.buildId;
    const db = platform.console.runtime.db;
    const buildJob = async () => {
      const jobs = await db.job.findMany({ where: { buildId, kind: "build" } });
      expect(jobs).toHaveLength(1);
      const [job] = jobs;
      if (!job) throw new Error("no build job");
      return job;
    };
    await expect
      .poll(async () => ((await buildJob()).phase === "building" ? (await buildJob()).nodeId : null), {
        timeout: 120_000,
        interval: 100,
      })
      .toBeTruthy();
    const first = await buildJob();
    const victim = agents.find((a) => nodeIds.get(a) === first.nodeId);
    if (!victim) throw new Error(`build leased to unknown node ${first.nodeId}`);
    await killFleetAgent(victim);

    await expect
      .poll(async () => (await buildJob()).state, { timeout: 180_000, interval: 500 })
      .toMatch(/^(done|failed|cancelled)$/);
    const job = await buildJob();
    expect(job.state, job.error ?? "").toBe("done");
    expect(job.attempts).toBe(2);
    expect(job.nodeId).not.toBe(first.nodeId);
    // The job row is done first; the build service then records the image (a job listener).
    await expect
      .poll(async () => (await platform.repos.builds.find(buildId))?.status, { timeout: 30_000 })
      .toBe("built");
    const built = await platform.repos.builds.find(buildId);
    imageDigest = built?.imageDigest ?? undefined;
    expect(imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The user sees the re-queue and its reason in the build's timeline, and one completion.
    const phases = JSON.parse(built?.timeline ?? "[]") as { phase: string; message?: string }[];
    expect(phases.map((p) => p.phase)).toEqual([
      "queued",
      "claimed",
      "building",
      "queued",
      "claimed",
      "building",
      "built",
    ]);
    expect(phases[3]?.message).toBe(`lease on node ${first.nodeId} expired (agent silent)`);

    // The killed agent comes back with the interrupted job in its records: it must not build again
    // nor disturb the finished job.
    const restartedAt = new Date();
    await start(victim);
    const restarted = victim.process;
    // Past its welcome and a heartbeat, the console has seen the agent's job list and answered it.
    await expect
      .poll(async () => (await platform.repos.nodes.find(nodeOf(victim)))?.lastHeartbeatAt, {
        timeout: 30_000,
      })
      .toSatisfy((at: Date | null | undefined) => at !== null && at !== undefined && at > restartedAt);
    const after = await buildJob();
    expect(after.state).toBe("done");
    expect(after.attempts).toBe(2);
    expect((await platform.repos.builds.find(buildId))?.imageDigest).toBe(imageDigest);
    expect(restarted?.lines.some((l) => l.jobId === job.id && l.msg === "job accepted")).toBe(false);
  });

  it("ships 3 replicas onto 3 nodes from one digest; a console restart mid-boot loses nothing", async () => {
    expect(imageDigest).toBeDefined();
    const shipped = await platform.services.deployments.ship({ owner: OWNER, buildId, replicas: 3 });
    deploymentId = shipped.deployment.deploymentId;
    expect(shipped.notice).toBeNull();
    const placed = await instances();
    expect(placed).toHaveLength(3);
    const trio = ["a", "b", "c"].map(agent);
    expect(new Set(placed.map((i) => i.nodeId))).toEqual(new Set(trio.map(nodeOf)));
    expect(new Set(placed.map((i) => i.imageDigest))).toEqual(new Set([imageDigest]));

    // Mid-deployment: every agent holds the image (digest-verified download or its own build) and
    // is booting its VM. Restart the console now, on the same port the agents dial.
    await Promise.all(
      trio.map((a) =>
        a.process?.waitForLog(
          (l) => l.msg === "image ready" && placed.some((i) => i.id === l.instanceId),
          180_000,
        ),
      ),
    );
    const before = placed.map((i) => ({ id: i.id, nodeId: i.nodeId, formnetIp: i.formnetIp }));
    // The restart must really fall mid-deployment: some replica still boots (sshd not answering).
    expect((await instances()).some((i) => i.status !== "running")).toBe(true);
    await platform.restart({ keepPort: true });
    for (const a of trio) {
      await expect
        .poll(() => platform.services.agents.isConnected(nodeOf(a)), { timeout: 60_000 })
        .toBe(true);
    }
    await expect
      .poll(async () => (await instances()).map((i) => i.status), { timeout: 300_000, interval: 1_000 })
      .toEqual(["running", "running", "running"]);
    const after = await instances();
    expect(after.map((i) => ({ id: i.id, nodeId: i.nodeId, formnetIp: i.formnetIp }))).toEqual(before);
    expect((await platform.repos.deployments.find(deploymentId))?.buildId).toBe(buildId);

    // All replicas run the same bytes: each node's stored image hashes to the build's digest.
    for (const a of trio) expect(await hashAgentImage(a, imageDigest ?? "")).toBe(imageDigest);
    for (const i of after) expect(await sshBanner(i.formnetIp ?? "")).toMatch(/^SSH-2\.0-/);
  });

  it("a SIGKILLed agent's replica moves to a new node with the reason shown; on return its extra replica goes", async () => {
    const c = agent("c");
    const d = agent("d");
    const lostId = (await instances()).find((i) => i.nodeId === nodeOf(c))?.id;
    if (!lostId) throw new Error("no replica on c");
    // The agent dies; its VM keeps running (a partitioned or crashed agent, not a dead host).
    await killFleetAgent(c);
    await expect
      .poll(async () => (await platform.repos.instances.find(lostId))?.status, {
        timeout: OFFLINE_AFTER_MS + 30_000,
      })
      .toBe("lost");
    const lost = await platform.repos.instances.find(lostId);
    expect(lost?.reason).toContain(`node ${nodeOf(c)} offline`);
    // Only 3 nodes and both healthy ones already host a replica: the console says why it cannot place.
    await expect
      .poll(async () => (await platform.repos.deployments.find(deploymentId))?.notice, {
        timeout: 30_000,
      })
      .toMatch(
        /^waiting for another node: replicas go on distinct nodes and all 2 healthy node\(s\) already host one/,
      );

    // A fourth node joins: the missing replica lands there and boots.
    await start(d);
    await expect
      .poll(
        async () =>
          (await instances()).filter((i) => i.nodeId === nodeOf(d) && i.status === "running").length,
        { timeout: 300_000, interval: 1_000 },
      )
      .toBe(1);
    const replacement = (await instances()).find((i) => i.nodeId === nodeOf(d));
    expect(replacement?.imageDigest).toBe(imageDigest);
    expect(await hashAgentImage(d, imageDigest ?? "")).toBe(imageDigest);
    expect(await sshBanner(replacement?.formnetIp ?? "")).toMatch(/^SSH-2\.0-/);
    expect((await platform.repos.deployments.find(deploymentId))?.notice).toBeNull();

    // c returns still running its old VM: that replica is now surplus and is deleted.
    await start(c);
    await expect
      .poll(async () => (await platform.repos.instances.find(lostId))?.status, {
        timeout: 120_000,
      })
      .toBe("deleted");
    expect((await platform.repos.instances.find(lostId))?.reason).toBe("replaced while its node was offline");
    // …for real: the VM is gone from c's hypervisor, not only from the console's books.
    await expect
      .poll(async () => (await readStatusFile(join(c.dataDir, "status.json")))?.instances.length, {
        timeout: 60_000,
      })
      .toBe(0);
    const final = await instances();
    expect(final.map((i) => i.status)).toEqual(["running", "running", "running"]);
    expect(new Set(final.map((i) => i.nodeId))).toEqual(
      new Set(["a", "b", "d"].map((n) => nodeOf(agent(n)))),
    );
  });
});
