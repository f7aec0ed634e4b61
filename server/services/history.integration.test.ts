import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createInstancesRepository } from "@/server/db/repositories/instances-repository";
import { createJobsRepository } from "@/server/db/repositories/jobs-repository";
import { createTestDatabase, type TTestDatabase } from "@/server/db/testing";
import { HistoryPruner } from "./history";

// The control plane's history retention against a real SQLite database.

const DAY = 24 * 3600_000;
let db: TTestDatabase;

beforeEach(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await db.cleanup();
});

describe("HistoryPruner", () => {
  it("removes finished jobs and deleted replicas past the retention, keeps open jobs and live replicas", async () => {
    const jobs = createJobsRepository(db.prisma);
    const instances = createInstancesRepository(db.prisma);
    const longAgo = new Date(Date.now() - 8 * DAY);
    for (const [id, state] of [
      ["old-done", "done"],
      ["old-failed", "failed"],
      ["old-cancelled", "cancelled"],
      ["new-done", "done"],
      ["old-queued", null],
    ] as const) {
      await jobs.enqueue({ id, kind: "delete", payload: "{}", nodeId: null, idempotencyKey: id });
      if (state) await jobs.finish({ id, nodeId: null, state });
      if (id.startsWith("old-"))
        await db.prisma.job.update({
          where: { id },
          data: { createdAt: longAgo, finishedAt: state ? longAgo : null },
        });
    }
    for (const [id, status] of [
      ["i-old-deleted", "deleted"],
      ["i-new-deleted", "deleted"],
      ["i-old-running", "running"],
    ] as const) {
      await instances.create({
        id,
        deploymentId: "d1",
        buildId: "b1",
        owner: "0xowner",
        nodeId: "n1",
        status,
        desired: status,
        formnetIp: null,
        imageDigest: `sha256:${"a".repeat(64)}`,
        vcpu: 1,
        memoryMb: 512,
        diskGb: 5,
      });
      if (id.includes("old"))
        await db.prisma.instance.update({ where: { id }, data: { updatedAt: longAgo } });
    }

    const pruned = await new HistoryPruner({ jobs, instances, retentionMs: 7 * DAY }).prune();

    expect(pruned).toEqual({ jobs: 3, instances: 1 });
    expect(
      (await db.prisma.job.findMany({ select: { id: true }, orderBy: { id: "asc" } })).map((j) => j.id),
    ).toEqual(["new-done", "old-queued"]);
    expect(
      (await db.prisma.instance.findMany({ select: { id: true }, orderBy: { id: "asc" } })).map((i) => i.id),
    ).toEqual(["i-new-deleted", "i-old-running"]);
  });
});
