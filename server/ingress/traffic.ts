import { z } from "zod";

/** One request through the edge, as the access log keeps it. */
export const ZAccessEntry = z.object({
  at: z.date(),
  method: z.string(),
  /** Path without the query string (queries may carry secrets). */
  path: z.string(),
  status: z.number(),
  ms: z.number(),
  /** The replica that answered (null: none could). */
  instanceId: z.string().nullable(),
  /** Replicas tried before the one that answered. */
  retries: z.number(),
  client: z.string(),
  /** `http`, `https`, `h2` or `ws`. */
  protocol: z.string(),
});
export type TAccessEntry = z.infer<typeof ZAccessEntry>;

export const ZTrafficWindow = z.object({
  /** Start of the window. */
  at: z.date(),
  requests: z.number(),
  status: z.object({ "2xx": z.number(), "3xx": z.number(), "4xx": z.number(), "5xx": z.number() }),
  p50Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
});
export type TTrafficWindow = z.infer<typeof ZTrafficWindow>;

export const ZTrafficSummary = z.object({
  /** Requests per second over the last minute. */
  requestsPerSecond: z.number(),
  /** Status classes over the last minute. */
  status: ZTrafficWindow.shape.status,
  p50Ms: z.number().nullable(),
  p99Ms: z.number().nullable(),
  /** Requests retried on another replica over the last minute. */
  retried: z.number(),
  /** 10-second windows of the last 10 minutes, oldest first. */
  windows: z.array(ZTrafficWindow),
  /** The latest requests, newest first. */
  log: z.array(ZAccessEntry),
});
export type TTrafficSummary = z.infer<typeof ZTrafficSummary>;

const WINDOW_MS = 10_000;
const WINDOWS_KEPT = 60;
const LOG_KEPT = 200;
/** Latency samples per window (reservoir), enough for a p99 of a busy window. */
const SAMPLES_PER_WINDOW = 2_000;

type TWindow = {
  start: number;
  requests: number;
  retried: number;
  status: TTrafficWindow["status"];
  samples: number[];
};

type TDeploymentTraffic = { windows: TWindow[]; log: TAccessEntry[] };

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;
}

function statusClass(status: number): keyof TTrafficWindow["status"] {
  if (status >= 500 || status === 0) return "5xx";
  if (status >= 400) return "4xx";
  if (status >= 300) return "3xx";
  return "2xx";
}

/**
 * Per-deployment request metrics (requests/s, status classes, latency percentiles in 10 s
 * windows over 10 minutes) and an access log of the last requests, in this console's memory:
 * each edge counts what it served.
 */
export class TrafficStats {
  readonly #byDeployment = new Map<string, TDeploymentTraffic>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  record(deploymentId: string, entry: TAccessEntry): void {
    let t = this.#byDeployment.get(deploymentId);
    if (!t) {
      t = { windows: [], log: [] };
      this.#byDeployment.set(deploymentId, t);
    }
    t.log.push(entry);
    if (t.log.length > LOG_KEPT) t.log.splice(0, t.log.length - LOG_KEPT);
    const start = Math.floor(entry.at.getTime() / WINDOW_MS) * WINDOW_MS;
    let w = t.windows.at(-1);
    if (!w || w.start !== start) {
      w = { start, requests: 0, retried: 0, status: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 }, samples: [] };
      t.windows.push(w);
      if (t.windows.length > WINDOWS_KEPT) t.windows.splice(0, t.windows.length - WINDOWS_KEPT);
    }
    w.requests++;
    if (entry.retries > 0) w.retried++;
    w.status[statusClass(entry.status)]++;
    if (w.samples.length < SAMPLES_PER_WINDOW) w.samples.push(entry.ms);
    else {
      // Reservoir sampling keeps the percentiles honest for windows with more requests.
      const j = Math.floor(Math.random() * w.requests);
      if (j < SAMPLES_PER_WINDOW) w.samples[j] = entry.ms;
    }
  }

  summary(deploymentId: string): TTrafficSummary {
    const t = this.#byDeployment.get(deploymentId);
    const now = this.#now();
    const windows = (t?.windows ?? []).filter((w) => w.start > now - WINDOWS_KEPT * WINDOW_MS);
    const lastMinute = windows.filter((w) => w.start > now - 60_000);
    const status = { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
    let requests = 0;
    let retried = 0;
    for (const w of lastMinute) {
      requests += w.requests;
      retried += w.retried;
      for (const k of Object.keys(status) as (keyof typeof status)[]) status[k] += w.status[k];
    }
    const samples = lastMinute.flatMap((w) => w.samples).sort((a, b) => a - b);
    return {
      requestsPerSecond: Math.round((requests / 60) * 100) / 100,
      status,
      p50Ms: quantile(samples, 0.5),
      p99Ms: quantile(samples, 0.99),
      retried,
      windows: windows.map((w) => {
        const sorted = [...w.samples].sort((a, b) => a - b);
        return {
          at: new Date(w.start),
          requests: w.requests,
          status: { ...w.status },
          p50Ms: quantile(sorted, 0.5),
          p99Ms: quantile(sorted, 0.99),
        };
      }),
      log: [...(t?.log ?? [])].reverse(),
    };
  }

  forget(deploymentId: string): void {
    this.#byDeployment.delete(deploymentId);
  }
}
