import { z } from "zod";
import { type TFormfile, ZFormfile } from "@/lib/formfile/canonical";
import { ZBuildStatus } from "@/lib/status";
import { parseTimeline, type TBuildRow, ZTimeline } from "@/server/db/repositories/builds-repository";
import type { AppUrls } from "@/server/ingress/app-urls";
import { type TAppInfo, ZAppInfo } from "@/server/services/deployments/instance-dto";

/** Gives the URLs of an app (server/ingress/app-urls.ts); absent: no ingress, no URLs. */
export type TAppUrlSource = Pick<AppUrls, "urlsFor">;

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

/**
 * The app a build makes: NAME, the first USER (who `ssh` logs in as), the EXPOSEd ports and their
 * URLs through the edge (the deployment of owner + NAME, whichever build it runs).
 */
export function appInfoOf(
  row: Pick<TBuildRow, "owner" | "name" | "formfile">,
  urlSource?: TAppUrlSource,
): TAppInfo {
  const formfile = parseStoredFormfile(row.formfile);
  const urls = urlSource?.urlsFor({ owner: row.owner, name: row.name, exposedPorts: formfile.expose }) ?? [];
  return {
    name: row.name,
    sshUser: formfile.users[0]?.username ?? null,
    exposedPorts: formfile.expose,
    url: urls[0]?.url ?? null,
    urls,
  };
}

/**
 * Failure reasons come from the node and may name its private paths; the user knows the build
 * context as `./`, so `<agent data dir>/builds/<id>/context/app` reads `./app`.
 */
export function userFacingReason(reason: string): string {
  return reason.replace(/(?:\/[^\s'"`:/]+)*\/builds\/[0-9a-f]{64}\/context(?:\/|(?=[\s'"`:]|$))/g, "./");
}

export function toBuildDto(
  row: TBuildRow,
  waiting: string | null = null,
  urlSource?: TAppUrlSource,
): TBuildDto {
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
    app: appInfoOf(row, urlSource),
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
