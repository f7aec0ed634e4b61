import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROTOCOL_VERSION, SUSPEND_MIN_PROTOCOL } from "@/lib/protocol";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { completeEveryJob, sha256Digest } from "@/server/testing/agent-actions";
import { eventually, FakeAgent, type TOffer } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";

// `instances.stop {suspend: true}` (issue #25): the stop job asks the node to keep the guest's
// memory, only of agents that speak protocol 7; an older node's instance is refused before anything
// changes. A suspended replica is placed like a stopped one: not replaced, not failed, kept while
// its node is away and suspended again (not shut down) if it comes back up.

const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
let platform: TTestPlatform;
const agents: FakeAgent[] = [];

beforeEach(async () => {
  platform = await startTestPlatform({ operators: [operator.address] });
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
  await platform.close();
});

async function agent(extra: Partial<Parameters<typeof FakeAgent.connect>[0]> = {}): Promise<FakeAgent> {
  const a = await FakeAgent.connect({
    url: platform.url,
    account: operator,
    onOffer: completeEveryJob(platform.url),
    ...extra,
  });
  agents.push(a);
  return a;
}

async function stop(instanceId: string, suspend?: boolean) {
  const params = suspend === undefined ? { instanceId } : { instanceId, suspend };
  const input = await signAction(owner, {
    action: "instance.stop",
    params,
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  const call = () => callTrpc({ url: platform.url, path: "instances.stop", type: "mutation", input });
  return { call, result: await call() };
}

/** Ships a build as `replicas` replicas and waits until they all run; returns the instance rows. */
async function shipRunning(replicas: number) {
  const context = randomBytes(64);
  const build = await platform.services.builds.create({
    owner: owner.address,
    formfile: testFormfile("sleepy"),
    context,
    contextDigest: sha256Digest(context),
  });
  await eventually(async () => (await platform.repos.builds.find(build.buildId))?.status === "built");
  const shipped = await platform.services.deployments.ship({
    owner: owner.address,
    buildId: build.buildId,
    replicas,
  });
  const deploymentId = shipped.deployment.deploymentId;
  return eventually(async () => {
    const rows = await platform.repos.instances.byDeployment(deploymentId);
    return rows.length === replicas && rows.every((r) => r.status === "running") ? rows : null;
  });
}

const stopOffers = (a: FakeAgent, instanceId: string) =>
  a.received.filter(
    (m): m is TOffer => m.type === "job.offer" && m.kind === "stop" && m.payload.instanceId === instanceId,
  );
const status = async (id: string) => (await platform.repos.instances.find(id))?.status;

describe("instances.stop with suspend", () => {
  it("sends suspend to a protocol-7 agent (suspended, then resumed) and refuses an older agent's instance with nothing changed", async () => {
    expect(PROTOCOL_VERSION).toBeGreaterThanOrEqual(SUSPEND_MIN_PROTOCOL);
    const current = await agent();
    const older = await agent({ protocolVersion: SUSPEND_MIN_PROTOCOL - 1 });
    const rows = await shipRunning(2);
    const onCurrent = rows.find((r) => r.nodeId === current.nodeId);
    const onOlder = rows.find((r) => r.nodeId === older.nodeId);
    if (!onCurrent || !onOlder) throw new Error("expected one replica on each node");

    // The older agent's instance: a clear refusal, and the instance, its jobs and the signed
    // request's nonce are untouched (the same envelope is refused for the same reason, not reused).
    const refused = await stop(onOlder.id, true);
    expect(refused.result.appCode).toBe("PRECONDITION_FAILED");
    expect(refused.result.message).toMatch(
      new RegExp(`runs an older node agent \\(protocol ${SUSPEND_MIN_PROTOCOL - 1}\\) that cannot suspend`),
    );
    expect(refused.result.message).toContain("nothing was changed");
    expect(await platform.repos.instances.find(onOlder.id)).toMatchObject({
      status: "running",
      desired: "running",
    });
    expect(await platform.repos.jobs.latestForInstance(onOlder.id, "stop")).toBeNull();
    expect((await refused.call()).appCode).toBe("PRECONDITION_FAILED");
    expect(stopOffers(older, onOlder.id)).toEqual([]);

    // The current agent's instance: the stop job carries suspend, and the replica is suspended.
    const accepted = await stop(onCurrent.id, true);
    expect(accepted.result.ok).toBe(true);
    expect(accepted.result.data).toMatchObject({ status: "stopping", desired: "stopped" });
    const offer = await current.waitFor(
      (m) => m.type === "job.offer" && m.kind === "stop" && m.payload.instanceId === onCurrent.id,
    );
    expect(offer).toMatchObject({ payload: { instanceId: onCurrent.id, suspend: true } });
    await eventually(async () => (await status(onCurrent.id)) === "suspended", { what: "suspended" });
    const dto = await platform.services.deploymentViews.instance({
      viewer: owner.address,
      admin: false,
      instanceId: onCurrent.id,
    });
    expect(dto).toMatchObject({ status: "suspended", reportedStatus: "suspended", desired: "stopped" });

    // Suspended is not failed: nothing is replaced, and a second suspend says what to do instead.
    await platform.services.reconciler.reconcile(onCurrent.deploymentId);
    const live = (await platform.repos.instances.byDeployment(onCurrent.deploymentId)).filter(
      (r) => r.desired !== "deleted",
    );
    expect(live.map((r) => r.id).sort()).toEqual([onCurrent.id, onOlder.id].sort());
    expect((await stop(onCurrent.id, true)).result.message).toMatch(/already suspended; start it/);

    // Start resumes it; a plain stop of the older agent's instance is still a shutdown.
    await platform.services.deployments.act({
      owner: owner.address,
      instanceId: onCurrent.id,
      action: "start",
    });
    await eventually(async () => (await status(onCurrent.id)) === "running", { what: "resumed" });
    expect((await stop(onOlder.id)).result.ok).toBe(true);
    await eventually(async () => (await status(onOlder.id)) === "stopped", { what: "plain stop" });
    expect(stopOffers(older, onOlder.id).map((o) => o.payload)).toEqual([{ instanceId: onOlder.id }]);
  });

  it("keeps a suspended replica whose node went offline, and suspends it again if it comes back up", async () => {
    // The replica's node takes stop jobs and never finishes them: the suspend is in flight when
    // the node dies.
    const everyJob = completeEveryJob(platform.url);
    const first = await agent({
      onOffer: async (offer, a) => {
        if (offer.kind !== "stop") return everyJob(offer, a);
        a.send({ type: "job.ack", jobId: offer.jobId });
        a.runningJobs.add(offer.jobId);
      },
    });
    const [row] = await shipRunning(1);
    if (!row) throw new Error("no replica");
    // A spare node, online before the replica's node goes away: it must get no replacement.
    const spare = await agent();

    await platform.services.deployments.act({
      owner: owner.address,
      instanceId: row.id,
      action: "stop",
      suspend: true,
    });
    await first.waitFor((m) => m.type === "job.offer" && m.kind === "stop" && m.payload.suspend === true);
    await first.kill();
    agents.splice(agents.indexOf(first), 1);
    await eventually(async () => (await status(row.id)) === "lost", {
      timeoutMs: 15_000,
      what: "the suspending replica lost with its node",
    });
    await platform.services.reconciler.reconcile(row.deploymentId);
    expect(await platform.repos.instances.byNode(spare.nodeId)).toEqual([]);

    // It returns with the VM still up: it is suspended again, not shut down.
    const back = await agent({
      wgPublicKey: first.wgPublicKey,
      instances: [{ instanceId: row.id, status: "running" }],
    });
    const again = await back.waitFor(
      (m) => m.type === "job.offer" && m.kind === "stop" && m.payload.instanceId === row.id,
    );
    expect(again).toMatchObject({ payload: { instanceId: row.id, suspend: true } });
    await eventually(async () => (await status(row.id)) === "suspended", { what: "suspended again" });

    // Away once more while suspended, back with the VM still suspended: kept as it was.
    await back.kill();
    agents.splice(agents.indexOf(back), 1);
    await eventually(async () => (await status(row.id)) === "lost", { timeoutMs: 15_000, what: "lost" });
    await platform.services.reconciler.reconcile(row.deploymentId);
    expect(await platform.repos.instances.byNode(spare.nodeId)).toEqual([]);
    const returned = await agent({
      wgPublicKey: first.wgPublicKey,
      instances: [{ instanceId: row.id, status: "suspended" }],
    });
    await eventually(async () => (await status(row.id)) === "suspended", { what: "suspended on return" });
    expect(await platform.repos.instances.find(row.id)).toMatchObject({ desired: "stopped" });
    expect(
      returned.received.filter((m) => m.type === "job.offer" && (m.kind === "stop" || m.kind === "delete")),
    ).toEqual([]);
  });
});
