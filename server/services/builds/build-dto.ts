import { z } from "zod";
import { type TFormfile, ZFormfile } from "@/lib/formfile/canonical";
import { parseTimeline, type TBuildRow, ZTimeline } from "@/server/db/repositories/builds-repository";

export const ZBuildStatus = z.enum([
  "queued",
  "claimed",
  "building",
  "built",
  "distributing",
  "booting",
  "running",
  "failed",
  "cancelled",
]);

/** What clients (UI, CLI) see of a build. */
export const ZBuildDto = z.object({
  buildId: z.string(),
  owner: z.string(),
  name: z.string(),
  status: ZBuildStatus,
  timeline: ZTimeline,
  failure: z.object({ reason: z.string(), line: z.number().nullable() }).nullable(),
  imageDigest: z.string().nullable(),
  imageSizeBytes: z.number().nullable(),
  contextDigest: z.string(),
  contextSizeBytes: z.number(),
  nodeId: z.string().nullable(),
  resources: ZFormfile.shape.resources,
  phaseDeadlineAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type TBuildDto = z.infer<typeof ZBuildDto>;

export function parseStoredFormfile(raw: string): TFormfile {
  return ZFormfile.parse(JSON.parse(raw));
}

export function toBuildDto(row: TBuildRow): TBuildDto {
  const status = ZBuildStatus.safeParse(row.status);
  return {
    buildId: row.id,
    owner: row.owner,
    name: row.name,
    status: status.success ? status.data : "failed",
    timeline: parseTimeline(row.timeline),
    failure: row.failureReason === null ? null : { reason: row.failureReason, line: row.failureLine },
    imageDigest: row.imageDigest,
    imageSizeBytes: row.imageSizeBytes,
    contextDigest: row.contextDigest,
    contextSizeBytes: row.contextSizeBytes,
    nodeId: row.nodeId,
    resources: parseStoredFormfile(row.formfile).resources,
    phaseDeadlineAt: row.phaseDeadlineAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
