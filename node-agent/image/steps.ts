import { randomBytes } from "node:crypto";
import { cp, mkdir, realpath, rm, stat } from "node:fs/promises";
import { join, posix, sep } from "node:path";
import type { TFormfile, TFormfileStep } from "@/lib/formfile/canonical";
import { CommandError, commandLine } from "../host/exec";
import { epilogueScript, prologueScript } from "./config-script";
import { ImageBuildError, stepError } from "./errors";
import { APT_PACKAGE, DEFAULT_WORKDIR, ENTRYPOINT_UNIT, envByScope, shQuote } from "./render";
import type { RootScript } from "./root-script";
import { runInRoot } from "./sandbox";

export type TApplyContext = {
  root: string;
  contextDir: string;
  debCacheDir: string;
  formfile: TFormfile;
  sshCaPublicKey?: string;
  onLog: (line: string) => void;
  signal?: AbortSignal;
};

/**
 * Applies a canonical Formfile to a mounted copy of the base root filesystem: users first (so RUN
 * steps can chown to them, as cloud-init orders it in the original), then COPY / INSTALL / RUN in
 * file order, then ENV, sshd, ENTRYPOINT and EXPOSE. The fixed phases before and after the steps
 * run as one shell script each (one sandbox entry instead of one per file or command).
 */
export async function applyFormfile(ctx: TApplyContext): Promise<void> {
  const { formfile } = ctx;
  const workdir = formfile.workdir ?? DEFAULT_WORKDIR;
  for (const u of formfile.users) {
    ctx.onLog(
      `USER ${u.username} (sudo=${u.sudo}, keys=${u.sshAuthorizedKeys.length}, groups=${u.groups.join(",") || "-"})`,
    );
  }
  await runScript(ctx, prologueScript({ formfile, workdir }));

  const steps: TFormfileStep[] = formfile.steps.some((s) => s.kind === "copy")
    ? formfile.steps
    : [{ kind: "copy", src: ".", dst: workdir, line: 0 }, ...formfile.steps];
  const systemEnv = Object.fromEntries(envByScope(formfile).system.map((e) => [e.key, e.value]));
  let n = 0;
  for (const step of steps) {
    n += 1;
    if (step.kind === "copy") await applyCopy(ctx, step, workdir, n);
    else if (step.kind === "install") await applyInstall(ctx, step, n);
    else await applyRun(ctx, step, workdir, systemEnv, n);
  }

  await runScript(ctx, epilogueScript({ formfile, workdir, sshCaPublicKey: ctx.sshCaPublicKey }));
  if (formfile.entrypoint) {
    ctx.onLog(
      `ENTRYPOINT ${JSON.stringify(formfile.entrypoint)} → ${ENTRYPOINT_UNIT} (Restart=always, WorkingDirectory=${workdir})`,
    );
  }
}

/** Runs a batched script; a failure names the part (e.g. `USER alice`) and its command. */
async function runScript(ctx: TApplyContext, script: RootScript): Promise<void> {
  try {
    await script.run({ root: ctx.root, signal: ctx.signal, onLine: (l) => ctx.onLog(`  ${l}`) });
  } catch (err) {
    const part = err instanceof CommandError ? script.failedPart(err.stderrTail) : null;
    throw stepError(err, {
      what: part?.label ?? "image configuration",
      line: null,
      command: part?.command ?? "/bin/sh -s",
    });
  }
}

async function inRoot(ctx: TApplyContext, argv: string[], what: string, line: number | null): Promise<void> {
  try {
    await runInRoot(argv, { root: ctx.root, signal: ctx.signal, onLine: (l) => ctx.onLog(`  ${l}`) });
  } catch (err) {
    throw stepError(err, { what, line, command: commandLine(argv) });
  }
}

/** Resolves a COPY source inside the context; anything that escapes it (.., symlinks) is refused. */
async function resolveSource(contextDir: string, src: string, line: number): Promise<string> {
  const ctxReal = await realpath(contextDir);
  let abs: string;
  try {
    abs = await realpath(join(ctxReal, src));
  } catch (err) {
    throw new ImageBuildError({
      code: "BAD_FORMFILE",
      message: `COPY (Formfile line ${line}): ${src} does not exist in the build context`,
      line,
      command: `COPY ${src}`,
      cause: err,
    });
  }
  if (abs !== ctxReal && !abs.startsWith(ctxReal + sep)) {
    throw new ImageBuildError({
      code: "BAD_FORMFILE",
      message: `COPY (Formfile line ${line}): ${src} is outside the build context`,
      line,
      command: `COPY ${src}`,
    });
  }
  return abs;
}

async function applyCopy(
  ctx: TApplyContext,
  step: Extract<TFormfileStep, { kind: "copy" }>,
  workdir: string,
  n: number,
): Promise<void> {
  const dst = posix.isAbsolute(step.dst) ? step.dst : posix.join(workdir, step.dst);
  ctx.onLog(`#${n} COPY ${step.src} ${dst}`);
  const src = await resolveSource(ctx.contextDir, step.src, step.line);
  const isDir = (await stat(src)).isDirectory();
  // Stage inside the root under a fresh name, then let cp resolve the destination inside the chroot.
  const stageName = `.formation-stage-${randomBytes(6).toString("hex")}`;
  const stage = join(ctx.root, stageName);
  await mkdir(stage);
  try {
    await cp(src, isDir ? stage : join(stage, "f"), {
      recursive: true,
      verbatimSymlinks: true,
      preserveTimestamps: true,
    });
    const script = isDir
      ? 'mkdir -p -- "$2" && cp -R --preserve=mode,timestamps,links -- "$1"/. "$2"/'
      : 'case "$2" in */) mkdir -p -- "$2" ;; *) mkdir -p -- "$(dirname -- "$2")" ;; esac && cp --preserve=mode,timestamps -- "$1/f" "$2"';
    await inRoot(
      ctx,
      ["/bin/sh", "-c", script, "sh", `/${stageName}`, dst],
      `COPY ${step.src} ${step.dst}`,
      step.line || null,
    );
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function applyInstall(
  ctx: TApplyContext,
  step: Extract<TFormfileStep, { kind: "install" }>,
  n: number,
): Promise<void> {
  ctx.onLog(`#${n} INSTALL ${step.packages.join(" ")}`);
  const bad = step.packages.filter((p) => !APT_PACKAGE.test(p));
  if (bad.length > 0) {
    throw new ImageBuildError({
      code: "BAD_FORMFILE",
      message: `INSTALL (Formfile line ${step.line}): not a Debian package name: ${bad.join(", ")}`,
      line: step.line,
      command: `INSTALL ${step.packages.join(" ")}`,
    });
  }
  const argv = [
    "apt-get",
    "install",
    "-y",
    "--no-install-recommends",
    "-o",
    "Dpkg::Use-Pty=0",
    ...step.packages,
  ];
  const opts = {
    root: ctx.root,
    signal: ctx.signal,
    lockFile: `${ctx.debCacheDir}.lock`,
    onLine: (l: string) => ctx.onLog(`  ${l}`),
    binds: [
      { src: ctx.debCacheDir, dst: "/var/cache/apt/archives" },
      { src: "/etc/resolv.conf", dst: "/etc/resolv.conf" },
    ],
  };
  await withDebCache(async () => {
    try {
      await runInRoot(argv, opts);
    } catch (first) {
      if (ctx.signal?.aborted)
        throw stepError(first, { what: "INSTALL", line: step.line, command: commandLine(argv) });
      // The base's package lists may be older than the mirror: refresh once and retry.
      ctx.onLog("  install failed with the cached package lists; running apt-get update and retrying");
      try {
        await runInRoot(["apt-get", "update", "-o", "Dpkg::Use-Pty=0"], opts);
        await runInRoot(argv, opts);
      } catch (err) {
        throw stepError(err, { what: "INSTALL", line: step.line, command: commandLine(argv) });
      }
    }
  });
}

let debCacheQueue: Promise<unknown> = Promise.resolve();

/**
 * apt in two build chroots sharing the bind-mounted deb cache would fail on its lock file instead
 * of waiting, so the agent runs one INSTALL at a time (other build phases stay parallel).
 */
function withDebCache<T>(fn: () => Promise<T>): Promise<T> {
  const next = debCacheQueue.then(fn, fn);
  debCacheQueue = next.catch(() => undefined);
  return next;
}

async function applyRun(
  ctx: TApplyContext,
  step: Extract<TFormfileStep, { kind: "run" }>,
  workdir: string,
  env: Record<string, string>,
  n: number,
): Promise<void> {
  ctx.onLog(`#${n} RUN ${step.command}`);
  const argv = ["/bin/sh", "-c", `cd ${shQuote(workdir)} || exit 1\n${step.command}`];
  try {
    await runInRoot(argv, {
      // apt in a RUN step shares the deb cache (and its lock) with INSTALL steps of other builds.
      lockFile: /\bapt(-get)?\b/.test(step.command) ? `${ctx.debCacheDir}.lock` : undefined,
      root: ctx.root,
      env,
      signal: ctx.signal,
      onLine: (l) => ctx.onLog(`  ${l}`),
      binds: [
        { src: ctx.debCacheDir, dst: "/var/cache/apt/archives" },
        { src: "/etc/resolv.conf", dst: "/etc/resolv.conf" },
      ],
    });
  } catch (err) {
    throw stepError(err, { what: "RUN", line: step.line, command: step.command });
  }
}
