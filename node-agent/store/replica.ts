import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { LocalAccount } from "viem";
import { z } from "zod";
import { createLogger, type Logger } from "@/core/log";
import { StoreDialer, type TDialState } from "@/core/statestore/dialer";
import type { TEntityValue } from "@/core/statestore/entity-doc";
import { StateStoreError } from "@/core/statestore/errors";
import { StateStore } from "@/core/statestore/store";
import type { TFormnetPeer, TInstanceStatus, TMetrics } from "@/lib/protocol";
import { StaticAuthorizer } from "@/lib/statestore/authorize";
import { entityKey, parseEntityKey } from "@/lib/statestore/entities";
import { changedFields, peersFromStore } from "./records";

export type TNodeSample = {
  capabilities: Record<string, unknown>;
  capacity: { vcpu: number; memMb: number; diskGb: number };
  metrics?: TMetrics;
};

export type TAgentStoreOptions = {
  /** The agent's data directory; the replica lives in `<dataDir>/statestore`. */
  dataDir: string;
  /** The operator key (unlocked by the daemon); signs this node's writes. */
  account: LocalAccount;
  /** Console base URL (`http://host:port`); the replica dials `<url>/ws/store`. */
  consoleUrl: string;
  /**
   * The console's store address. When omitted it is learned from the first challenge and pinned in
   * `<dataDir>/statestore-console.json`; a different key later is refused.
   */
  consoleAddress?: string;
  /** This node's record: capabilities, capacity, and metrics when available. */
  node: () => Promise<TNodeSample> | TNodeSample;
  /** Status of the instances this node hosts. */
  instances?: () => Promise<{ instanceId: string; status: TInstanceStatus }[]>;
  /** Node record (heartbeat + metrics) write interval; the history is never pruned (default 30 s). */
  heartbeatIntervalMs?: number;
  /** How often instance statuses are compared with the store (default 5 s; only changes are written). */
  instancePollMs?: number;
  /** formnet peers derived from the store's `peers/*`, whenever they change (fallback source). */
  onPeers?: (peers: TFormnetPeer[]) => void;
  logger?: Logger;
};

const ZPin = z.object({ console: z.string().regex(/^0x[0-9a-f]{40}$/) });

/**
 * The node agent's replica of the state store: signs this node's record and its instances'
 * statuses with the operator key, dials the console's `/ws/store` (authenticated, reconnecting),
 * and keeps working while the console is down — writes stay local and sync on reconnect, and the
 * formnet peer list can be read from the replica (`peers()`).
 */
export class AgentStoreReplica {
  readonly store: StateStore;
  readonly authorizer: StaticAuthorizer;
  readonly #o: TAgentStoreOptions;
  readonly #log: Logger;
  readonly #pinPath: string;
  readonly #self: string;
  #console: string | undefined;
  #dialer: StoreDialer | undefined;
  #timers: NodeJS.Timeout[] = [];
  #peersTimer: NodeJS.Timeout | undefined;
  #writing: Promise<unknown> = Promise.resolve();
  dialState: TDialState = "idle";

  private constructor(
    opts: TAgentStoreOptions,
    store: StateStore,
    authorizer: StaticAuthorizer,
    pinned?: string,
  ) {
    this.#o = opts;
    this.store = store;
    this.authorizer = authorizer;
    this.#self = opts.account.address.toLowerCase();
    this.#log = opts.logger ?? createLogger("node-agent", { part: "statestore" });
    this.#pinPath = join(opts.dataDir, "statestore-console.json");
    this.#console = pinned;
  }

  /** Opens the replica (does not dial yet: see `start`). */
  static async open(opts: TAgentStoreOptions): Promise<AgentStoreReplica> {
    const dir = join(opts.dataDir, "statestore");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const pinned =
      opts.consoleAddress?.toLowerCase() ?? (await readPin(join(opts.dataDir, "statestore-console.json")));
    // This node may write its own record; others become writers once the console admits them.
    const authorizer = new StaticAuthorizer({
      nodes: [opts.account.address],
      ...(pinned ? { console: pinned } : {}),
    });
    const store = await StateStore.open({
      dir,
      account: opts.account,
      authorizer,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    const replica = new AgentStoreReplica(opts, store, authorizer, pinned);
    for (const { key, value } of store.list("nodes")) replica.#learnNode(key, value);
    store.on("change", (event: { key: string }) => replica.#onChange(event.key));
    return replica;
  }

  /** Dials the console and starts the periodic node-record and instance-status writes. */
  start(): void {
    this.#dialer = new StoreDialer({
      consoleUrl: this.#o.consoleUrl,
      account: this.#o.account,
      store: this.store,
      logger: this.#log,
      onConsole: (address) => this.#acceptConsole(address),
      onState: (state, detail) => {
        this.dialState = state;
        if (state === "refused") this.#log.warn({ detail }, "state-store link refused");
      },
    });
    this.#dialer.start();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const timer = setInterval(() => void this.#queue(fn), ms);
      timer.unref();
      this.#timers.push(timer);
    };
    void this.#queue(() => this.writeNode());
    every(this.#o.heartbeatIntervalMs ?? 30_000, () => this.writeNode());
    if (this.#o.instances) {
      void this.#queue(() => this.writeInstances());
      every(this.#o.instancePollMs ?? 5_000, () => this.writeInstances());
    }
  }

  get consoleAddress(): string | undefined {
    return this.#console;
  }

  isConnected(): boolean {
    return this.#dialer?.isOpen() ?? false;
  }

  #queue(fn: () => Promise<unknown>): Promise<unknown> {
    const run = this.#writing.then(fn).catch((error: unknown) => {
      this.#log.warn({ err: error }, "state-store write failed");
    });
    this.#writing = run;
    return run;
  }

  /** Writes this node's record: capabilities, capacity, heartbeat time (ms) and metrics. */
  async writeNode(): Promise<string | undefined> {
    const sample = await this.#o.node();
    const wanted: TEntityValue = {
      capabilities: sample.capabilities,
      capacity: sample.capacity,
      heartbeat: Date.now(),
      ...(sample.metrics ? { metrics: sample.metrics } : {}),
    };
    const key = entityKey("nodes", this.#self);
    const diff = changedFields(this.store.get(key), wanted);
    return this.store.write(key, (doc) => Object.assign(doc, diff));
  }

  /**
   * Writes the status of instances the store places on this node, when it changed. Instances the
   * store does not (yet) place here are skipped: the store would refuse the write anyway.
   */
  async writeInstances(list?: { instanceId: string; status: TInstanceStatus }[]): Promise<number> {
    const instances = list ?? (await this.#o.instances?.()) ?? [];
    let written = 0;
    for (const { instanceId, status } of instances) {
      let key: string;
      try {
        key = entityKey("instances", instanceId);
      } catch {
        continue;
      }
      const current = this.store.get(key);
      if (current?.node !== this.#self || current.status === status) continue;
      try {
        await this.store.write(key, (doc) => {
          doc.status = status;
        });
        written += 1;
      } catch (error) {
        if (!(error instanceof StateStoreError)) throw error;
        this.#log.debug({ instanceId, code: error.code }, "instance status not written");
      }
    }
    return written;
  }

  /** formnet peers as the store knows them (console-signed `peers/*`, released ones left out). */
  peers(): TFormnetPeer[] {
    return peersFromStore(this.store.list("peers"));
  }

  #acceptConsole(address: string): boolean {
    if (this.#console) return this.#console === address;
    this.#console = address;
    this.authorizer.add(address, "console");
    this.#log.info({ console: address }, "pinned the console's state-store key");
    writeFile(this.#pinPath, `${JSON.stringify({ console: address })}\n`, { mode: 0o600 }).catch(
      (error: unknown) => this.#log.warn({ err: error }, "cannot save the console's state-store key"),
    );
    this.store.resync();
    return true;
  }

  #learnNode(key: string, value: TEntityValue | undefined): boolean {
    const id = parseEntityKey(key)?.id;
    // `admitted` is a console-only field: if the store holds it, the console wrote it.
    if (!id || value?.admitted !== true || this.authorizer.rolesOf(id).includes("node")) return false;
    this.authorizer.add(id, "node");
    return true;
  }

  #onChange(key: string): void {
    const kind = parseEntityKey(key)?.kind;
    if (kind === "nodes" && this.#learnNode(key, this.store.get(key))) this.store.resync();
    if (kind === "peers" && this.#o.onPeers && !this.#peersTimer) {
      // Coalesce a burst of peer changes (a catch-up sync) into one callback.
      this.#peersTimer = setTimeout(() => {
        this.#peersTimer = undefined;
        this.#o.onPeers?.(this.peers());
      }, 200);
    }
  }

  async close(): Promise<void> {
    for (const t of this.#timers.splice(0)) clearInterval(t);
    clearTimeout(this.#peersTimer);
    this.#dialer?.close();
    await this.#writing;
    await this.store.close();
  }
}

async function readPin(path: string): Promise<string | undefined> {
  try {
    return ZPin.parse(JSON.parse(await readFile(path, "utf8"))).console;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read the pinned console key ${path}`, { cause: error });
  }
}
