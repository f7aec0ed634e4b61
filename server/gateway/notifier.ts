import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "@/core/log";

/**
 * Cross-console fan-out. Several console processes may share one PostgreSQL with agents connected
 * to any of them; a job offer or cancel must reach the process holding the agent's socket. Topics
 * are PostgreSQL LISTEN channels; with SQLite (one console process) the in-process implementation
 * is enough. Payloads are short strings (PostgreSQL caps NOTIFY payloads at 8000 bytes).
 */
export interface Notifier {
  publish(topic: TTopic, payload: string): Promise<void>;
  /** Registers a handler; returns the unsubscribe function. */
  subscribe(topic: TTopic, handler: (payload: string) => void): () => void;
  close(): Promise<void>;
}

/**
 * `jobs`: jobs became offerable (payload: a node id, or `*` for untargeted jobs).
 * `cancel`: a job was cancelled (payload: JSON {jobId,nodeId,reason}).
 * `peers`: the formnet peer list changed (payload ignored).
 * `node`: a node's socket should be closed by whoever holds it (payload: node id), e.g. when it
 * reconnected to another console.
 */
export const TOPICS = ["formation_jobs", "formation_cancel", "formation_peers", "formation_node"] as const;
export type TTopic = (typeof TOPICS)[number];

/** Single-process notifier (SQLite deployments, unit tests). Delivery is asynchronous, like NOTIFY. */
export class InProcessNotifier implements Notifier {
  readonly #events = new EventEmitter();

  constructor() {
    this.#events.setMaxListeners(0);
  }

  async publish(topic: TTopic, payload: string): Promise<void> {
    queueMicrotask(() => this.#events.emit(topic, payload));
  }

  subscribe(topic: TTopic, handler: (payload: string) => void): () => void {
    this.#events.on(topic, handler);
    return () => this.#events.off(topic, handler);
  }

  async close(): Promise<void> {
    this.#events.removeAllListeners();
  }
}

/** PostgreSQL LISTEN/NOTIFY notifier: one dedicated connection listens on every topic. */
export class PgNotifier implements Notifier {
  readonly #events = new EventEmitter();
  readonly #connectionString: string;
  readonly #log: Logger;
  #client: pg.Client | null = null;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | null = null;

  private constructor(connectionString: string, log: Logger) {
    this.#connectionString = connectionString;
    this.#log = log;
    this.#events.setMaxListeners(0);
  }

  /** Connects and LISTENs on every topic before resolving, so no notice published after is lost. */
  static async connect(options: { connectionString: string; log: Logger }): Promise<PgNotifier> {
    const notifier = new PgNotifier(options.connectionString, options.log);
    await notifier.#connect();
    return notifier;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#connectionString });
    client.on("notification", (msg) => {
      if ((TOPICS as readonly string[]).includes(msg.channel))
        this.#events.emit(msg.channel, msg.payload ?? "");
    });
    client.on("error", (error) => {
      this.#log.warn({ err: error }, "notifier connection failed; reconnecting");
      this.#scheduleReconnect();
    });
    client.on("end", () => this.#scheduleReconnect());
    await client.connect();
    for (const topic of TOPICS) await client.query(`LISTEN ${topic}`);
    this.#client = client;
    // Anything may have happened while we were not listening: let subscribers re-scan.
    for (const topic of TOPICS) this.#events.emit(topic, "*");
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    this.#client = null;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect().catch((error: unknown) => {
        this.#log.warn({ err: error }, "notifier reconnect failed");
        this.#scheduleReconnect();
      });
    }, 1000);
  }

  async publish(topic: TTopic, payload: string): Promise<void> {
    const client = this.#client;
    if (!client) throw new Error(`notifier is not connected; cannot publish on ${topic}`);
    await client.query("SELECT pg_notify($1, $2)", [topic, payload]);
  }

  subscribe(topic: TTopic, handler: (payload: string) => void): () => void {
    this.#events.on(topic, handler);
    return () => this.#events.off(topic, handler);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#events.removeAllListeners();
    const client = this.#client;
    this.#client = null;
    if (client) await client.end();
  }
}
