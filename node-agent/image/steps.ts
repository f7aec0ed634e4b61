import { randomBytes } from "node:crypto";
import { cp, mkdir, realpath, rm, stat } from "node:fs/promises";
import { join, posix, sep } from "node:path";
import type { TFormfile, TFormfileStep, TFormfileUser } from "@/lib/formfile/canonical";
import { commandLine } from "../host/exec";
import { ImageBuildError, stepError } from "./errors";
import { POLICY_RC_D } from "./guest-files";
import {
  APT_PACKAGE,
  DEFAULT_WORKDIR,
  ENTRYPOINT_UNIT,
  entrypointUnit,
  envByScope,
  etcEnvironmentLine,
  SSH_CA_PATH,
  shouldExpirePassword,
  shQuote,
  sshdConfig,
  sudoersLine,
  systemdEnvLine,
} from "./render";
import { runInRoot, type TSandboxOptions, writeInRoot } from "./sandbox";

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
 * file order, then ENV, sshd, ENTRYPOINT and EXPOSE.
 */
export async function applyFormfile(ctx: TApplyContext): Promise<void> {
  const { formfile } = ctx;
  const workdir = formfile.workdir ?? DEFAULT_WORKDIR;
  const sb = (extra: Partial<TSandboxOptions> = {}): TSandboxOptions => ({
    root: ctx.root,
    signal: ctx.signal,
    ...extra,
  });
  await writeInRoot({ root: ctx.root, path: "/usr/sbin/policy-rc.d", content: POLICY_RC_D, mode: "0755" });
  await runInRoot(["mkdir", "-p", "--", workdir], sb());

  for (const user of formfile.users) await applyUser(ctx, user);

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

  await applyEnv(ctx);
  await writeInRoot({
    root: ctx.root,
    path: "/etc/ssh/sshd_config.d/50-formation.conf",
    content: sshdConfig({ users: formfile.users, sshCaPublicKey: ctx.sshCaPublicKey }),
  });
  if (ctx.sshCaPublicKey)
    await writeInRoot({
      root: ctx.root,
      path: SSH_CA_PATH,
      content: `${ctx.sshCaPublicKey.trim()}\n`,
      mode: "0644",
    });
  if (formfile.entrypoint) {
    const env = envByScope(formfile).services.get(ENTRYPOINT_UNIT) ?? [];
    await writeInRoot({
      root: ctx.root,
      path: `/etc/systemd/system/${ENTRYPOINT_UNIT}`,
      content: entrypointUnit({ argv: formfile.entrypoint, workdir, env }),
    });
    await runInRoot(
      [
        "ln",
        "-sf",
        `../${ENTRYPOINT_UNIT}`,
        `/etc/systemd/system/multi-user.target.wants/${ENTRYPOINT_UNIT}`,
      ],
      sb(),
    );
    ctx.onLog(
      `ENTRYPOINT ${JSON.stringify(formfile.entrypoint)} → ${ENTRYPOINT_UNIT} (Restart=always, WorkingDirectory=${workdir})`,
    );
  }
  await writeInRoot({
    root: ctx.root,
    path: "/etc/formation/expose",
    content: formfile.expose.map((p) => `${p}\n`).join(""),
  });
  await writeInRoot({
    root: ctx.root,
    path: "/etc/formation/formfile.json",
    content: `${JSON.stringify({ ...formfile, users: formfile.users.map((u) => ({ ...u, passwdHash: "*" })) }, null, 2)}\n`,
    mode: "0644",
  });
  await runInRoot(["rm", "-f", "/usr/sbin/policy-rc.d"], sb());
}

async function inRoot(ctx: TApplyContext, argv: string[], what: string, line: number | null): Promise<void> {
  try {
    await runInRoot(argv, { root: ctx.root, signal: ctx.signal, onLine: (l) => ctx.onLog(`  ${l}`) });
  } catch (err) {
    throw stepError(err, { what, line, command: commandLine(argv) });
  }
}

async function applyUser(ctx: TApplyContext, u: TFormfileUser): Promise<void> {
  ctx.onLog(
    `USER ${u.username} (sudo=${u.sudo}, keys=${u.sshAuthorizedKeys.length}, groups=${u.groups.join(",") || "-"})`,
  );
  const what = `USER ${u.username}`;
  const groups = [...u.groups, ...(u.sudo ? ["sudo"] : [])];
  for (const g of groups) {
    await inRoot(
      ctx,
      ["/bin/sh", "-c", 'getent group "$1" >/dev/null || groupadd -- "$1"', "sh", g],
      what,
      null,
    );
  }
  await inRoot(
    ctx,
    [
      "/bin/sh",
      "-c",
      'id -u -- "$1" >/dev/null 2>&1 || useradd -m -U -s "$2" -- "$1"',
      "sh",
      u.username,
      u.shell,
    ],
    what,
    null,
  );
  await inRoot(
    ctx,
    ["usermod", "-s", u.shell, ...(groups.length ? ["-a", "-G", groups.join(",")] : []), "--", u.username],
    what,
    null,
  );
  await inRoot(ctx, ["usermod", "-p", u.passwdHash, "--", u.username], what, null);
  if (u.lockPasswd) await inRoot(ctx, ["usermod", "-L", "--", u.username], what, null);
  if (shouldExpirePassword(u)) await inRoot(ctx, ["chage", "-d", "0", "--", u.username], what, null);
  if (u.sudo) {
    await writeInRoot({
      root: ctx.root,
      path: `/etc/sudoers.d/90-formation-${u.username}`,
      content: sudoersLine(u.username),
      mode: "0440",
    });
  }
  if (u.sshAuthorizedKeys.length > 0) {
    const script =
      'h=$(getent passwd "$1" | cut -d: -f6) && mkdir -p "$h/.ssh" && cat > "$h/.ssh/authorized_keys" && chmod 700 "$h/.ssh" && chmod 600 "$h/.ssh/authorized_keys" && chown -R "$1:" "$h/.ssh"';
    await runInRoot(["/bin/sh", "-c", script, "sh", u.username], {
      root: ctx.root,
      input: `${u.sshAuthorizedKeys.join("\n")}\n`,
      signal: ctx.signal,
    });
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

async function applyEnv(ctx: TApplyContext): Promise<void> {
  const { system, users, services } = envByScope(ctx.formfile);
  if (system.length > 0) {
    const content = system.map((e) => `${etcEnvironmentLine(e.key, e.value)}\n`).join("");
    await writeInRoot({ root: ctx.root, path: "/etc/environment", content, append: true });
  }
  for (const [username, entries] of users) {
    const content = `\n# Formation ENV --scope=user:${username}\n${entries.map((e) => `export ${e.key}=${shQuote(e.value)}\n`).join("")}`;
    const script =
      'h=$(getent passwd "$1" | cut -d: -f6) || { echo "ENV: no user $1" >&2; exit 1; }; cat >> "$h/.profile" && chown "$1:" "$h/.profile"';
    try {
      await runInRoot(["/bin/sh", "-c", script, "sh", username], {
        root: ctx.root,
        input: content,
        signal: ctx.signal,
      });
    } catch (err) {
      throw stepError(err, {
        what: `ENV --scope=user:${username}`,
        line: null,
        command: "append to ~/.profile",
      });
    }
  }
  for (const [unit, entries] of services) {
    if (unit === ENTRYPOINT_UNIT) continue;
    const content = `[Service]\n${entries.map((e) => `${systemdEnvLine(e.key, e.value)}\n`).join("")}`;
    await writeInRoot({
      root: ctx.root,
      path: `/etc/systemd/system/${unit}.d/50-formation-env.conf`,
      content,
    });
  }
}
