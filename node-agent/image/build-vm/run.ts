import { existsSync } from "node:fs";
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { inheritedEnv } from "@/core/env";
import { agentEnv } from "../../config/env";
import { CommandAbortedError, CommandError, run } from "../../host/exec";
import type { TAccelerator } from "../../host/preflight";
import { prepareVmCgroup, removeVmCgroup } from "../../host/vm-cgroup";
import { dropPrivileges, ensureVmUser } from "../../host/vm-user";
import { ImageBuildError } from "../errors";
import { FAILED_MARK } from "../root-script";
import { EgressProxy, type TEgressRule } from "./egress-proxy";
import { ensureBuildInitrd } from "./initrd";
import type { TBuildJob, TJobStep } from "./job";
import { GUEST_PROXY_ADDR, GUEST_PROXY_PORT, parseBuildEvent, sanitizeLogLine } from "./protocol";

/** What one build may use. Hitting a limit fails the build with a message naming it. */
export type TBuildLimits = {
  vcpus: number;
  memoryMb: number;
  /** Wall-clock time of the whole build VM (boot to power-off). */
  timeoutMs: number;
  /** Build-log bytes kept; a step printing more is cut off in the log (not failed). */
  maxLogBytes: number;
};

export const DEFAULT_BUILD_LIMITS: TBuildLimits = {
  vcpus: 2,
  memoryMb: 1024,
  timeoutMs: 20 * 60_000,
  maxLogBytes: 4 << 20,
};

export type TRunBuildVmOptions = {
  /** Build work directory (owned by the agent); the VM user gets access to the files it needs. */
  workDir: string;
  /** The image being built: a qcow2 layer over the base, the VM's read-write root disk. */
  disk: string;
  job: TBuildJob;
  /** Host directory of the unpacked, verified build context (packed read-only for the VM). */
  contextDir: string;
  kernel: { vmlinuz: string; version: string; modulesDir: string };
  cacheDir: string;
  accelerator: TAccelerator;
  limits: TBuildLimits;
  egress: readonly TEgressRule[];
  onLog: (line: string) => void;
  signal?: AbortSignal;
};

/**
 * Runs a build job in a disposable VM: the guest kernel with the build initrd, the image as its
 * root disk, the job and the context as read-only disks, and one NIC whose only reachable address
 * is the agent's egress proxy. QEMU runs as the unprivileged VM user, without capabilities, under
 * seccomp, in a network namespace of its own (no route anywhere, not even the host's loopback).
 * Resolves when every step succeeded; otherwise throws an ImageBuildError naming the Formfile line.
 */
export async function runBuildVm(opts: TRunBuildVmOptions): Promise<void> {
  const { workDir, job, limits } = opts;
  const user = await ensureVmUser();
  const initrd = await ensureBuildInitrd({
    cacheDir: opts.cacheDir,
    kernelVersion: opts.kernel.version,
    modulesDir: opts.kernel.modulesDir,
  });

  const jobDir = join(workDir, "job");
  for (const [name, content] of Object.entries(job.files)) {
    const path = join(jobDir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content, { mode: 0o755 });
  }
  const jobTar = join(workDir, "job.tar");
  const ctxTar = join(workDir, "context.tar");
  await run(["tar", "--format=gnu", "--owner=0", "--group=0", "-cf", jobTar, "-C", jobDir, "."]);
  await run(["tar", "--format=gnu", "-cf", ctxTar, "-C", opts.contextDir, "."]);
  // The VM user reads the job and context, writes only the image and talks only to the proxy.
  await chmod(workDir, 0o711);
  await chmod(jobTar, 0o644);
  await chmod(ctxTar, 0o644);
  await chown(opts.disk, user.uid, user.gid);
  await chmod(opts.disk, 0o600);

  const proxy = new EgressProxy({
    socketPath: join(workDir, "egress.sock"),
    allow: opts.egress,
    debCacheDir: join(opts.cacheDir, "debs-proxy"),
    onRefused: (what) => {
      opts.onLog(`  build egress refused: ${what} is not an allowed mirror (see FORMATION_BUILD_EGRESS)`);
    },
  });
  await proxy.listen();

  const argv = [
    "unshare",
    "--net",
    "--",
    // libslirp pairs guestfwd's socat with QEMU over a loopback TCP socket: the new namespace's
    // own loopback (not the host's) must be up. The shell (still root) joins the build's cgroups
    // first, so QEMU and everything it forks are limited from their first instruction.
    "/bin/sh",
    "-c",
    'for f in $FM_CGROUP_PROCS; do echo $$ > "$f" || exit 1; done; ip link set lo up && exec "$@"',
    "sh",
    ...dropPrivileges(user),
    "qemu-system-x86_64",
    "-name",
    "formation-build",
    "-machine",
    `q35,accel=${opts.accelerator}`,
    ...(opts.accelerator === "kvm" ? ["-cpu", "host"] : []),
    "-smp",
    String(limits.vcpus),
    "-m",
    String(limits.memoryMb),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    // qboot skips SeaBIOS's device probing: a second less per build under TCG.
    ...(existsSync(QBOOT) ? ["-bios", QBOOT] : []),
    "-kernel",
    opts.kernel.vmlinuz,
    "-initrd",
    initrd,
    "-append",
    "console=ttyS0 quiet loglevel=1 panic=-1 mitigations=off net.ifnames=0",
    "-drive",
    `file=${opts.disk},if=none,id=root,format=qcow2,cache=unsafe,discard=unmap`,
    "-device",
    "virtio-blk-pci,drive=root,serial=root",
    "-drive",
    `file=${jobTar},if=none,id=job,format=raw,readonly=on`,
    "-device",
    "virtio-blk-pci,drive=job,serial=job",
    "-drive",
    `file=${ctxTar},if=none,id=context,format=raw,readonly=on`,
    "-device",
    "virtio-blk-pci,drive=context,serial=context",
    "-netdev",
    `user,id=n0,restrict=on,net=10.0.2.0/24,guestfwd=tcp:${GUEST_PROXY_ADDR}:${GUEST_PROXY_PORT}-cmd:socat - UNIX-CONNECT:${join(workDir, "egress.sock")}`,
    "-device",
    "virtio-net-pci,netdev=n0",
    "-device",
    "virtio-rng-pci",
    "-serial",
    "stdio",
    "-monitor",
    "none",
    // spawn stays allowed for guestfwd's per-connection socat (same user, same empty network
    // namespace, inherits this filter). elevateprivileges=deny would break socat and adds nothing
    // here: QEMU runs with no_new_privs, no capabilities and no supplementary groups.
    "-sandbox",
    BUILD_SECCOMP,
  ];

  const state = new BuildVmState(job.steps, limits.maxLogBytes, opts.onLog);
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), limits.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal;
  const started = Date.now();
  const cgroupKey = `fmbuild-${basename(workDir)}`;
  const cgroup = await prepareVmCgroup(cgroupKey, {
    vcpu: limits.vcpus,
    memoryMb: limits.memoryMb,
    diskPath: opts.disk,
    accelerator: opts.accelerator,
  }).catch((err: unknown) => {
    opts.onLog(`  (build VM without cgroup limits: ${err instanceof Error ? err.message : String(err)})`);
    return { procs: [] as string[] };
  });
  try {
    await run(argv, {
      signal,
      onLine: (l) => state.line(l),
      env: { ...definedEnv(inheritedEnv()), FM_CGROUP_PROCS: cgroup.procs.join(" ") },
    });
  } catch (err) {
    if (err instanceof CommandAbortedError) {
      if (opts.signal?.aborted) {
        throw new ImageBuildError({ code: "CANCELLED", message: "build cancelled", ...state.where() });
      }
      throw state.limitError(`its time limit of ${Math.round(limits.timeoutMs / 1000)} s`);
    }
    throw new ImageBuildError({
      code: "IMAGE_FAILED",
      message: `the build VM failed to run (${buildVmExit(err)}) — a platform error on this node, not the Formfile's; build again`,
      cause: err,
    });
  } finally {
    clearTimeout(timer);
    await proxy.close();
    await removeVmCgroup(cgroupKey);
  }
  state.finish({ seconds: (Date.now() - started) / 1000, memoryMb: limits.memoryMb });
}

function definedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

const TAIL_LINES = 12;
/** FORMATION_BUILD_CONSOLE=1: the build log also gets the VM's kernel and init lines (debugging). */
const SHOW_CONSOLE = agentEnv().FORMATION_BUILD_CONSOLE;
export const BUILD_SECCOMP = "on,obsolete=deny,spawn=allow,resourcecontrol=deny";
const QBOOT = "/usr/share/qemu/qboot.rom";

/** Follows the serial console: log lines, step boundaries, and the outcome they add up to. */
class BuildVmState {
  #ready = false;
  #current: number | null = null;
  #failed: { step: number; exitCode: number } | null = null;
  #done: number | null = null;
  #platformError: string | null = null;
  #tail: string[] = [];
  #logBytes = 0;
  #truncated = false;
  #stepStarted = 0;

  constructor(
    readonly steps: readonly TJobStep[],
    readonly maxLogBytes: number,
    readonly onLog: (line: string) => void,
  ) {}

  line(raw: string): void {
    const line = sanitizeLogLine(raw);
    const ev = parseBuildEvent(line);
    if (ev === null) {
      if (SHOW_CONSOLE) this.onLog(`[vm] ${line}`);
      if (!this.#ready || this.#done !== null) return; // kernel and init chatter around the job
      this.#tail.push(line);
      if (this.#tail.length > TAIL_LINES * 4) this.#tail.splice(0, this.#tail.length - TAIL_LINES * 4);
      if (!line.startsWith(FAILED_MARK)) this.#log(`  ${line}`);
      return;
    }
    switch (ev.kind) {
      case "ready":
        if (SHOW_CONSOLE) this.onLog("[vm] ready");
        this.#ready = true;
        break;
      case "begin": {
        this.#current = ev.step;
        this.#tail = [];
        this.#stepStarted = Date.now();
        const step = this.steps[ev.step];
        if (step?.number !== undefined) this.#log(`#${step.number} ${step.label}`);
        break;
      }
      case "end":
        if (ev.exitCode !== 0 && this.#failed === null)
          this.#failed = { step: ev.step, exitCode: ev.exitCode };
        if (ev.exitCode === 0 && this.#current === ev.step) {
          const s = (Date.now() - this.#stepStarted) / 1000;
          if (s >= 1) this.#log(`  (${s.toFixed(1)} s)`);
        }
        this.#current = null;
        break;
      case "done":
        this.#done = ev.exitCode;
        break;
      case "platform-error":
        this.#platformError = ev.message;
        break;
    }
  }

  #log(line: string): void {
    if (this.#truncated) return;
    this.#logBytes += line.length + 1;
    if (this.#logBytes > this.maxLogBytes) {
      this.#truncated = true;
      this.onLog(`build log truncated at ${this.maxLogBytes} bytes (the build goes on)`);
      return;
    }
    this.onLog(line);
  }

  /** The Formfile line and label of the step running now, for errors. */
  where(): { line: number | null; command: string | null } {
    const step = this.#current === null ? undefined : this.steps[this.#current];
    return { line: step?.line ?? null, command: step?.command ?? step?.label ?? null };
  }

  limitError(what: string): ImageBuildError {
    const step = this.#current === null ? undefined : this.steps[this.#current];
    const during = step === undefined ? "" : ` during ${describeStep(step)}`;
    return new ImageBuildError({
      code: "LIMIT_EXCEEDED",
      message: `build stopped: it exceeded ${what}${during}`,
      ...this.where(),
    });
  }

  finish(info: { seconds: number; memoryMb: number }): void {
    if (this.#platformError !== null) {
      throw new ImageBuildError({
        code: "IMAGE_FAILED",
        message: `the build VM could not start the build (platform error, not the Formfile's): ${this.#platformError}`,
      });
    }
    if (this.#failed !== null)
      throw this.#stepFailure(this.#failed.step, this.#failed.exitCode, info.memoryMb);
    if (this.#current !== null) {
      // The VM went down while a step ran: the step powered it off, crashed its kernel or its init.
      const step = this.steps[this.#current];
      throw new ImageBuildError({
        code: step?.user === false ? "IMAGE_FAILED" : "STEP_FAILED",
        message: `${step ? describeStep(step) : "build"} stopped the build VM before it finished${this.#tailText()}`,
        ...this.where(),
      });
    }
    if (this.#done !== 0 || !this.#ready) {
      throw new ImageBuildError({
        code: "IMAGE_FAILED",
        message: `the build VM exited after ${info.seconds.toFixed(1)} s without finishing the build (platform error)`,
      });
    }
  }

  #stepFailure(index: number, exitCode: number, memoryMb: number): ImageBuildError {
    const step = this.steps[index];
    if (step === undefined)
      return new ImageBuildError({ code: "IMAGE_FAILED", message: `build step ${index} failed` });
    // Batched scripts (USER, image configuration) name the part that failed.
    const part = step.failedPart?.(this.#tail.join("\n")) ?? null;
    const label = part?.label ?? step.label;
    const killed =
      exitCode === 137
        ? ` (killed: out of memory? the build VM has ${memoryMb} MiB; ask for less or split the step)`
        : "";
    const where = step.line === null ? label : `Formfile:${step.line}: ${label}`;
    return new ImageBuildError({
      code: step.user ? "STEP_FAILED" : "IMAGE_FAILED",
      message: `${where} exited ${exitCode}${killed}${step.user ? "" : " (platform error, not the Formfile's)"}${this.#tailText()}`,
      line: step.line,
      command: part?.command ?? step.command ?? step.label,
      exitCode,
    });
  }

  #tailText(): string {
    const lines = this.#tail.filter((l) => !l.startsWith(FAILED_MARK)).slice(-TAIL_LINES);
    return lines.length === 0 ? "" : `\n${lines.map((l) => `  ${l}`).join("\n")}`;
  }
}

function describeStep(step: TJobStep): string {
  return step.line === null ? step.label : `Formfile:${step.line}: ${step.label}`;
}

/** How the build VM's QEMU ended, in a few words (a signal from outside, or its exit and stderr). */
export function buildVmExit(err: unknown): string {
  if (!(err instanceof CommandError)) return err instanceof Error ? err.message : String(err);
  const how =
    err.exitCode === null
      ? `its QEMU was killed by ${err.signal ?? "a signal"}`
      : `its QEMU exited ${err.exitCode}`;
  const tail = err.stderrTail.trim().split("\n").slice(-5).join(" | ");
  return tail ? `${how}: ${tail}` : how;
}
