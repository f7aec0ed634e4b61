/**
 * Collects log lines of one job and hands them out in batches, so a chatty build (apt prints
 * thousands of lines) costs a few frames per second rather than one frame per line.
 */
export interface TLogBatcherOptions {
  flush: (lines: string[]) => void;
  intervalMs?: number;
  maxLines?: number;
  maxLineLength?: number;
}

export class LogBatcher {
  readonly #flush: (lines: string[]) => void;
  readonly #intervalMs: number;
  readonly #maxLines: number;
  readonly #maxLineLength: number;
  #pending: string[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: TLogBatcherOptions) {
    this.#flush = options.flush;
    this.#intervalMs = options.intervalMs ?? 250;
    this.#maxLines = options.maxLines ?? 500;
    this.#maxLineLength = options.maxLineLength ?? 8_000;
  }

  push(line: string): void {
    // Builders emit text with carriage-return progress bars; keep the last state of such a line.
    const clean = line.replace(/\r+$/, "");
    const lastCr = clean.lastIndexOf("\r");
    const text = lastCr >= 0 ? clean.slice(lastCr + 1) : clean;
    this.#pending.push(text.length > this.#maxLineLength ? `${text.slice(0, this.#maxLineLength)}…` : text);
    if (this.#pending.length >= this.#maxLines) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#intervalMs);
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    this.#pending = [];
    this.#flush(lines);
  }
}
