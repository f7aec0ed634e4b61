import { z } from "zod";
import { type TFormfile, ZFormfile } from "@/lib/formfile/canonical";
import { ZBuildStatus } from "@/lib/status";
import { parseTimeline, type TBuildRow, ZTimeline } from "@/server/db/repositories/builds-repository";
import { type TAppInfo, ZAppInfo } from "@/server/services/deployments/instance-dto";

/** What clients (UI, CLI) see of a build. */
export const ZBuildDto = z.object({
  buildId: z.string(),
  owner: z.string(),
  name: z.string(),
  status: ZBuildStatus,
  timeline: ZTimeline,
  /** While queued: why the build waits and for what (the scheduler's words), else null. */
  waiting: z.string().nullable(),
  failure: z.object({ reason: z.string(), line: z.number().nullable() }).nullable(),
  app: ZAppInfo,
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

/** The app a build makes: NAME, the first USER (who `ssh` logs in as) and the EXPOSEd ports. */
export function appInfoOf(row: Pick<TBuildRow, "name" | "formfile">): TAppInfo {
  const formfile = parseStoredFormfile(row.formfile);
  return {
    name: row.name,
    sshUser: formfile.users[0]?.username ?? null,
    exposedPorts: formfile.expose,
    // No ingress yet (separate issue): the URL stays null and the pages say so.
    url: null,
  };
}

/**
 * Failure reasons come from the node and may name its private paths; the user knows the build
 * context as `./`, so `<agent data dir>/builds/<id>/context/app` reads `./app`.
 */
export function userFacingReason(reason: string): string {
  return reason.replace(/(?:\/[^\s'"`:/]+)*\/builds\/[0-9a-f]{64}\/context(?:\/|(?=[\s'"`:]|$))/g, "./");
}

export function toBuildDto(row: TBuildRow, waiting: string | null = null): TBuildDto {
  return {
    buildId: row.id,
    owner: row.owner,
    name: row.name,
    status: row.status,
    timeline: parseTimeline(row.timeline),
    waiting: row.status === "queued" ? waiting : null,
    failure:
      row.failureReason === null
        ? null
        : { reason: userFacingReason(row.failureReason), line: row.failureLine },
    app: appInfoOf(row),
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
