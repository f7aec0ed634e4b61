/**
 * Exponential reconnect backoff with jitter. Thousands of agents lose the console at the same
 * moment when it restarts; the random spread keeps them from reconnecting in lock-step.
 */
export interface TBackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Fraction of each delay that is randomised away: 0 = none, 1 = "full jitter". */
  jitter?: number;
  /** Injected for deterministic tests; must return a number in [0, 1). */
  random?: () => number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: TBackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 500;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 0.5;
    this.#random = options.random ?? Math.random;
    if (this.#initialMs <= 0 || this.#maxMs < this.#initialMs || this.#factor < 1) {
      throw new RangeError("backoff needs 0 < initialMs <= maxMs and factor >= 1");
    }
    if (this.#jitter < 0 || this.#jitter > 1) throw new RangeError("backoff jitter must be within [0, 1]");
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Delay before the next attempt; each call counts one failed attempt. */
  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#attempt);
    this.#attempt += 1;
    return Math.round(ceiling * (1 - this.#jitter * this.#random()));
  }

  /** Call after a connection proved healthy (welcome received), so the next outage starts small. */
  reset(): void {
    this.#attempt = 0;
  }
}
