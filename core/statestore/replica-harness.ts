import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FormationError } from "../../lib/errors";
import { coreEnv, inheritedEnv } from "../env";
import type { TReplicaCommand, TReplicaConfig } from "./replica-process";
import type { TRejectedEvent, TStoreStats } from "./store";

const ENTRY = fileURLToPath(new URL("./replica-process.ts", import.meta.url));

export type TReplicaStatus = { digest: string; headsDigest: string; stats: TStoreStats };

type TReply = { id: number; ok: boolean; result?: unknown; error?: { code: string; message: string } };
type TDistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Error from a replica child: the command it failed and the child's error code. */
export class ReplicaCommandError extends FormationError {
  override readonly name = "ReplicaCommandError";
}

/**
 * A replica running in a child process (tests and benchmarks): one `node --import tsx` process per
 * replica, commands over IPC, rejections collected from its events.
 */
export class ReplicaHandle {
  readonly config: TReplicaConfig;
  readonly rejected: TRejectedEvent[] = [];
  address = "";
  port = 0;
  #child: ChildProcess | undefined;
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  private constructor(config: TReplicaConfig) {
    this.config = config;
  }

  static async start(config: TReplicaConfig): Promise<ReplicaHandle> {
    const handle = new ReplicaHandle(config);
    await handle.spawn();
    return handle;
  }

  /** (Re)starts the child on the same directory and port. */
  async spawn(): Promise<void> {
    const config = { ...this.config, port: this.port || this.config.port };
    const env = coreEnv();
    const child = fork(ENTRY, [], {
      // STATESTORE_CPU_PROF_DIR profiles each replica (written when it closes, not when killed).
      execArgv: ["--import", "tsx", ...cpuProfArgs(env.STATESTORE_CPU_PROF_DIR)],
      env: inheritedEnv({
        LOG_LEVEL: env.LOG_LEVEL ?? "fatal",
        STATESTORE_REPLICA_CONFIG: JSON.stringify(config),
      }),
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`replica exited with ${code} before ready (dir ${config.dir})`));
      child.once("exit", onExit);
      child.on("message", (raw) => {
        const msg = raw as { event?: string; port?: number; address?: string } & TReply & TRejectedEvent;
        if (msg.event === "ready") {
          this.port = msg.port ?? 0;
          this.address = msg.address ?? "";
          child.off("exit", onExit);
          resolve();
        } else if (msg.event === "rejected") {
          this.rejected.push(msg);
        } else if (msg.event === undefined) {
          const waiter = this.#waiting.get(msg.id);
          this.#waiting.delete(msg.id);
          if (msg.ok) waiter?.resolve(msg.result);
          else
            waiter?.reject(
              new ReplicaCommandError(msg.error?.code ?? "error", msg.error?.message ?? "failed"),
            );
        }
      });
      child.once("exit", () => {
        for (const waiter of this.#waiting.values()) waiter.reject(new Error("replica exited"));
        this.#waiting.clear();
      });
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws/store`;
  }

  call<T = unknown>(command: TDistributiveOmit<TReplicaCommand, "id">): Promise<T> {
    const child = this.#child;
    if (!child?.connected) return Promise.reject(new Error("replica is not running"));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: (v) => resolve(v as T), reject });
      child.send({ ...command, id });
    });
  }

  status(): Promise<TReplicaStatus> {
    return this.call<TReplicaStatus>({ cmd: "status" });
  }

  /** Graceful stop (final snapshot) or SIGKILL (crash). */
  async stop(mode: "close" | "kill" = "close"): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (mode === "kill") child.kill("SIGKILL");
    else await this.call({ cmd: "close" }).catch(() => child.kill("SIGKILL"));
    await exited;
  }
}

function cpuProfArgs(dir: string | undefined): string[] {
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/** Polls `check` until it returns true or the deadline passes. */
export async function waitFor(
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; what: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}`);
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 100));
  }
}

/** True when all `replicas` show the same materialized state and the same heads. */
export async function converged(replicas: readonly ReplicaHandle[]): Promise<boolean> {
  const statuses = await Promise.all(replicas.map((r) => r.status()));
  const first = statuses[0];
  return statuses.every((s) => s.digest === first?.digest && s.headsDigest === first?.headsDigest);
}
