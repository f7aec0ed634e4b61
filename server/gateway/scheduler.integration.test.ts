import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDatabase } from "@/server/db/client";
import {
  completeBoot,
  completeBuild,
  completeInstanceJob,
  sha256Digest,
} from "@/server/testing/agent-actions";
import { eventually, FakeAgent, type TOffer } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";

const operators = [privateKeyToAccount(generatePrivateKey()), privateKeyToAccount(generatePrivateKey())];
const owner = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
let platform: TTestPlatform;
const agents: FakeAgent[] = [];

beforeEach(async () => {
  platform = await startTestPlatform({ operators: operators.map((o) => o.address) });
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
  await platform.close();
});

/** An agent that builds, boots and runs instance jobs automatically. */
async function autoAgent(
  i: number,
  extra: Partial<Parameters<typeof FakeAgent.connect>[0]> = {},
): Promise<FakeAgent> {
  const a = await FakeAgent.connect({
    url: platform.url,
    account: operators[i % 2] ?? operators[0]!,
    onOffer: async (offer: TOffer, agent) => {
      if (offer.kind === "build") await completeBuild({ url: platform.url, agent, offer });
      else if (offer.kind === "boot") completeBoot(agent, offer);
      else completeInstanceJob(agent, offer);
    },
    ...extra,
  });
  agents.push(a);
  return a;
}

async function builtBuild(name = "web") {
  const context = randomBytes(128);
  const dto = await platform.services.builds.create({
    owner,
    formfile: testFormfile(name),
    context,
    contextDigest: sha256Digest(context),
  });
  await eventually(async () => (await platform.repos.builds.find(dto.buildId))?.status === "built", {
    what: "build to finish",
  });
  return dto.buildId;
}

const running = async (buildId: string) =>
  (await platform.services.deploymentViews.instances({ owner, buildId })).filter(
    (i) => i.status === "running",
  );

describe("scheduler", () => {
  it("places 3 replicas on distinct nodes and reschedules when a node dies; extras go when it returns", async () => {
    const fleet = [await autoAgent(0), await autoAgent(1), await autoAgent(2)];
    const buildId = await builtBuild();
    const shipped = await platform.services.deployments.ship({ owner, buildId });
    expect(shipped.notice).toBeNull();
    expect(new Set(shipped.instances.map((i) => i.nodeId)).size).toBe(3);
    const up = await eventually(async () => {
      const r = await running(buildId);
      return r.length === 3 ? r : null;
    });
    expect(new Set(up.map((i) => i.formnetIp)).size).toBe(3);
    expect((await platform.repos.builds.find(buildId))?.status).toBe("running");

    // A fourth node joins, then a node hosting a replica dies without a goodbye.
    const spare = await autoAgent(3);
    const victim = fleet[0]!;
    const lostId = up.find((i) => i.nodeId === victim.nodeId)?.instanceId;
    await victim.kill();
    agents.splice(agents.indexOf(victim), 1);
    const moved = await eventually(
      async () => {
        const r = await running(buildId);
        return r.length === 3 && r.some((i) => i.nodeId === spare.nodeId) ? r : null;
      },
      { timeoutMs: 15_000, what: "replica rescheduled onto the spare node" },
    );
    expect(moved.some((i) => i.nodeId === victim.nodeId)).toBe(false);
    const lost = await platform.repos.instances.find(lostId ?? "");
    expect(lost).toMatchObject({ status: "lost", reason: expect.stringMatching(/offline/) });
    expect((await platform.repos.nodes.find(victim.nodeId))?.status).toBe("offline");

    // The dead node comes back still running its old VM: the surplus replica is deleted there.
    const back = await autoAgent(0, {
      wgPublicKey: victim.wgPublicKey,
      instances: [{ instanceId: lostId ?? "", status: "running" }],
    });
    await back.waitFor(
      (m) => m.type === "job.offer" && m.kind === "delete" && m.payload.instanceId === lostId,
    );
    await eventually(async () => (await platform.repos.instances.find(lostId ?? ""))?.status === "deleted");
    expect((await running(buildId)).length).toBe(3);
  });

  it("keeps a stopped replica whose node went offline (no running replacement) and stops it again if it returns running", async () => {
    const fleet = [await autoAgent(0), await autoAgent(1)];
    const buildId = await builtBuild();
    await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    const [inst] = await eventually(async () => {
      const r = await running(buildId);
      return r.length === 1 ? r : null;
    });
    const id = inst?.instanceId ?? "";
    await platform.services.deployments.act({ owner, instanceId: id, action: "stop" });
    await eventually(async () => (await platform.repos.instances.find(id))?.status === "stopped");

    // Its node dies; the replica is lost with it, and the other node gets nothing to boot.
    const index = fleet.findIndex((a) => a.nodeId === inst?.nodeId);
    const victim = fleet[index];
    if (!victim) throw new Error("no agent hosts the replica");
    await victim.kill();
    agents.splice(agents.indexOf(victim), 1);
    await eventually(async () => (await platform.repos.instances.find(id))?.status === "lost", {
      timeoutMs: 15_000,
      what: "the stopped replica lost with its node",
    });

    // The node returns with the VM up (its stop never took effect there): it is stopped again.
    const back = await autoAgent(index, {
      wgPublicKey: victim.wgPublicKey,
      instances: [{ instanceId: id, status: "running" }],
    });
    await back.waitFor((m) => m.type === "job.offer" && m.kind === "stop" && m.payload.instanceId === id);
    await eventually(async () => (await platform.repos.instances.find(id))?.status === "stopped");
    const rows = (await platform.repos.instances.byDeployment(inst?.deploymentId ?? "")).filter(
      (i) => i.status !== "deleted",
    );
    expect(rows.map((r) => [r.id, r.status, r.desired])).toEqual([[id, "stopped", "stopped"]]);

    // Once more, and this time its VM went down while the node was away (the guest's shutdown
    // finished with no agent watching, so the agent lists it as failed): stopped, not replaced.
    await back.kill();
    agents.splice(agents.indexOf(back), 1);
    await eventually(async () => (await platform.repos.instances.find(id))?.status === "lost", {
      timeoutMs: 15_000,
      what: "the stopped replica lost with its node again",
    });
    await autoAgent(index, {
      wgPublicKey: victim.wgPublicKey,
      instances: [{ instanceId: id, status: "failed" }],
    });
    await eventually(async () => (await platform.repos.instances.find(id))?.status === "stopped", {
      what: "the replica whose VM went down while its node was away recorded as stopped",
    });
    const after = (await platform.repos.instances.byDeployment(inst?.deploymentId ?? "")).filter(
      (i) => i.status !== "deleted",
    );
    expect(after.map((r) => [r.id, r.status, r.desired])).toEqual([[id, "stopped", "stopped"]]);
  });

  it("has the node a replacement would go to prefetch the image, and heals onto it", async () => {
    const fleet = [await autoAgent(0), await autoAgent(1)];
    const buildId = await builtBuild();
    const build = await platform.repos.builds.find(buildId);
    const shipped = await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    const host = shipped.instances[0]?.nodeId;
    const standby = fleet.find((a) => a.nodeId !== host);
    if (!standby || !host) throw new Error("expected one host and one standby");
    // The standby is asked to fetch the image (by digest, from the console) before any failure.
    const offer = await standby.waitFor((m) => m.type === "job.offer" && m.kind === "prefetch", 10_000);
    expect(offer).toMatchObject({ payload: { imageDigest: build?.imageDigest } });
    expect(
      fleet
        .find((a) => a.nodeId === host)
        ?.received.some((m) => m.type === "job.offer" && m.kind === "prefetch"),
    ).toBe(false);
    await eventually(async () => (await running(buildId)).length === 1);

    // The host dies: the replacement goes to the node that holds the image already.
    const victim = fleet.find((a) => a.nodeId === host);
    await victim?.kill();
    agents.splice(agents.indexOf(victim as FakeAgent), 1);
    const healed = await eventually(
      async () => {
        const r = await running(buildId);
        return r.length === 1 && r[0]?.nodeId === standby.nodeId ? r : null;
      },
      { timeoutMs: 15_000, what: "the replica healed onto the standby" },
    );
    expect(healed[0]?.nodeId).toBe(standby.nodeId);
  });

  it("places what it can when fewer nodes than replicas exist, and says so", async () => {
    await autoAgent(0);
    await autoAgent(1);
    const buildId = await builtBuild();
    const shipped = await platform.services.deployments.ship({ owner, buildId, replicas: 3 });
    expect(shipped.instances).toHaveLength(2);
    expect(shipped.deployment).toMatchObject({ replicas: 3, placed: 2, waiting: 1 });
    expect(shipped.notice).toMatch(/^waiting for another node: replicas go on distinct nodes/);
    expect(shipped.deployment.waitingReason).toBe(shipped.notice);
    await eventually(async () => (await running(buildId)).length === 2);
    // A third node joining fills the gap on the next reconcile.
    await autoAgent(2);
    await eventually(async () => (await running(buildId)).length === 3, { timeoutMs: 10_000 });
    const dep = await platform.repos.deployments.findByName({ owner, name: "web" });
    expect(dep?.notice).toBeNull();
    const [listed] = await platform.services.deploymentViews.deployments({ owner });
    expect(listed).toMatchObject({ replicas: 3, placed: 3, running: 3, waiting: 0, waitingReason: null });
  });

  it("says what a waiting replica needs: 'waiting for capacity: needs 512 MB memory, largest free 256 MB'", async () => {
    await autoAgent(0, { capacity: { vcpu: 4, memoryMb: 256, diskGb: 100 } });
    const buildId = await builtBuild();
    const shipped = await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    expect(shipped.instances).toHaveLength(0);
    expect(shipped.deployment).toMatchObject({ replicas: 1, placed: 0, waiting: 1 });
    expect(shipped.deployment.waitingReason).toBe(
      "waiting for capacity: needs 512 MB memory, largest free 256 MB",
    );
  });

  it("stops, starts and deletes instances on their node, and rolls back to an earlier build", async () => {
    await autoAgent(0);
    const v1 = await builtBuild();
    await platform.services.deployments.ship({ owner, buildId: v1, replicas: 1 });
    const [inst] = await eventually(async () => {
      const r = await running(v1);
      return r.length === 1 ? r : null;
    });
    const id = inst?.instanceId ?? "";
    await platform.services.deployments.act({ owner, instanceId: id, action: "stop" });
    await eventually(async () => (await platform.repos.instances.find(id))?.status === "stopped");
    await platform.services.deployments.act({ owner, instanceId: id, action: "start" });
    await eventually(async () => (await platform.repos.instances.find(id))?.status === "running");
    await expect(
      platform.services.deployments.act({
        owner: "0x0000000000000000000000000000000000000001",
        instanceId: id,
        action: "stop",
      }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });

    // v2 of the same NAME replaces v1, then rollback brings v1 back.
    const v2 = await builtBuild();
    expect(v2).not.toBe(v1);
    await platform.services.deployments.ship({ owner, buildId: v2, replicas: 1 });
    await eventually(async () => (await running(v2)).length === 1 && (await running(v1)).length === 0);
    const rolled = await platform.services.deployments.rollback({ owner, name: "web", buildId: v1 });
    expect(rolled.deployment.buildId).toBe(v1);
    await eventually(async () => (await running(v1)).length === 1 && (await running(v2)).length === 0);
  });

  it("a node that declines builds while busy delays them, never fails them", async () => {
    // The agent is "busy" for its first three build offers (as at its concurrency limit), then builds.
    let declines = 0;
    await autoAgent(0, {
      onOffer: async (offer: TOffer, agent) => {
        if (offer.kind === "build" && declines < 3) {
          declines += 1;
          agent.send({ type: "job.decline", jobId: offer.jobId, reason: "at its concurrency limit" });
          return;
        }
        if (offer.kind === "build") await completeBuild({ url: platform.url, agent, offer });
      },
    });
    const context = randomBytes(128);
    const dto = await platform.services.builds.create({
      owner,
      formfile: testFormfile("web"),
      context,
      contextDigest: sha256Digest(context),
    });
    // Backed off 1 + 2 + 4 s between the declines (builds allow 3 attempts: declines used to burn them).
    const status = await eventually(
      async () => {
        const row = await platform.repos.builds.find(dto.buildId);
        return row?.status === "built" || row?.status === "failed" ? row.status : null;
      },
      { what: "build to finish", timeoutMs: 30_000 },
    );
    expect(status).toBe("built");
    expect(declines).toBe(3);
  }, 60_000);

  it("deletes a whole deployment in one call: every replica goes, none is placed on the freed node", async () => {
    await autoAgent(0);
    const buildId = await builtBuild();
    // 3 wanted on a 1-node network: 1 runs, 2 wait for capacity.
    const shipped = await platform.services.deployments.ship({ owner, buildId, replicas: 3 });
    const depId = shipped.deployment.deploymentId;
    const [first] = await eventually(async () => {
      const r = await running(buildId);
      return r.length === 1 ? r : null;
    });
    await expect(
      platform.services.deployments.deleteDeployment({
        owner: "0x0000000000000000000000000000000000000001",
        deploymentId: depId,
      }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });

    const deleted = await platform.services.deployments.deleteDeployment({ owner, deploymentId: depId });
    expect(deleted).toEqual({ deploymentId: depId, name: "web", deletedInstances: [first?.instanceId] });
    await eventually(
      async () => (await platform.repos.instances.find(first?.instanceId ?? ""))?.status === "deleted",
    );
    // The freed node is a candidate again, yet a reconcile places nothing: the deployment wants 0.
    await platform.services.reconciler.reconcile(depId);
    const live = (await platform.repos.instances.byDeployment(depId)).filter((i) => i.desired !== "deleted");
    expect(live).toEqual([]);
    expect(await platform.services.deploymentViews.deployments({ owner })).toEqual([]);
    // Shipping the name again starts it over.
    const again = await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    expect(again.deployment.deploymentId).toBe(depId);
    await eventually(async () => (await running(buildId)).length === 1);
  });

  it("fails a replica that does not boot within the boot deadline and places it elsewhere", async () => {
    await platform.close();
    platform = await startTestPlatform({
      operators: operators.map((o) => o.address),
      config: { bootTimeoutMs: 1_500 },
    });
    const builder = await autoAgent(0);
    const buildId = await builtBuild();
    await builder.close();
    agents.splice(0);
    // This node acks boots (and heartbeats) but never finishes them.
    const stuck = await FakeAgent.connect({
      url: platform.url,
      account: operators[1] ?? operators[0]!,
      onOffer: (offer, agent) => agent.send({ type: "job.ack", jobId: offer.jobId }),
    });
    agents.push(stuck);
    const shipped = await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    const first = shipped.instances[0]?.instanceId ?? "";
    const failed = await eventually(async () => {
      const row = await platform.repos.instances.find(first);
      return row?.status === "failed" || row?.status === "deleted" ? row : null;
    });
    expect(failed.reason).toMatch(/boot did not finish within 1.5 s/);
    await stuck.waitFor((m) => m.type === "job.cancel");
    const good = await autoAgent(0);
    const replaced = await eventually(async () => {
      const r = await running(buildId);
      return r.length === 1 ? r : null;
    });
    expect(replaced[0]?.nodeId).toBe(good.nodeId);
  });

  it("gives a replica that boots again long after its placement (a crash restart) the whole boot deadline", async () => {
    const agent = await autoAgent(0);
    const buildId = await builtBuild();
    await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    const [replica] = await eventually(async () => {
      const r = await running(buildId);
      return r.length === 1 ? r : null;
    });
    const id = replica?.instanceId ?? "";
    const db = createDatabase(platform.databaseUrl);
    const hourAgo = new Date(Date.now() - 3600_000);
    try {
      // Placed and booted an hour ago.
      await db.instance.update({ where: { id }, data: { createdAt: hourAgo, bootStartedAt: hourAgo } });
      // Its QEMU died and the agent is starting it again (its heartbeats list it as booting too,
      // else a beat between the report and the check would make it running again).
      agent.instances.set(id, "booting");
      agent.send({ type: "instance.status", instanceId: id, status: "booting", reason: "restarting it" });
      await eventually(async () => (await platform.repos.instances.find(id))?.status === "booting");
      expect(await platform.services.reconciler.sweepBootDeadlines(60_000)).toBe(0);
      expect((await platform.repos.instances.find(id))?.status).toBe("booting");
      // The deadline still holds for that boot: one that never finishes fails.
      await db.instance.update({ where: { id }, data: { bootStartedAt: hourAgo } });
      expect(await platform.services.reconciler.sweepBootDeadlines(60_000)).toBe(1);
      const failed = await platform.repos.instances.find(id);
      expect([failed?.status, failed?.reason]).toEqual([
        "failed",
        `boot did not finish within 60 s of its start (still booting on node ${agent.nodeId})`,
      ]);
    } finally {
      await db.$disconnect();
    }
  });

  it("stops placing replicas of an image that fails every boot, and starts again on a new ship", async () => {
    const builder = await autoAgent(0);
    const buildId = await builtBuild();
    await builder.close();
    agents.splice(0);
    // This node's boots all fail (its image cannot be fetched); deletes finish at once, so the
    // failed replicas leave no "failed" rows behind to count.
    let boots = 0;
    const broken = await FakeAgent.connect({
      url: platform.url,
      account: operators[1] ?? operators[0]!,
      onOffer: (offer, agent) => {
        if (offer.kind !== "boot") return completeInstanceJob(agent, offer);
        boots += 1;
        agent.send({ type: "job.ack", jobId: offer.jobId });
        agent.send({ type: "job.fail", jobId: offer.jobId, reason: "GET image answered 404" });
      },
    });
    agents.push(broken);
    const shipped = await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    const deploymentId = shipped.deployment.deploymentId;
    const stopped = await eventually(async () => {
      const dep = await platform.repos.deployments.find(deploymentId);
      return dep?.notice?.startsWith("stopped placing replicas") ? dep : null;
    });
    expect(stopped.notice).toMatch(/after 3 failed boots; last reason: boot failed: GET image answered 404/);
    // Once every failed replica is deleted on its node, later passes still place nothing.
    await eventually(async () =>
      (await platform.repos.instances.byDeployment(deploymentId)).every((i) => i.status === "deleted"),
    );
    await platform.services.reconciler.reconcileAll();
    await platform.services.reconciler.reconcileAll();
    expect(boots).toBe(3);
    expect((await platform.repos.deployments.find(deploymentId))?.notice).toBe(stopped.notice);

    // Shipping again (e.g. after the operator fixed the node) tries again.
    await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    await eventually(() => boots > 3);
  });

  it("gives agents time to reconnect after a console outage longer than the offline threshold: nothing is replaced", async () => {
    const fleet = [await autoAgent(0), await autoAgent(1)];
    const buildId = await builtBuild();
    await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    const before = await eventually(async () => {
      const r = await running(buildId);
      return r.length === 1 ? r : null;
    });
    const host = fleet.find((a) => a.nodeId === before[0]?.nodeId);
    if (!host) throw new Error("no agent hosts the replica");
    for (const a of agents.splice(0)) await a.close();
    // The console stays down for a minute (its agents' last heartbeats are that old when it returns).
    await platform.restart({
      whileDown: async (url) => {
        const db = createDatabase(url);
        await db.node.updateMany({ data: { lastHeartbeatAt: new Date(Date.now() - 60_000) } });
        await db.$disconnect();
      },
    });
    // The sweeper's first round after the restart: nobody is offline yet (the agents get the
    // offline threshold to reconnect), though every last heartbeat is a minute old.
    expect(await platform.services.nodes.sweepOffline()).toEqual([]);
    const back = await autoAgent(fleet.indexOf(host), {
      wgPublicKey: host.wgPublicKey,
      instances: [...host.instances].map(([instanceId, status]) => ({ instanceId, status })),
    });
    expect(back.nodeId).toBe(host.nodeId);
    await eventually(async () => (await platform.repos.nodes.find(host.nodeId))?.status === "online");
    const replicas = await platform.repos.instances.byDeployment(before[0]?.deploymentId ?? "");
    expect(replicas.map((i) => [i.id, i.status])).toEqual([[before[0]?.instanceId, "running"]]);
  });

  it("loses nothing across a console restart", async () => {
    const a = await autoAgent(0);
    const buildId = await builtBuild();
    await platform.services.deployments.ship({ owner, buildId, replicas: 1 });
    const before = await eventually(async () => {
      const r = await running(buildId);
      return r.length === 1 ? r : null;
    });
    // A build queued while no console runs must survive too.
    const context = randomBytes(64);
    a.send({
      type: "heartbeat",
      seq: 999,
      metrics: { cpuPct: 1, memUsedMb: 1, diskUsedGb: 1, netRx: 0, netTx: 0 },
      instances: [],
    });
    await a.close();
    agents.splice(0);
    const queued = await platform.services.builds.create({
      owner,
      formfile: testFormfile("later"),
      context,
      contextDigest: sha256Digest(context),
    });
    await platform.restart();
    const again = await autoAgent(0, {
      wgPublicKey: a.wgPublicKey,
      instances: [...a.instances].map(([instanceId, status]) => ({ instanceId, status })),
    });
    expect(again.nodeId).toBe(a.nodeId);
    expect(again.welcome?.formnet.address).toBe(a.welcome?.formnet.address);
    await eventually(async () => (await platform.repos.builds.find(queued.buildId))?.status === "built");
    const after = await running(buildId);
    expect(after.map((i) => [i.instanceId, i.formnetIp])).toEqual(
      before.map((i) => [i.instanceId, i.formnetIp]),
    );
  });
});
