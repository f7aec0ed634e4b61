import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { minimalFormfile } from "@/lib/formfile/testing";
import type { TAgentToConsole, TJobKind } from "@/lib/protocol";
import { JobFailure } from "./job-error";
import { JobRunner } from "./job-runner";
import { JobStore } from "./job-store";
import type { TJobContext, TJobExecutors, TJobOffer, TMessageSink } from "./types";

const digest = `sha256:${"b".repeat(64)}`;

/** Records frames and lets a test await one matching a predicate. */
class RecordingSink implements TMessageSink {
  readonly messages: TAgentToConsole[] = [];
  connected = true;
  #waiters: { match: (m: TAgentToConsole) => boolean; resolve: (m: TAgentToConsole) => void }[] = [];

  send(message: TAgentToConsole): boolean {
    if (!this.connected) return false;
    this.messages.push(message);
    for (const w of this.#waiters.filter((x) => x.match(message))) w.resolve(message);
    this.#waiters = this.#waiters.filter((x) => !x.match(message));
    return true;
  }

  waitFor(match: (m: TAgentToConsole) => boolean): Promise<TAgentToConsole> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  types(jobId: string): string[] {
    return this.messages.filter((m) => "jobId" in m && m.jobId === jobId).map((m) => m.type);
  }
}

const terminal = (jobId: string) => (m: TAgentToConsole) =>
  (m.type === "job.complete" || m.type === "job.fail") && m.jobId === jobId;

function offer(jobId: string, kind: TJobKind = "stop"): TJobOffer {
  if (kind === "build") {
    return {
      type: "job.offer",
      jobId,
      leaseMs: 30_000,
      kind: "build",
      payload: {
        buildId: "b1",
        formfile: minimalFormfile(),
        contextUrl: "/ctx",
        contextDigest: digest,
        contextSizeBytes: 1,
      },
    };
  }
  if (kind === "boot" || kind === "prefetch") throw new Error(`${kind} offers are not used in these tests`);
  return { type: "job.offer", jobId, leaseMs: 30_000, kind, payload: { instanceId: "i-1" } };
}

/** Executors whose behaviour each test sets; counts calls per kind. */
function executors(behaviour: (ctx: TJobContext, kind: TJobKind) => Promise<void>) {
  const calls: TJobKind[] = [];
  const lifecycle = (kind: "stop" | "start" | "restart" | "delete") => async (ctx: TJobContext) => {
    calls.push(kind);
    await behaviour(ctx, kind);
    return { kind };
  };
  const table: TJobExecutors = {
    build: async (ctx) => {
      calls.push("build");
      await behaviour(ctx, "build");
      return { kind: "build", imageDigest: digest, sizeBytes: 42 };
    },
    boot: async () => {
      throw new Error("unused");
    },
    prefetch: async () => {
      throw new Error("unused");
    },
    stop: lifecycle("stop"),
    start: lifecycle("start"),
    restart: lifecycle("restart"),
    delete: lifecycle("delete"),
  };
  return { table, calls };
}

/** Resolves when the signal aborts, like a child process killed by it. */
const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));

let dir: string;
/** The test's runners: stopped (jobs aborted, records written) before their directory goes. */
let runners: JobRunner[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "jobs-"));
  runners = [];
});
afterEach(async () => {
  await Promise.all(runners.map((r) => r.drain(0)));
  await rm(dir, { recursive: true, force: true });
});

async function makeRunner(behaviour: (ctx: TJobContext, kind: TJobKind) => Promise<void>, maxConcurrent = 1) {
  const sink = new RecordingSink();
  const { table, calls } = executors(behaviour);
  const store = new JobStore(dir);
  const runner = new JobRunner({
    store,
    executors: table,
    sink,
    logger: createLogger("test"),
    maxConcurrent,
  });
  runners.push(runner);
  await runner.init();
  return { runner, sink, calls, store };
}

describe("JobRunner", () => {
  it("acks, streams progress and batched logs, completes and persists the outcome", async () => {
    const { runner, sink, store } = await makeRunner(async (ctx) => {
      ctx.progress("building", "step 1");
      ctx.log("line one");
      ctx.log("line two");
    });
    runner.offer(offer("j1", "build"));
    await sink.waitFor(terminal("j1"));
    expect(sink.types("j1")).toEqual(["job.ack", "job.progress", "job.log", "job.complete"]);
    const log = sink.messages.find((m) => m.type === "job.log");
    expect(log?.type === "job.log" && log.lines).toEqual(["line one", "line two"]);
    expect(store.get("j1")).toMatchObject({ state: "completed", reported: true });
    expect(runner.helloJobs()).toEqual([]);
  });

  it("answers a re-offered finished job from its record without running it again", async () => {
    const { runner, sink, calls } = await makeRunner(async () => {});
    runner.offer(offer("j1"));
    await sink.waitFor(terminal("j1"));
    runner.offer(offer("j1"));
    await expect.poll(() => sink.types("j1")).toEqual(["job.ack", "job.complete", "job.ack", "job.complete"]);
    expect(calls).toEqual(["stop"]);
  });

  it("reports the failure reason with its cause chain and Formfile line", async () => {
    const { runner, sink, store } = await makeRunner(async () => {
      throw new JobFailure({
        message: "RUN step failed",
        line: 7,
        cause: new Error("`apt-get install x` exit 100"),
      });
    });
    runner.offer(offer("j1", "build"));
    const fail = await sink.waitFor(terminal("j1"));
    expect(fail).toMatchObject({ type: "job.fail", line: 7 });
    expect(fail.type === "job.fail" && fail.reason).toContain("exit 100");
    expect(store.get("j1")?.state).toBe("failed");
  });

  it("cancel aborts the executor's signal and reports the cancellation", async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const { runner, sink, store } = await makeRunner(async (ctx) => {
      started();
      await untilAborted(ctx.signal);
    });
    runner.offer(offer("j1", "build"));
    await running;
    expect(runner.activeJobIds()).toEqual(["j1"]);
    expect(runner.cancel("j1", "user pressed cancel")).toBe(true);
    const fail = await sink.waitFor(terminal("j1"));
    expect(fail.type === "job.fail" && fail.reason).toContain("user pressed cancel");
    expect(store.get("j1")?.state).toBe("cancelled");
    expect(runner.cancel("nope", "x")).toBe(false);
  });

  it("declines heavy jobs beyond the concurrency limit but still runs lifecycle jobs", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { runner, sink } = await makeRunner(async (_ctx, kind) => {
      if (kind === "build") await gate;
    }, 1);
    runner.offer(offer("b1", "build"));
    runner.offer(offer("b2", "build"));
    runner.offer(offer("s1", "stop"));
    await sink.waitFor(terminal("s1"));
    expect(sink.types("b2")).toEqual(["job.decline"]);
    release();
    await sink.waitFor(terminal("b1"));
  });

  it("keeps outcomes finished while disconnected and re-sends them after reconnect", async () => {
    const { runner, sink, store } = await makeRunner(async () => {});
    sink.connected = false;
    runner.offer(offer("j1"));
    await expect.poll(() => store.get("j1")?.state).toBe("completed");
    expect(runner.helloJobs()).toEqual([{ jobId: "j1", state: "completed" }]);
    sink.connected = true;
    await runner.resendUnreported();
    expect(sink.types("j1")).toEqual(["job.complete"]);
    expect(runner.helloJobs()).toEqual([]);
  });

  it("marks jobs of a dead process interrupted, reports them failed, and runs them again on re-offer", async () => {
    const first = await makeRunner(async (ctx) => {
      ctx.progress("building");
      await untilAborted(ctx.signal);
    });
    first.runner.offer(offer("j1", "build"));
    await expect.poll(() => first.store.get("j1")?.phase).toBe("building");
    await first.store.flushed();
    // A second runner over the same directory plays the restarted agent; the first never finished.
    const second = await makeRunner(async () => {});
    expect(second.runner.helloJobs()).toEqual([{ jobId: "j1", state: "failed" }]);
    await second.runner.resendUnreported();
    const fail = await second.sink.waitFor(terminal("j1"));
    expect(fail.type === "job.fail" && fail.reason).toContain("restarted during phase building");
    // Marked as the agent's interruption, not the job's own failure: the console offers it again.
    expect(fail).toMatchObject({ type: "job.fail", interrupted: true });
    second.runner.offer(offer("j1", "build"));
    await second.sink.waitFor((m) => m.type === "job.complete" && m.jobId === "j1");
    expect(second.calls).toEqual(["build"]);
    first.runner.cancel("j1", "test teardown");
    await first.sink.waitFor(terminal("j1"));
  });

  it("drain declines new offers and aborts jobs that outlive the grace period", async () => {
    const { runner, sink, store } = await makeRunner(async (ctx) => {
      await untilAborted(ctx.signal);
    });
    runner.offer(offer("j1", "build"));
    await sink.waitFor((m) => m.type === "job.ack");
    await runner.drain(20);
    expect(store.get("j1")?.state).toBe("interrupted");
    runner.offer(offer("j2"));
    expect(sink.types("j2")).toEqual(["job.decline"]);
  });
});
