import { randomBytes } from "node:crypto";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { completeBuild, sha256Digest } from "@/server/testing/agent-actions";
import { eventually, FakeAgent } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";

const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey()).address;
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
  const a = await FakeAgent.connect({ url: platform.url, account: operator, ...extra });
  agents.push(a);
  return a;
}

async function createBuild(name = "web") {
  const context = randomBytes(256);
  const dto = await platform.services.builds.create({
    owner,
    formfile: testFormfile(name),
    context,
    contextDigest: sha256Digest(context),
  });
  return { ...dto, context };
}

const build = (id: string) => platform.repos.builds.find(id);

describe("leased jobs", () => {
  it("offers a build, streams logs and records the image when the agent completes it", async () => {
    const a = await agent();
    const created = await createBuild();
    expect(created.status).toBe("queued");
    const offer = await a.nextOffer("build");
    expect(offer.kind === "build" && offer.payload.buildId).toBe(created.buildId);
    a.send({ type: "job.ack", jobId: offer.jobId });
    // The agent can download the context it was offered.
    if (offer.kind !== "build") throw new Error("not a build");
    const ctx = await fetch(`${platform.url}${offer.payload.contextUrl}`, {
      headers: { authorization: `Bearer ${a.welcome?.agentToken}` },
    });
    expect(ctx.status).toBe(200);
    expect(sha256Digest(new Uint8Array(await ctx.arrayBuffer()))).toBe(offer.payload.contextDigest);
    expect((await fetch(`${platform.url}${offer.payload.contextUrl}`)).status).toBe(401);

    const image = await completeBuild({ url: platform.url, agent: a, offer });
    const done = await eventually(async () => {
      const b = await build(created.buildId);
      return b?.status === "built" ? b : null;
    });
    expect(done.imageDigest).toBe(image.digest);
    const phases = JSON.parse(done.timeline).map((t: { phase: string }) => t.phase);
    expect(phases).toEqual(["queued", "claimed", "building", "built"]);
    const logs = await platform.services.builds.logs({ buildId: created.buildId, after: 0, limit: 100 });
    expect(logs.map((l) => l.line)).toEqual(["» building: RUN true", "step 1/1: RUN true", "done"]);
    // Resubmitting the identical build (same owner, Formfile and context) is idempotent.
    const again = await platform.services.builds.create({
      owner,
      formfile: testFormfile(),
      context: created.context,
      contextDigest: sha256Digest(created.context),
    });
    expect(again).toMatchObject({ buildId: created.buildId, status: "built" });
  });

  it("re-offers a job whose offer was never acknowledged, and one whose agent died mid-build", async () => {
    const silent = await agent();
    const created = await createBuild();
    const first = await silent.nextOffer("build");
    // No ack within ackTimeoutMs: back to the queue and offered again.
    const second = await silent.nextOffer("build", 5_000);
    expect(second.jobId).toBe(first.jobId);
    silent.send({ type: "job.ack", jobId: second.jobId });
    await eventually(async () => (await build(created.buildId))?.status === "building");
    await silent.kill();
    agents.splice(agents.indexOf(silent), 1);

    const rescuer = await agent();
    const third = await rescuer.nextOffer("build", 5_000);
    expect(third.jobId).toBe(first.jobId);
    const b = await eventually(async () => {
      const row = await build(created.buildId);
      return row?.nodeId === rescuer.nodeId ? row : null;
    });
    expect(
      JSON.parse(b.timeline).some((t: { message?: string }) =>
        /lease on node|disconnected/.test(t.message ?? ""),
      ),
    ).toBe(true);
    await completeBuild({ url: platform.url, agent: rescuer, offer: third });
    await eventually(async () => (await build(created.buildId))?.status === "built");

    // The dead agent comes back believing it still runs the job: it is told to cancel it, and a
    // late duplicate completion from anyone changes nothing.
    const back = await agent({
      wgPublicKey: silent.wgPublicKey,
      jobs: [{ jobId: first.jobId, state: "running" }],
    });
    const cancel = await back.waitFor((m) => m.type === "job.cancel");
    expect(cancel).toMatchObject({ jobId: first.jobId });
    rescuer.send({
      type: "job.complete",
      jobId: first.jobId,
      result: { kind: "build", imageDigest: sha256Digest(new Uint8Array([1])), sizeBytes: 1 },
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect((await build(created.buildId))?.status).toBe("built");
  });

  /** An agent takes a build and acknowledges it, then its socket closes mid-build. */
  async function buildingThenDisconnected() {
    const a = await agent();
    const created = await createBuild();
    const offer = await a.nextOffer("build");
    a.send({ type: "job.ack", jobId: offer.jobId });
    await eventually(async () => (await build(created.buildId))?.status === "building");
    await a.close();
    agents.splice(agents.indexOf(a), 1);
    return { a, created, offer };
  }

  it("an agent restarted mid-build gives its job back at once: lost from its records, or reported interrupted", async () => {
    const { a, created, offer } = await buildingThenDisconnected();
    // Back with no record of the job: offered again at once (the lease has 2 s left to run).
    const reconnected = Date.now();
    const back = await agent({ wgPublicKey: a.wgPublicKey, jobs: [] });
    const again = await back.nextOffer("build", 1_500);
    expect(again.jobId).toBe(offer.jobId);
    expect(Date.now() - reconnected).toBeLessThan(1_500);
    back.send({ type: "job.ack", jobId: again.jobId });
    await eventually(async () => (await platform.repos.jobs.find(offer.jobId))?.state === "running");
    // Interrupted (its process restarted mid-job): the job is offered again, not failed.
    back.send({
      type: "job.fail",
      jobId: again.jobId,
      reason: "interrupted: the node agent restarted during phase building",
      interrupted: true,
    });
    const third = await back.nextOffer("build", 1_500);
    expect(third.jobId).toBe(offer.jobId);
    const timeline = JSON.parse((await build(created.buildId))?.timeline ?? "[]") as { message?: string }[];
    expect(timeline.map((t) => t.message)).toEqual(
      expect.arrayContaining([
        `node ${back.nodeId} came back without the job (its agent restarted)`,
        "interrupted: the node agent restarted during phase building",
      ]),
    );
    await completeBuild({ url: platform.url, agent: back, offer: third });
    await eventually(async () => (await build(created.buildId))?.status === "built");
    expect(await platform.repos.jobs.find(offer.jobId)).toMatchObject({ state: "done", attempts: 3 });
  });

  it("a reconnecting agent keeps a job it still runs", async () => {
    const { a, created, offer } = await buildingThenDisconnected();
    const back = await agent({
      wgPublicKey: a.wgPublicKey,
      jobs: [{ jobId: offer.jobId, state: "running" }],
    });
    expect(back.nodeId).toBe(a.nodeId);
    back.runningJobs.add(offer.jobId);
    // Heartbeats listing the job keep the lease alive well past leaseMs (2 s): observe for 3 s that
    // the job is never taken away (a lapse would requeue it and cancel it on this agent).
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const row = await platform.repos.jobs.find(offer.jobId);
      expect(row).toMatchObject({ state: "running", nodeId: back.nodeId });
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(back.received.some((m) => m.type === "job.cancel")).toBe(false);
    await completeBuild({ url: platform.url, agent: back, offer });
    await eventually(async () => (await build(created.buildId))?.status === "built");
  });

  it("cancel reaches the agent and marks the build cancelled; failure keeps reason and line", async () => {
    const a = await agent();
    const created = await createBuild();
    const offer = await a.nextOffer("build");
    a.send({ type: "job.ack", jobId: offer.jobId });
    await eventually(async () => (await build(created.buildId))?.status === "building");
    await platform.services.builds.cancel({ buildId: created.buildId, owner });
    expect(await a.waitFor((m) => m.type === "job.cancel")).toMatchObject({ jobId: offer.jobId });
    expect((await build(created.buildId))?.status).toBe("cancelled");

    const failing = await createBuild("other");
    const o2 = await a.nextOffer("build");
    a.send({ type: "job.ack", jobId: o2.jobId });
    a.send({
      type: "job.fail",
      jobId: o2.jobId,
      reason: "RUN exited with 127: apt-gett: not found",
      line: 2,
    });
    const f = await eventually(async () => {
      const row = await build(failing.buildId);
      return row?.status === "failed" ? row : null;
    });
    expect(f).toMatchObject({ failureReason: expect.stringMatching(/apt-gett/), failureLine: 2 });
  });

  it("fails a build that no agent picks up within its queued deadline", async () => {
    await platform.close();
    platform = await startTestPlatform({
      operators: [operator.address],
      config: { buildDeadlines: { queuedMs: 300, claimedMs: 300, buildingMs: 300 } },
    });
    const created = await createBuild();
    const failed = await eventually(async () => {
      const row = await build(created.buildId);
      return row?.status === "failed" ? row : null;
    });
    expect(failed.failureReason).toBe(
      "no node agent with a free build slot took the build within 0.3 s (phase queued)",
    );
  });
});
