import type { Logger } from "pino";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { TRequestLimitsConfig } from "@/server/env";
import { AppError } from "@/server/errors";

/** The rate limits the console applies (docs/console.md, "Request limits"). */
export const LIMIT_NAMES = [
  "authPerIp",
  "requestsPerIp",
  "requestsPerIdentity",
  "blobPutsPerIdentity",
  "authFailuresPerIp",
] as const;
export type TLimitName = (typeof LIMIT_NAMES)[number];

const WINDOW_SECONDS = 60;

export type TLimitDecision =
  | { allowed: true }
  | { allowed: false; limit: TLimitName; retryAfterSeconds: number };

/** What a rejected client is told: what happened and when to try again. */
export function rateLimitedError(decision: { limit: TLimitName; retryAfterSeconds: number }): AppError {
  const what =
    decision.limit === "authFailuresPerIp" ? "Too many failed sign-in attempts" : "Too many requests";
  return new AppError("RATE_LIMITED", `${what}; retry in ${decision.retryAfterSeconds} s`, {
    details: { limit: decision.limit, retryAfterSeconds: decision.retryAfterSeconds },
  });
}

/**
 * Fixed-window counters (rate-limiter-flexible, in-memory: one console process) for every limit,
 * keyed by client IP or identity. Rejections are counted per limit for metrics; a rejected key is
 * logged once per window (on its first rejection), never once per request.
 */
export class RequestLimits {
  readonly #limiters: Record<TLimitName, RateLimiterMemory>;
  readonly #points: Record<TLimitName, number>;
  readonly #rejections: Record<TLimitName, number>;
  readonly #logger: Logger;
  #loggedTotal = 0;

  constructor(opts: { config: TRequestLimitsConfig; logger: Logger }) {
    const c = opts.config;
    this.#points = {
      authPerIp: c.authPerIp,
      requestsPerIp: c.requestsPerIp,
      requestsPerIdentity: c.requestsPerIdentity,
      blobPutsPerIdentity: c.blobPutsPerIdentity,
      authFailuresPerIp: c.authFailuresPerIp,
    };
    const limiter = (name: TLimitName) =>
      new RateLimiterMemory({ keyPrefix: name, points: this.#points[name], duration: WINDOW_SECONDS });
    this.#limiters = {
      authPerIp: limiter("authPerIp"),
      requestsPerIp: limiter("requestsPerIp"),
      requestsPerIdentity: limiter("requestsPerIdentity"),
      blobPutsPerIdentity: limiter("blobPutsPerIdentity"),
      authFailuresPerIp: limiter("authFailuresPerIp"),
    };
    this.#rejections = {
      authPerIp: 0,
      requestsPerIp: 0,
      requestsPerIdentity: 0,
      blobPutsPerIdentity: 0,
      authFailuresPerIp: 0,
    };
    this.#logger = opts.logger;
  }

  /** Takes `points` from `key`'s allowance under `limit`; a rejection still counts them. */
  async consume(limit: TLimitName, key: string, points = 1): Promise<TLimitDecision> {
    try {
      await this.#limiters[limit].consume(key, points);
      return { allowed: true };
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      return this.#reject(limit, key, error, points);
    }
  }

  /** Whether `key` is over `limit` now, without taking anything from its allowance. */
  async check(limit: TLimitName, key: string): Promise<TLimitDecision> {
    const res = await this.#limiters[limit].get(key);
    if (!res || res.consumedPoints <= this.#points[limit]) return { allowed: true };
    // Counted (and logged) like a rejection by consume, but only once per window per key.
    return this.#reject(limit, key, res, 0);
  }

  /** Rejections per limit since the console started (for metrics and the periodic log line). */
  rejections(): Readonly<Record<TLimitName, number>> {
    return { ...this.#rejections };
  }

  /** One summary line when anything was rejected since the last one (the console calls it each minute). */
  logRejectionTotals(): void {
    const totals = this.rejections();
    const total = Object.values(totals).reduce((sum, n) => sum + n, 0);
    if (total === this.#loggedTotal) return;
    this.#loggedTotal = total;
    this.#logger.info({ rejections: totals }, "rate-limit rejections since start");
  }

  #reject(limit: TLimitName, key: string, res: RateLimiterRes, points: number): TLimitDecision {
    this.#rejections[limit] += 1;
    const over = res.consumedPoints - this.#points[limit];
    const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    // The request that first crossed the limit in this window is the only one logged for the key.
    if (over > 0 && over <= Math.max(points, 1) && points > 0) {
      this.#logger.warn(
        { limit, key, allowed: this.#points[limit], windowSeconds: WINDOW_SECONDS, retryAfterSeconds },
        "rate limit reached; rejecting until the window ends",
      );
    }
    return { allowed: false, limit, retryAfterSeconds };
  }
}
