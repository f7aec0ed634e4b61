import { posix } from "node:path";
import type { TFormfile, TFormfileStep } from "@/lib/formfile/canonical";
import { epilogueScript, prologueScript } from "../config-script";
import { APT_PACKAGE, DEFAULT_WORKDIR, envByScope, expandEnvValue, SYSTEM_PATH, shQuote } from "../render";
import { BUILD_MARK, GUEST_PROXY } from "./protocol";

/** The PATH every build step starts from (a Formfile's `ENV PATH=…:$PATH` extends it). */
export const BUILD_PATH = SYSTEM_PATH;
/** Where the build VM's init bind-mounts the job (tmpfs: nothing of it lands in the image). */
export const JOB_DIR = "/run/formation-job";
/** sudoers drop-in present during the build only. */
const BUILD_SUDOERS = "/etc/sudoers.d/00formation-build";
/** Touched by the prepare step on the VM's tmpfs /run: what is newer, the build wrote. */
const BUILD_START_MARK = "/run/formation-build-start";
/** Job file whose presence tells the VM's init that the file system already fills the disk. */
export const SKIP_RESIZE_FILE = "skip-resize";
/** Where the prepare step unpacks the build context inside the image (removed by the last step). */
export const CONTEXT_DIR = "/.formation-context";

/**
 * One unit of the build as the VM runs it: a shell script plus what the host needs to report a
 * failure in the Formfile's terms. `user` steps run code the Formfile wrote (RUN, INSTALL and its
 * maintainer scripts, COPY of its files, its USER options); the others are the platform's own.
 */
export type TJobStep = {
  /** What the build log and errors call it, e.g. `RUN make` or `USER alice`. */
  label: string;
  /** Formfile line (null for platform phases and the implicit whole-context COPY). */
  line: number | null;
  /** The command a failure names (RUN's own command line); the label when absent. */
  command?: string;
  /** `#n` of the Formfile's own steps in the build log (COPY/INSTALL/RUN, 1-based). */
  number?: number;
  user: boolean;
  script: string;
  /** For batched scripts: the part (e.g. `USER alice`) a failure marker in the output points at. */
  failedPart?: (output: string) => { label: string; command: string } | null;
};

export type TBuildJob = {
  steps: TJobStep[];
  /** Files of the job disk: name → content. */
  files: Record<string, string>;
};

/** The COPY sources resolved on the host: whether each is a directory (the VM copies accordingly). */
export type TCopySource = { rel: string; isDir: boolean };

const BASE_ENV: Record<string, string> = {
  HOME: "/root",
  LANG: "C.UTF-8",
  TERM: "xterm-256color",
  DEBIAN_FRONTEND: "noninteractive",
  http_proxy: GUEST_PROXY,
  https_proxy: GUEST_PROXY,
  HTTP_PROXY: GUEST_PROXY,
  HTTPS_PROXY: GUEST_PROXY,
  no_proxy: "localhost,127.0.0.1,::1",
};

/** The system-scope ENV of a Formfile, each value expanded against the build's environment. */
export function systemEnv(formfile: TFormfile): Record<string, string> {
  const env: Record<string, string> = { PATH: BUILD_PATH, ...BASE_ENV };
  const out: Record<string, string> = {};
  for (const e of envByScope(formfile).system) {
    const value = expandEnvValue(e.value, env);
    env[e.key] = value;
    out[e.key] = value;
  }
  return out;
}

function exports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${shQuote(v)}`)
    .join("\n");
}

/**
 * `systemctl` as build steps see it: nothing runs during a build, so start/restart/stop/reload
 * mean "in the booted instance" (a start or restart of a disabled unit enables it, so it runs when
 * the instance boots) and are said so in the build log; everything else (enable, disable, mask, …)
 * is the real systemctl, which edits unit links offline.
 */
export const SYSTEMCTL_SHIM = `#!/bin/sh
real=/usr/bin/systemctl
[ -x "$real" ] || real=/bin/systemctl
verb=""
for a in "$@"; do case "$a" in -*) ;; *) verb="$a"; break ;; esac; done
case "$verb" in
  start|restart|reload|try-restart|reload-or-restart|try-reload-or-restart|condrestart|force-reload)
    units=""; seen=0
    for a in "$@"; do
      case "$a" in -*) continue ;; esac
      if [ "$seen" = 0 ]; then seen=1; continue; fi
      units="$units $a"
    done
    for u in $units; do
      if [ "$verb" = start ] || [ "$verb" = restart ] || [ "$verb" = reload-or-restart ]; then
        if "$real" is-enabled --quiet "$u" 2>/dev/null; then
          echo "systemctl $verb $u: services do not run during the build; $u is enabled and starts when the instance boots"
        elif "$real" enable "$u" >/dev/null 2>&1; then
          echo "systemctl $verb $u: services do not run during the build; enabled $u so it starts when the instance boots"
        else
          echo "systemctl $verb $u: services do not run during the build; $u starts in the instance only if something starts it"
        fi
      else
        echo "systemctl $verb $u: services do not run during the build; nothing to do until the instance boots"
      fi
    done
    exit 0 ;;
  stop|kill)
    echo "systemctl $*: services do not run during the build; nothing to stop (use 'systemctl disable' to keep a unit from starting at boot)"
    exit 0 ;;
esac
exec "$real" "$@"
`;

/** A step's script in the job (relative to the job directory). */
export function stepFile(i: number): string {
  return `steps/${String(i).padStart(3, "0")}.sh`;
}

/** The driver the VM's init runs chrooted in the image: each step in order, framed by markers. */
export function driverScript(steps: readonly TJobStep[]): string {
  const lines = ["#!/bin/sh", `M=${shQuote(BUILD_MARK)}`];
  steps.forEach((_, i) => {
    const f = `${JOB_DIR}/${stepFile(i)}`;
    lines.push(
      `echo "$M begin ${i}"`,
      // A subshell sourcing the step: a fork, not a new /bin/sh to exec and link (~50 ms under TCG).
      `(. ${f}) </dev/null 2>&1`,
      "rc=$?",
      `echo "$M end ${i} $rc"`,
      '[ "$rc" -eq 0 ] || exit "$rc"',
    );
  });
  lines.push("exit 0", "");
  return lines.join("\n");
}

/**
 * Renders a canonical Formfile as the build VM's job: prepare (unpack the context, point apt at
 * the egress proxy), USERs, the Formfile's COPY/INSTALL/RUN steps in order, then ENV, sshd,
 * ENTRYPOINT, EXPOSE and clean-up. Every step runs inside the VM; the host only reads markers.
 */
export function renderBuildJob(opts: {
  formfile: TFormfile;
  sshCaPublicKey?: string;
  /** Directory-ness of each COPY source, keyed by the step's `src` (resolved on the host). */
  copySources: ReadonlyMap<string, TCopySource>;
  /**
   * Whether the build disk is larger than the base's file system (DISK above the base's size): the
   * VM's init then grows it. Default true; false spares the init a resize2fs (~0.2 s under TCG).
   */
  growFs?: boolean;
}): TBuildJob {
  const { formfile } = opts;
  const workdir = formfile.workdir ?? DEFAULT_WORKDIR;
  const platformEnv = exports({ PATH: BUILD_PATH, ...BASE_ENV });
  const steps: TJobStep[] = [];
  steps.push({
    label: "prepare",
    line: null,
    user: false,
    script: [
      "set -e",
      platformEnv,
      // Programs cost ~50–100 ms each under TCG: files are made by shell redirections (the mark
      // on a fresh tmpfs, the sudoers drop-in under a umask that leaves it 0440).
      // Files older than this mark are the base's (the clean-up step compares against it).
      `: > ${BUILD_START_MARK}`,
      `rm -rf ${CONTEXT_DIR}`,
      `mkdir -p ${CONTEXT_DIR} /etc/apt/apt.conf.d /etc/dpkg/dpkg.cfg.d`,
      // The init names the context disk it found by its virtio serial.
      `read -r ctx < ${JOB_DIR}/context-device`,
      `tar -xf "$ctx" -C ${CONTEXT_DIR}`,
      // The image is written once and trimmed at the end: dpkg's fsync per file only costs time.
      "echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/00formation-build",
      // `sudo systemctl …` in a RUN step meets the systemctl shim too (sudo resets PATH).
      `(umask 0337 && printf 'Defaults secure_path="%s"\\n' ${shQuote(`${JOB_DIR}/bin:${BUILD_PATH}`)} > ${BUILD_SUDOERS})`,
      `printf 'Acquire::http::Proxy "%s";\\nAcquire::https::Proxy "%s";\\n' ${shQuote(GUEST_PROXY)} ${shQuote(GUEST_PROXY)} > /etc/apt/apt.conf.d/00formation-build-proxy`,
      "",
    ].join("\n"),
  });
  const prologue = prologueScript({ formfile, workdir });
  steps.push({
    label: formfile.users.length > 0 ? `USER ${formfile.users.map((u) => u.username).join(", ")}` : "WORKDIR",
    line: null,
    user: true,
    script: `${platformEnv}\n${prologue.text()}`,
    failedPart: (output) => prologue.failedPart(output),
  });

  const userSteps: TFormfileStep[] = formfile.steps.some((s) => s.kind === "copy")
    ? formfile.steps
    : [{ kind: "copy", src: ".", dst: workdir, line: 0 }, ...formfile.steps];
  const sysEnv = systemEnv(formfile);
  // The systemctl shim stays first, whatever PATH the Formfile sets.
  const runEnv = exports({ ...BASE_ENV, ...sysEnv, PATH: `${JOB_DIR}/bin:${sysEnv.PATH ?? BUILD_PATH}` });
  const first = steps.length;
  for (const step of userSteps) {
    if (step.kind === "copy") {
      const dst = posix.isAbsolute(step.dst) ? step.dst : posix.join(workdir, step.dst);
      const source = opts.copySources.get(step.src);
      if (source === undefined) throw new Error(`COPY source ${step.src} was not resolved`);
      const src = posix.join(CONTEXT_DIR, source.rel);
      const copy = source.isDir
        ? `mkdir -p -- ${shQuote(dst)} && cp -R --preserve=mode,timestamps,links -- ${shQuote(src)}/. ${shQuote(dst)}/`
        : `case ${shQuote(dst)} in */) mkdir -p -- ${shQuote(dst)} ;; *) mkdir -p -- "$(dirname -- ${shQuote(dst)})" ;; esac && cp --preserve=mode,timestamps -- ${shQuote(src)} ${shQuote(dst)}`;
      steps.push({
        label: `COPY ${step.src} ${dst}`,
        line: step.line || null,
        user: true,
        script: `set -e\n${platformEnv}\n${copy}\n`,
      });
    } else if (step.kind === "install") {
      const bad = step.packages.filter((p) => !APT_PACKAGE.test(p));
      if (bad.length > 0) throw new Error(`not a Debian package name: ${bad.join(", ")}`);
      const install = `apt-get install -q -y --no-install-recommends -o Dpkg::Use-Pty=0 ${step.packages.map(shQuote).join(" ")}`;
      steps.push({
        label: `INSTALL ${step.packages.join(" ")}`,
        line: step.line,
        user: true,
        // The base's package lists may be older than the mirror: refresh once and retry.
        script: `${platformEnv}\n${install} && exit 0\necho "install failed with the cached package lists; running apt-get update and retrying"\napt-get update -q -o Dpkg::Use-Pty=0 || exit $?\n${install}\n`,
      });
    } else {
      steps.push({
        label: `RUN ${step.command}`,
        command: step.command,
        line: step.line,
        user: true,
        // $0 is the Formfile line, so the shell's own errors read `Formfile:5: 1: …`, not a job path.
        script: `${runEnv}\ncd ${shQuote(workdir)} || exit 1\nexec /bin/sh -c ${shQuote(step.command)} ${shQuote(`Formfile:${step.line}`)}\n`,
      });
    }
  }

  for (let i = first; i < steps.length; i++) {
    const s = steps[i];
    if (s) s.number = i - first + 1;
  }

  const epilogue = epilogueScript({ formfile, workdir, sshCaPublicKey: opts.sshCaPublicKey });
  steps.push({
    label: "image configuration",
    line: null,
    // ENV --scope=user of a user the Formfile never created fails here: the Formfile's doing.
    user: true,
    script: `${platformEnv}\n${epilogue.text()}`,
    failedPart: (output) => epilogue.failedPart(output),
  });
  steps.push({
    label: "clean-up",
    line: null,
    user: false,
    script: [
      platformEnv,
      // One rm for everything (each program costs ~50–100 ms under TCG), chosen by shell builtins.
      `set -- ${CONTEXT_DIR} ${BUILD_SUDOERS} /etc/apt/apt.conf.d/00formation-build-proxy /etc/dpkg/dpkg.cfg.d/00formation-build`,
      // Downloaded .debs stay in the agent's proxy cache, not in every image.
      'for f in /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb; do [ -e "$f" ] && set -- "$@" "$f"; done',
      // apt's binary caches, rewritten by an INSTALL (37 MB, 15 MB compressed: 40% of a layer with
      // python3); an apt run in the instance makes them again. The base's own copies stay.
      `for f in /var/cache/apt/*.bin; do [ "$f" -nt ${BUILD_START_MARK} ] && set -- "$@" "$f"; done`,
      'rm -rf -- "$@"',
      "exit 0",
      "",
    ].join("\n"),
  });

  const files: Record<string, string> = {
    "build.sh": driverScript(steps),
    "bin/systemctl": SYSTEMCTL_SHIM,
  };
  if (opts.growFs === false) files[SKIP_RESIZE_FILE] = "";
  steps.forEach((s, i) => {
    files[stepFile(i)] = s.script;
  });
  return { steps, files };
}
