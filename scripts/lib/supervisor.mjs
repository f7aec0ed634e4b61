// A small process supervisor for the local platform: starts services in order, waits for each to be
// ready, prefixes every output line with the service's label, restarts a service that dies with
// backoff, and stops everything in reverse order on SIGINT/SIGTERM.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const COLORS = ["\u001b[36m", "\u001b[35m", "\u001b[33m", "\u001b[32m", "\u001b[34m"];
const RESET = "\u001b[0m";
/** A service up this long (ms) before it exits is restarted after 2 s again, not after its last back-off. */
const STABLE_MS = 60_000;

/**
 * @typedef {object} ServiceSpec
 * @property {string} name label used in logs
 * @property {string} command executable
 * @property {string[]} args arguments
 * @property {Record<string, string>} [env] extra environment
 * @property {(line: string) => boolean} [readyLine] ready when a stdout line matches
 * @property {() => Promise<boolean>} [readyProbe] ready when the probe resolves true
 * @property {number} [readyTimeoutMs] deadline for readiness
 * @property {(line: string) => void} [onLine] observe each stdout line
 * @property {() => Promise<"relaunch" | "backoff">} [onUnexpectedExit] decides how a service that
 *   died on its own comes back: "relaunch" at once (after whatever the hook waited for), or after
 *   the usual backoff
 */

export class Supervisor {
  /** @param {{ cwd: string, log: (msg: string) => void }} opts */
  constructor(opts) {
    this.cwd = opts.cwd;
    this.log = opts.log;
    /** @type {Map<string, { spec: ServiceSpec, child: import("node:child_process").ChildProcess | null, restarts: number, color: string }>} */
    this.services = new Map();
    this.stopping = false;
  }

  /** Starts a service and resolves once it is ready. @param {ServiceSpec} spec */
  async start(spec) {
    const color = COLORS[this.services.size % COLORS.length] ?? "";
    const entry = { spec, child: null, restarts: 0, color };
    this.services.set(spec.name, entry);
    await this.#launch(entry);
  }

  /** @param {{ spec: ServiceSpec, child: import("node:child_process").ChildProcess | null, restarts: number, color: string }} entry */
  #launch(entry) {
    const { spec } = entry;
    const useColor = process.stdout.isTTY;
    const label = useColor ? `${entry.color}[${spec.name}]${RESET}` : `[${spec.name}]`;
    const child = spawn(spec.command, spec.args, {
      cwd: this.cwd,
      env: { ...process.env, ...spec.env, FORMATION_SUPERVISED: "1" },
      // stdin stays an open pipe we never write to: it closes when we die (see exit-with-parent.mjs).
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    entry.child = child;
    const launchedAt = Date.now();
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 120_000);
    return new Promise((resolve, reject) => {
      let ready = !spec.readyLine && !spec.readyProbe;
      const markReady = () => {
        if (ready) return;
        ready = true;
        this.log(`${spec.name} is ready`);
        resolve(undefined);
      };
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        createInterface({ input: stream }).on("line", (line) => {
          process.stdout.write(`${label} ${line}\n`);
          spec.onLine?.(line);
          if (!ready && spec.readyLine?.(line)) markReady();
        });
      }
      child.on("exit", (code, signal) => {
        entry.child = null;
        if (this.stopping) return;
        if (!ready) {
          reject(new Error(`${spec.name} exited (code ${code}, signal ${signal}) before it was ready`));
          return;
        }
        const relaunch = () => {
          if (!this.stopping) this.#launch(entry).catch((err) => this.log(String(err)));
        };
        const backoff = () => {
          // A service that ran a while before it died starts over at the shortest delay: only a
          // crash loop backs off to 30 s.
          if (Date.now() - launchedAt >= STABLE_MS) entry.restarts = 0;
          entry.restarts += 1;
          const delay = Math.min(30_000, 1000 * 2 ** Math.min(entry.restarts, 5));
          this.log(`${spec.name} exited (code ${code}, signal ${signal}); restarting in ${delay} ms`);
          setTimeout(relaunch, delay);
        };
        if (!spec.onUnexpectedExit) {
          backoff();
          return;
        }
        spec.onUnexpectedExit().then(
          (how) => (how === "relaunch" ? relaunch() : backoff()),
          (err) => {
            this.log(`${spec.name}: ${err instanceof Error ? err.message : String(err)}`);
            backoff();
          },
        );
      });
      if (ready) resolve(undefined);
      if (spec.readyProbe) {
        const poll = async () => {
          while (!ready && !this.stopping) {
            if (Date.now() > deadline) {
              reject(new Error(`${spec.name} was not ready within ${spec.readyTimeoutMs ?? 120_000} ms`));
              return;
            }
            if (await spec.readyProbe?.().catch(() => false)) {
              markReady();
              return;
            }
            await new Promise((r) => setTimeout(r, 250));
          }
        };
        poll().catch(reject);
      } else if (spec.readyLine) {
        setTimeout(() => {
          if (!ready)
            reject(new Error(`${spec.name} was not ready within ${spec.readyTimeoutMs ?? 120_000} ms`));
        }, spec.readyTimeoutMs ?? 120_000).unref();
      }
    });
  }

  /** Stops every service in reverse start order, SIGTERM then SIGKILL after a grace period. */
  async stopAll(graceMs = 15_000) {
    this.stopping = true;
    for (const entry of [...this.services.values()].reverse()) {
      const child = entry.child;
      if (!child || child.exitCode !== null || child.pid === undefined) continue;
      this.log(`stopping ${entry.spec.name}`);
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        continue;
      }
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    }
  }
}
