import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "@/core/log";
import type { TConsoleToAgent } from "@/lib/protocol";
import { createInstancesRepository } from "@/server/db/repositories/instances-repository";
import { createJobsRepository } from "@/server/db/repositories/jobs-repository";
import { createNodesRepository } from "@/server/db/repositories/nodes-repository";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { InProcessNotifier } from "@/server/gateway/notifier";
import { type LocalAgents, Scheduler } from "@/server/services/scheduler/scheduler";
import { JobService } from "./job-service";
import type { AgentLinks, TJobEvent } from "./types";

/** Links to two pretend agents that record what they were sent. */
class Links implements AgentLinks, LocalAgents {
  readonly sent = new Map<string, TConsoleToAgent[]>([
    ["n1", []],
    ["n2", []],
  ]);
  connected = ["n1", "n2"];
  send(nodeId: string, message: TConsoleToAgent): boolean {
    if (!this.connected.includes(nodeId)) return false;
    this.sent.get(nodeId)?.push(message);
    return true;
  }
  isConnected(nodeId: string): boolean {
    return this.connected.includes(nodeId);
  }
  connectedNodeIds(): string[] {
    return this.connected;
  }
  slotsOf(): number | null {
    return null;
  }
  offers(nodeId: string) {
    return (this.sent.get(nodeId) ?? []).filter((m) => m.type === "job.offer");
  }
}

let db: TTestDatabase;
let links: Links;
let jobs: JobService;
let events: TJobEvent[];

beforeEach(async () => {
  // Only Date is faked: the database driver keeps its real timers.
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));
  db = await createTestDatabase();
  links = new Links();
  events = [];
  const repo = createJobsRepository(db.prisma);
  const scheduler = new Scheduler({
    jobs: repo,
    nodes: createNodesRepository(db.prisma),
    instances: createInstancesRepository(db.prisma),
    agents: links,
    isHealthy: () => true,
    maxBuildsPerNode: 1,
  });
  jobs = new JobService({
    jobs: repo,
    links,
    scheduler,
    notifier: new InProcessNotifier(),
    log: createLogger("test"),
    timing: { leaseMs: 30_000, ackTimeoutMs: 10_000 },
  });
  jobs.onEvent(async (e) => {
    events.push(e);
  });
});
afterEach(async () => {
  vi.useRealTimers();
  await db.cleanup();
});

const stop = (id: string, nodeId: string | null = "n1", key = `stop:${id}`) =>
  jobs.enqueue({
    kind: "stop",
    payload: { instanceId: id },
    nodeId,
    idempotencyKey: key,
    instanceId: id,
    maxAttempts: 2,
  });

const boot = (id: string, nodeId = "n1") =>
  jobs.enqueue({
    kind: "boot",
    payload: {
      instanceId: id,
      buildId: "b1",
      imageUrl: "/api/agent/images/x",
      imageDigest: `sha256:${"a".repeat(64)}`,
      vcpu: 1,
      memoryMb: 512,
      diskGb: 5,
      formnetIp: "10.42.1.2",
      ownerPeers: [],
    },
    nodeId,
    idempotencyKey: `boot:${id}`,
    instanceId: id,
    maxAttempts: 3,
  });

describe("JobService declines", () => {
  it("a decline is no attempt: a busy node is backed off, not burnt through maxAttempts", async () => {
    const job = await boot("i1");
    const repo = createJobsRepository(db.prisma);
    for (let round = 0; round < 6; round += 1) {
      await jobs.dispatch();
      const offers = links.offers("n1").length;
      expect(offers).toBe(round + 1);
      expect(await jobs.decline("n1", job.id, "at its concurrency limit")).toBe(true);
      // Re-dispatching at once (what the decline's notification does) offers nothing: backed off.
      await jobs.dispatch();
      expect(links.offers("n1")).toHaveLength(offers);
      expect(await repo.find(job.id)).toMatchObject({ state: "queued", attempts: 0 });
      vi.advanceTimersByTime(30_000);
    }
    expect(events.some((e) => e.type === "failed")).toBe(false);
    // Lifecycle jobs are never held back by a heavy job's decline.
    await jobs.decline("n1", job.id, "busy");
    await stop("i9");
    expect(links.offers("n1").at(-1)).toMatchObject({ kind: "stop" });
  });

  it("the back-off doubles while the node keeps declining and ends when it finishes a job", async () => {
    const job = await boot("i1");
    await jobs.dispatch();
    await jobs.decline("n1", job.id, "busy");
    vi.advanceTimersByTime(1_001);
    await jobs.dispatch();
    expect(links.offers("n1")).toHaveLength(2);
    await jobs.decline("n1", job.id, "busy");
    vi.advanceTimersByTime(1_001);
    await jobs.dispatch();
    expect(links.offers("n1")).toHaveLength(2);
    vi.advanceTimersByTime(1_000);
    await jobs.dispatch();
    expect(links.offers("n1")).toHaveLength(3);
    await jobs.decline("n1", job.id, "busy");
    // A job of that node finishing frees capacity: the queued boot is offered at once.
    const other = await stop("i2");
    await jobs.ack("n1", other.id);
    await jobs.complete({ nodeId: "n1", jobId: other.id, result: { kind: "stop" } });
    await jobs.dispatch();
    expect(links.offers("n1").filter((o) => o.kind === "boot")).toHaveLength(4);
  });
});

describe("JobService leases", () => {
  it("enqueue is idempotent by key and offers targeted jobs only to their node", async () => {
    const a = await stop("i1");
    const b = await stop("i1");
    expect(b.id).toBe(a.id);
    await jobs.dispatch();
    expect(links.offers("n1")).toHaveLength(1);
    expect(links.offers("n2")).toHaveLength(0);
  });

  it("an unacknowledged offer expires after ackTimeoutMs; an acknowledged one after leaseMs unless extended", async () => {
    const job = await stop("i1");
    await jobs.dispatch();
    vi.advanceTimersByTime(9_000);
    expect(await jobs.sweepExpired()).toBe(0);
    vi.advanceTimersByTime(2_000);
    expect(await jobs.sweepExpired()).toBe(1);
    expect(events.map((e) => e.type)).toEqual(["leased", "requeued"]);

    await jobs.dispatch();
    expect(await jobs.ack("n1", job.id)).toBe(true);
    vi.advanceTimersByTime(25_000);
    await jobs.heartbeat("n1", [job.id]);
    vi.advanceTimersByTime(25_000);
    expect(await jobs.sweepExpired()).toBe(0);
    vi.advanceTimersByTime(6_000);
    // Second lease lapsed and maxAttempts (2) is used up: the job fails with a reason.
    expect(await jobs.sweepExpired()).toBe(0);
    const failed = events.find((e) => e.type === "failed");
    expect(failed && failed.type === "failed" && failed.reason).toMatch(/gave up after 2 attempts/);
  });

  it("only the holder may report; completions after a requeue or a second time are ignored", async () => {
    const job = await stop("i1", null, "untargeted");
    await jobs.dispatch();
    const holder = links.offers("n1").length === 1 ? "n1" : "n2";
    const stranger = holder === "n1" ? "n2" : "n1";
    expect(await jobs.ack(stranger, job.id)).toBe(false);
    expect(await jobs.ack(holder, job.id)).toBe(true);
    expect(await jobs.complete({ nodeId: stranger, jobId: job.id, result: { kind: "stop" } })).toBe(false);
    expect(await jobs.complete({ nodeId: holder, jobId: job.id, result: { kind: "start" } })).toBe(false);
    expect(await jobs.complete({ nodeId: holder, jobId: job.id, result: { kind: "stop" } })).toBe(true);
    expect(await jobs.complete({ nodeId: holder, jobId: job.id, result: { kind: "stop" } })).toBe(true);
    expect(events.filter((e) => e.type === "completed")).toHaveLength(1);
  });

  it("a disconnect requeues unacknowledged offers at once; cancel notifies the holder", async () => {
    const a = await stop("i1");
    const b = await stop("i2");
    await jobs.dispatch();
    await jobs.ack("n1", b.id);
    await jobs.disconnected("n1");
    expect((await createJobsRepository(db.prisma).find(a.id))?.state).toBe("queued");
    expect((await createJobsRepository(db.prisma).find(b.id))?.state).toBe("running");
    expect(await jobs.cancel(b.id, "owner cancelled")).toBe(true);
    expect(await jobs.cancel(b.id, "again")).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: "cancelled", reason: "owner cancelled" });
  });

  it("adopt re-leases a job the reconnecting agent still runs and cancels one it lost", async () => {
    const mine = await stop("i1");
    const lost = await stop("i2", "n2");
    await jobs.dispatch();
    await jobs.ack("n1", mine.id);
    await jobs.ack("n2", lost.id);
    const cancelled = await jobs.adopt("n1", [
      { jobId: mine.id, state: "running" },
      { jobId: lost.id, state: "running" },
    ]);
    expect(cancelled).toEqual([lost.id]);
    expect(links.sent.get("n1")?.at(-1)).toMatchObject({ type: "job.cancel", jobId: lost.id });
  });

  it("a restarted agent that no longer holds its job sends it back to the queue at once, as a spent attempt", async () => {
    const repo = createJobsRepository(db.prisma);
    const job = await stop("i1", null, "untargeted");
    await jobs.dispatch();
    const holder = links.offers("n1").length === 1 ? "n1" : "n2";
    await jobs.ack(holder, job.id);
    // The agent died and came back with an empty job store: no lease has lapsed yet.
    await jobs.adopt(holder, []);
    expect(events.find((e) => e.type === "requeued")).toMatchObject({
      reason: `node ${holder} came back without the job (its agent restarted)`,
    });
    // Offered again (the next dispatch round) as its second and last attempt.
    await jobs.dispatch();
    await vi.waitFor(() => expect(links.offers("n1").length + links.offers("n2").length).toBe(2));
    expect(await repo.find(job.id)).toMatchObject({ state: "leased", attempts: 2 });
    // The next such loss fails the job with the reason.
    const second = (await repo.find(job.id))?.nodeId ?? "";
    await jobs.adopt(second, []);
    expect(await repo.find(job.id)).toMatchObject({
      state: "failed",
      error: `gave up after 2 attempts: node ${second} came back without the job (its agent restarted)`,
    });
  });

  it("an interrupted job (its agent restarted mid-job) is offered again; any other failure is final", async () => {
    const repo = createJobsRepository(db.prisma);
    const job = await boot("i1");
    await jobs.dispatch();
    await jobs.ack("n1", job.id);
    const reason = "interrupted: the node agent restarted during phase booting";
    expect(await jobs.fail({ nodeId: "n1", jobId: job.id, reason, interrupted: true })).toBe(true);
    expect(events.find((e) => e.type === "requeued")).toMatchObject({ reason });
    await vi.waitFor(() => expect(links.offers("n1")).toHaveLength(2));
    expect(await repo.find(job.id)).toMatchObject({ state: "leased", attempts: 2, error: null });
    await jobs.ack("n1", job.id);
    expect(await jobs.fail({ nodeId: "n1", jobId: job.id, reason: "boot failed: no kernel" })).toBe(true);
    expect(await repo.find(job.id)).toMatchObject({ state: "failed", error: "boot failed: no kernel" });
  });
});
