import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

/**
 * Load helpers for the request-limit tests (server/http/limits.integration.test.ts): a client that
 * floods one tRPC mutation from a process of its own, and latency sampling of a plain GET.
 */

// Eight concurrent loops POSTing to the procedure until SIGTERM; prints "limited" at the first 429
// and the status counts on exit.
const FLOOD_SCRIPT = `
const [url, procedure] = process.argv.slice(1);
const counts = {};
let running = true;
process.on("SIGTERM", () => { running = false; });
async function loop() {
  while (running) {
    try {
      const res = await fetch(url + "/api/trpc/" + procedure, {
        method: "POST", headers: { "content-type": "application/json" }, body: "{}",
      });
      await res.arrayBuffer();
      if (res.status === 429 && !counts[429]) process.stdout.write("limited\\n");
      counts[res.status] = (counts[res.status] ?? 0) + 1;
    } catch { counts.error = (counts.error ?? 0) + 1; }
  }
}
await Promise.all(Array.from({ length: 8 }, loop));
process.stdout.write(JSON.stringify(counts));
`;

export type TFlood = {
  /** Resolves at the flood's first 429; rejects after `timeoutMs` without one, or if it exits. */
  limited(timeoutMs: number): Promise<void>;
  /** Freezes the flooding process (SIGSTOP) / lets it go on (SIGCONT). */
  pause(): void;
  resume(): void;
  /** Ends the flood; resolves with the HTTP statuses it got, by status code. */
  stop(): Promise<Record<string, number>>;
};

/**
 * Floods `procedure` of the console at `url` from a child process, as a real client would: its
 * CPU is not the console's event loop.
 */
export function startFlood(url: string, procedure: string): TFlood {
  const child = spawn(process.execPath, ["--input-type=module", "-e", FLOOD_SCRIPT, url, procedure], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const limited = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("limited")) resolve();
    });
    void exited.then(() => reject(new Error(`the flood exited before it was limited: ${output}`)));
  });
  limited.catch(() => undefined);
  return {
    limited: (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the flood got no 429 within ${timeoutMs} ms: ${output}`)),
          timeoutMs,
        );
      });
      return Promise.race([limited, timeout]).finally(() => clearTimeout(timer));
    },
    pause: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // A stopped process handles SIGTERM only once it runs again.
        child.kill("SIGCONT");
        child.kill("SIGTERM");
      }
      await exited;
      const json = output.slice(output.lastIndexOf("{"));
      return json.startsWith("{") ? (JSON.parse(json) as Record<string, number>) : {};
    },
  };
}

/** Milliseconds of `count` sequential GETs of `url`, each read to its end; throws on a non-200. */
export async function sampleLatencies(url: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    out.push(performance.now() - started);
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  }
  return out;
}

/** The `p`-th percentile (0–100, nearest rank) of `samples`. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((sorted.length * p) / 100) - 1)] ?? Number.POSITIVE_INFINITY;
}

/** Microseconds that some task of this machine waited for a CPU since boot (Linux PSI), or null. */
function cpuStallMicros(): number | null {
  try {
    const some = /^some .*total=(\d+)/m.exec(readFileSync("/proc/pressure/cpu", "utf8"));
    return some?.[1] ? Number(some[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Starts measuring the machine's CPU pressure: the returned function gives the share of wall time
 * (0–1) since the start during which some runnable task waited for a CPU, or null where Linux does
 * not report pressure. Near 0: every runnable task had a CPU; near 1: the machine is oversubscribed.
 */
export function cpuPressureSince(): () => number | null {
  const stall = cpuStallMicros();
  const started = performance.now();
  return () => {
    const now = cpuStallMicros();
    if (stall === null || now === null) return null;
    return (now - stall) / ((performance.now() - started) * 1000);
  };
}
