import { resolve } from "node:path";
import type { Command } from "commander";
import { ContextError, packContext } from "../../core/context/index";
import { createReadAuthorization } from "../../lib/signing/client-auth";
import { rememberBuild } from "../config";
import { CliError } from "../errors";
import { type Output, runAction, type TCommonOptions, withCommonOptions } from "../output";
import { loadProject } from "../project";
import { openSession, type TSession } from "../session";
import { type TBuild, unreachableNotice, waitUntil } from "./pack-status";

/** `form pack build [PATH]`: pack the context, sign `build.create`, upload, follow the log. */

type TBuildOptions = TCommonOptions & { detach?: boolean; timeout?: string };

/** Contexts whose base64 fits the tRPC input ride inline; larger ones are PUT first. */
const MAX_INLINE_BYTES = 512 * 1024;

async function uploadContext(session: TSession, digest: string, tarGz: Buffer): Promise<void> {
  const authorization = await createReadAuthorization(session.account, {
    origin: session.origin,
    chainId: session.chainId,
  });
  const res = await fetch(`${session.host}/api/contexts/${encodeURIComponent(digest)}`, {
    method: "PUT",
    headers: { authorization, "content-type": "application/octet-stream" },
    body: new Uint8Array(tarGz),
  }).catch((cause: unknown) => {
    throw new CliError("remote", `cannot upload the build context to ${session.host}: ${String(cause)}`, {
      cause,
    });
  });
  if (res.status !== 201) {
    const body = await res.text();
    const kind = res.status >= 500 ? "remote" : "user";
    throw new CliError(kind, `the console refused the build context (HTTP ${res.status}): ${body}`);
  }
}

/** Polls the build log from `after`, printing lines, until the build ends or the deadline passes. */
export async function followBuild(opts: {
  session: TSession;
  out: Output;
  buildId: string;
  timeoutMs: number;
}): Promise<TBuild> {
  const { session, out, buildId } = opts;
  let cursor = 0;
  const started = Date.now();
  await waitUntil({
    what: `build ${buildId.slice(0, 12)} to finish`,
    timeoutMs: opts.timeoutMs,
    intervalMs: 1000,
    check: async () => {
      const page = await session.call((api) => api.builds.logs.query({ buildId, after: cursor }));
      for (const l of page.lines) out.line(l.line);
      cursor = page.cursor;
      out.progress(`${page.status} · ${Math.round((Date.now() - started) / 1000)} s`);
      return page.done ? true : undefined;
    },
    onUnreachable: (ms) => out.progress(unreachableNotice(ms)),
  });
  return session.call((api) => api.builds.get.query({ buildId }));
}

async function build(out: Output, path: string, opts: TBuildOptions): Promise<void> {
  const checked = await loadProject(path);
  for (const w of checked.warnings) process.stderr.write(`${w}\n`);
  const session = await openSession(opts);
  const project = await loadProject(path, { owner: session.account.address });
  out.progress(`packing ${project.dir}…`);
  const packed = await packContext({ dir: project.dir, formfile: project.formfile }).catch(
    (error: unknown) => {
      if (error instanceof ContextError)
        throw new CliError("user", `cannot pack the build context: ${error.message}`, { cause: error });
      throw error;
    },
  );
  const hex = packed.digest.slice("sha256:".length);
  const inline = packed.tarGz.byteLength <= MAX_INLINE_BYTES;
  if (!inline) {
    out.progress(`uploading the context (${packed.tarGz.byteLength} bytes)…`);
    await uploadContext(session, packed.digest, packed.tarGz);
  }
  const params = {
    formfile: project.formfile,
    contextDigest: packed.digest,
    ...(inline ? { contextBase64: packed.tarGz.toString("base64") } : {}),
  };
  out.progress("signing and queueing the build…");
  const input = await session.sign("build.create", params, `0x${hex}`);
  const created = await session.call((api) => api.builds.create.mutate(input));
  await rememberBuild({
    dir: session.dir,
    projectDir: project.dir,
    build: {
      buildId: created.buildId,
      name: created.name,
      host: session.host,
      at: new Date().toISOString(),
      formfileDigest: project.digest,
    },
  });
  out.stopProgress();
  if (opts.detach) {
    out.result(
      { buildId: created.buildId, name: created.name, status: created.status, contextDigest: packed.digest },
      `build ${created.buildId} queued (${created.name}, ${packed.files} files)\nfollow it: form pack status --build-id ${created.buildId}`,
    );
    return;
  }
  out.note(`build ${created.buildId} queued (${created.name}, ${packed.files} files); following its log…`);
  const timeoutMs = Number(opts.timeout ?? "3600") * 1000;
  const final = await followBuild({ session, out, buildId: created.buildId, timeoutMs });
  if (final.status === "failed" || final.status === "cancelled") {
    const where = final.failure?.line ? ` (Formfile line ${final.failure.line})` : "";
    const reason = final.failure?.reason ?? final.status;
    throw new CliError(final.failure?.line ? "user" : "remote", `build ${final.status}${where}: ${reason}`);
  }
  out.result(
    { buildId: final.buildId, name: final.name, status: final.status, imageDigest: final.imageDigest },
    `✓ build ${final.buildId} ${final.status}\nship it: form pack ship ${path}`,
  );
}

/** Adds `build` to the `pack` command group. */
export function registerPackBuild(pack: Command): void {
  const command = pack
    .command("build")
    .description("pack the project, sign and queue a build, and follow its log until it ends")
    .argument("[path]", "the project directory (or its Formfile)", ".")
    .option("--detach", "return once the build is queued (print its id)")
    .option("--timeout <seconds>", "give up following after this long (the build continues)", "3600");
  withCommonOptions(command)
    .addHelpText(
      "after",
      `
Examples:
  $ form pack build                      # the project in the current directory
  $ form pack build examples/hello-server --detach --json`,
    )
    .action(runAction(async (out, path: string, opts: TBuildOptions) => build(out, resolve(path), opts)));
}
