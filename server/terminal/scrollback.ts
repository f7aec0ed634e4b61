/**
 * Bounded output history of a terminal session, replayed when a browser re-attaches. Keeps the
 * newest `limit` bytes; older chunks are dropped whole (then the oldest kept chunk is trimmed),
 * so memory per session is bounded whatever the shell prints.
 */
export class Scrollback {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#size;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size > this.#limit) {
      const first = this.#chunks[0];
      if (!first) break;
      const excess = this.#size - this.#limit;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#size -= first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#size -= excess;
      }
    }
  }

  /** Everything kept, oldest first, as one buffer. */
  snapshot(): Buffer {
    return Buffer.concat(this.#chunks, this.#size);
  }
}
