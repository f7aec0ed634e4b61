import { link, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { agentImagePath, type TBuildPayload, type TJobResult, ZDigest } from "@/lib/protocol";
import { downloadBlob } from "../../blobs/download";
import { withConsolePatience } from "../../blobs/patience";
import { uploadBlob } from "../../blobs/upload";
import { imagePathFor, type TDataPaths } from "../../config/paths";
import { rethrowDiskFull } from "../../host/disk-full";
import type { TBuildImageOptions, TBuildImageResult } from "../../image/build";
import { JobFailure } from "../job-error";
import type { TJobContext } from "../types";

/** Unpacks a verified context tarball into `destDir`, refusing links and paths that escape it. */
export type TUnpackContext = (options: {
  archivePath: string;
  destDir: string;
  signal: AbortSignal;
}) => Promise<void>;

export interface TBuildExecutorDeps {
  paths: TDataPaths;
  cacheDir: string;
  /** Resolves console-relative blob URLs. */
  consoleUrl: string;
  /** The current session's agent token; waits for a reconnect when there is no session. */
  token: (signal: AbortSignal) => Promise<string>;
  buildImage: (options: TBuildImageOptions) => Promise<TBuildImageResult>;
  unpackContext: TUnpackContext;
  sshCaPublicKey?: string;
}

/**
 * Build job: fetch the context by digest, unpack it safely, build the image with streamed logs,
 * keep a link in the local image store (so a boot on this host needs no download), upload it to
 * the console and report its digest. A full disk on the way fails the job with a DiskFullError
 * that names the directory and what the operator can do.
 */
export function buildExecutor(deps: TBuildExecutorDeps) {
  return async (ctx: TJobContext, payload: TBuildPayload): Promise<TJobResult> => {
    const work = join(deps.paths.builds, Buffer.from(ctx.jobId).toString("base64url"));
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true, mode: 0o700 });
    try {
      ctx.progress("fetching", `context ${payload.contextDigest} (${payload.contextSizeBytes} bytes)`);
      const archivePath = join(work, "context.tar");
      await withConsolePatience(
        async () =>
          downloadBlob({
            url: new URL(payload.contextUrl, deps.consoleUrl).toString(),
            expectedDigest: payload.contextDigest,
            destPath: archivePath,
            token: await deps.token(ctx.signal),
            signal: ctx.signal,
          }),
        { signal: ctx.signal },
      );

      ctx.progress("unpacking");
      const contextDir = join(work, "context");
      await mkdir(contextDir);
      await deps
        .unpackContext({ archivePath, destDir: contextDir, signal: ctx.signal })
        .catch(rethrowDiskFull(work));

      ctx.progress("building", `Formfile ${payload.formfile.name}`);
      const image = await deps
        .buildImage({
          formfile: payload.formfile,
          contextDir,
          buildId: payload.buildId,
          cacheDir: deps.cacheDir,
          // The console's terminal CA travels with the job; a key in the agent's config is the fallback.
          ...((payload.sshCaPublicKey ?? deps.sshCaPublicKey) === undefined
            ? {}
            : { sshCaPublicKey: payload.sshCaPublicKey ?? deps.sshCaPublicKey }),
          onLog: ctx.log,
          signal: ctx.signal,
        })
        .catch(rethrowDiskFull(deps.cacheDir));
      const parsedDigest = ZDigest.safeParse(image.digest);
      if (!parsedDigest.success) {
        throw new JobFailure({ message: `image builder returned a malformed digest: ${image.digest}` });
      }
      const digest = parsedDigest.data;
      const base = ZDigest.parse(image.base.digest);
      // The layer's backing file name resolves in the store: the base goes in beside it.
      await storeLocally(image.base.path, imagePathFor(deps.paths, base)).catch(
        rethrowDiskFull(deps.paths.images),
      );
      await storeLocally(image.imagePath, imagePathFor(deps.paths, digest)).catch(
        rethrowDiskFull(deps.paths.images),
      );

      // A console restarting meanwhile costs seconds, not the build (fresh token each try). The
      // base goes first, and only when the console lacks it (once per base, not per build).
      const upload = (what: string, blob: string, path: string, skipIfPresent: boolean) =>
        withConsolePatience(
          async () =>
            uploadBlob({
              url: new URL(agentImagePath(ZDigest.parse(blob)), deps.consoleUrl).toString(),
              path,
              token: await deps.token(ctx.signal),
              signal: ctx.signal,
              skipIfPresent,
            }),
          {
            signal: ctx.signal,
            onRetry: (error) =>
              ctx.log(`console unreachable (${error.message}); uploading the ${what} again…`),
          },
        );
      ctx.progress("uploading", `${digest} (${image.sizeBytes} bytes)`);
      const sentBase = await upload("base", base, image.base.path, true);
      if (sentBase.sent)
        ctx.log(`uploaded the base ${base} (${image.base.sizeBytes} bytes), once for every build over it`);
      await upload("image", digest, image.imagePath, false);
      return { kind: "build", imageDigest: digest, sizeBytes: image.sizeBytes, baseDigest: base };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  };
}

/** Hard-link the built image into the local store; skip when that is impossible. */
async function storeLocally(source: string, target: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  try {
    await link(source, target);
  } catch (error) {
    const code = error instanceof Error && "code" in error ? error.code : undefined;
    // EEXIST: already stored by an earlier build of the same content. EXDEV: the cache is on
    // another filesystem; a boot on this host then fetches the image from the console rather than
    // the agent doubling its disk use here.
    if (code !== "EEXIST" && code !== "EXDEV") throw error;
  }
}
