import { z } from "zod";
import { ACTIVE_BUILD_STATUSES, type TBuildStatus, ZBuildStatus } from "@/lib/status";
import type { Build, TDatabase } from "@/server/db/client";

export const ZTimeline = z.array(
  z.object({ phase: z.string(), at: z.string(), message: z.string().optional() }),
);
export type TTimeline = z.infer<typeof ZTimeline>;

/** A build as stored, its status parsed (an unknown one is a corrupt row, not a guess). */
export type TBuildRow = Omit<Build, "status"> & { status: TBuildStatus };

function toRow(row: Build): TBuildRow {
  return { ...row, status: ZBuildStatus.parse(row.status) };
}
const toRowOrNull = (row: Build | null): TBuildRow | null => (row ? toRow(row) : null);

function parseTimeline(raw: string): TTimeline {
  const parsed = ZTimeline.safeParse(JSON.parse(raw));
  return parsed.success ? parsed.data : [];
}

/** Builds and their logs. */
export function createBuildsRepository(db: TDatabase) {
  return {
    async find(id: string): Promise<TBuildRow | null> {
      return toRowOrNull(await db.build.findUnique({ where: { id } }));
    },

    /** Creates the build, or resets a failed/cancelled one with the same id for a retry. */
    async createOrReset(b: {
      id: string;
      owner: string;
      name: string;
      formfile: string;
      contextDigest: string;
      contextSizeBytes: number;
      jobId: string;
      deadline: Date;
      now: Date;
    }): Promise<TBuildRow> {
      const timeline = JSON.stringify([{ phase: "queued", at: b.now.toISOString() }]);
      const data = {
        owner: b.owner,
        name: b.name,
        formfile: b.formfile,
        contextDigest: b.contextDigest,
        contextSizeBytes: b.contextSizeBytes,
        status: "queued",
        timeline,
        failureReason: null,
        failureLine: null,
        imageDigest: null,
        imageSizeBytes: null,
        nodeId: null,
        jobId: b.jobId,
        phaseDeadlineAt: b.deadline,
      };
      return toRow(
        await db.build.upsert({ where: { id: b.id }, create: { id: b.id, ...data }, update: data }),
      );
    },

    /**
     * Moves a build to `status` (appending to its timeline) when it is currently in one of `from`;
     * returns the updated row or null when the transition did not apply.
     */
    async transition(opts: {
      id: string;
      from: readonly TBuildStatus[];
      to: TBuildStatus;
      at: Date;
      message?: string;
      deadline?: Date | null;
      set?: Partial<
        Pick<
          TBuildRow,
          "failureReason" | "failureLine" | "imageDigest" | "imageSizeBytes" | "baseDigest" | "nodeId"
        >
      >;
    }): Promise<TBuildRow | null> {
      // Optimistic concurrency on (status, updatedAt): a concurrent writer makes us re-read and retry.
      for (let attempt = 0; attempt < 8; attempt++) {
        const current = toRowOrNull(await db.build.findUnique({ where: { id: opts.id } }));
        if (!current || !opts.from.includes(current.status)) return null;
        const timeline = parseTimeline(current.timeline);
        timeline.push({
          phase: opts.to,
          at: opts.at.toISOString(),
          ...(opts.message === undefined ? {} : { message: opts.message }),
        });
        const r = await db.build.updateMany({
          where: { id: opts.id, status: current.status, updatedAt: current.updatedAt },
          data: {
            status: opts.to,
            timeline: JSON.stringify(timeline),
            ...(opts.deadline === undefined ? {} : { phaseDeadlineAt: opts.deadline }),
            ...opts.set,
          },
        });
        if (r.count === 1) return toRowOrNull(await db.build.findUnique({ where: { id: opts.id } }));
      }
      return null;
    },

    async list(opts: { owner?: string; limit: number }): Promise<TBuildRow[]> {
      const rows = await db.build.findMany({
        where: opts.owner ? { owner: opts.owner } : {},
        orderBy: { createdAt: "desc" },
        take: opts.limit,
      });
      return rows.map(toRow);
    },

    async listByName(opts: { owner: string; name: string }): Promise<TBuildRow[]> {
      const rows = await db.build.findMany({
        where: { owner: opts.owner, name: opts.name },
        orderBy: { createdAt: "desc" },
      });
      return rows.map(toRow);
    },

    /** Builds of several ids at once (listings resolve each row's build in one query). */
    async findMany(ids: readonly string[]): Promise<TBuildRow[]> {
      if (ids.length === 0) return [];
      return (await db.build.findMany({ where: { id: { in: [...new Set(ids)] } } })).map(toRow);
    },

    async overdue(now: Date): Promise<TBuildRow[]> {
      const rows = await db.build.findMany({
        where: { phaseDeadlineAt: { lt: now }, status: { in: [...ACTIVE_BUILD_STATUSES] } },
      });
      return rows.map(toRow);
    },

    async appendLogs(opts: { buildId: string; lines: string[]; at: Date }): Promise<void> {
      if (opts.lines.length === 0) return;
      await db.buildLog.createMany({
        data: opts.lines.map((line) => ({ buildId: opts.buildId, line, at: opts.at })),
      });
    },

    logsAfter(opts: { buildId: string; after: number; limit: number }) {
      return db.buildLog.findMany({
        where: { buildId: opts.buildId, id: { gt: opts.after } },
        orderBy: { id: "asc" },
        take: opts.limit,
      });
    },
  };
}

export { parseTimeline };
export type TBuildsRepository = ReturnType<typeof createBuildsRepository>;
