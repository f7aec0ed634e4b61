import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import * as Automerge from "@automerge/automerge";
import type { LocalAccount } from "viem";
import { type WebSocket, WebSocketServer } from "ws";
import type { Authorizer, TRejectCode } from "../../lib/statestore/authorize";
import { parseEntityKey, type TEntityKind } from "../../lib/statestore/entities";
import { createLogger, type Logger } from "../log";
import { checkChange, PendingChanges } from "./admission";
import { EntityDoc, type TEntityValue } from "./entity-doc";
import {
  actorFor,
  openEnvelope,
  sealChanges,
  type TEnvelope,
  type TVerifiedChange,
  unsignedChange,
} from "./envelope";
import { StateStoreError } from "./errors";
import { ChangeLog } from "./persistence";
import { type Dialer, type PeerLink, Replicator } from "./replication";
import {
  headsDigest,
  headsMessage,
  historyOf,
  listEntities,
  missingFor,
  stateDigest,
  type THistoryEntry,
} from "./store-reads";
import type { THeadsMessage } from "./wire";

export type TStoreOptions = {
  dir: string;
  /** This replica's signing key (a viem LocalAccount, e.g. `privateKeyToAccount`). */
  account: LocalAccount;
  authorizer: Authorizer;
  logger?: Logger;
  /** Write a snapshot after this many new changes (default 2000) and on close. */
  snapshotEvery?: number;
  /** Most changes held while waiting for their deps (default 10000); the oldest are dropped past it. */
  maxPending?: number;
};

export type TChangeEvent = { key: string; hash: string; signer: string; local: boolean; peer?: string };
export type TRejectedEvent = {
  peer: string;
  key: string;
  hash: string;
  signer: string;
  code: TRejectCode;
  detail: string;
};
export type { THistoryEntry };

export type TStoreStats = {
  docs: number;
  changes: number;
  pending: number;
  received: number;
  duplicates: number;
  pendingDropped: number;
  rejected: Record<string, number>;
  malformed: Record<string, number>;
};

type THeld = { change: TVerifiedChange; peer?: PeerLink };

/**
 * Replicated, signed, authorized state store: one Automerge document per entity, every change
 * signed by its writer and checked by every replica. See docs/statestore.md.
 */
export class StateStore extends EventEmitter {
  readonly address: string;
  readonly #account: LocalAccount;
  readonly #authorizer: Authorizer;
  readonly #logger: Logger;
  readonly #log: ChangeLog;
  readonly #actor: string;
  readonly #docs = new Map<string, EntityDoc>();
  readonly #pending: PendingChanges<THeld>;
  readonly #replicator: Replicator;
  readonly #snapshotEvery: number;
  #queue: Promise<unknown> = Promise.resolve();
  #sinceSnapshot = 0;
  #closed = false;
  readonly #servers: WebSocketServer[] = [];
  readonly #stats = { received: 0, duplicates: 0 };
  readonly #rejected = new Map<string, number>();
  readonly #malformed = new Map<string, number>();

  private constructor(opts: TStoreOptions, log: ChangeLog) {
    super();
    this.#account = opts.account;
    this.address = opts.account.address.toLowerCase();
    this.#authorizer = opts.authorizer;
    this.#logger = opts.logger ?? createLogger("statestore", { replica: this.address });
    this.#log = log;
    this.#actor = actorFor(this.address, randomBytes(12));
    this.#snapshotEvery = opts.snapshotEvery ?? 2000;
    this.#pending = new PendingChanges(opts.maxPending ?? 10_000);
    this.#replicator = new Replicator({
      replica: this.address,
      logger: this.#logger,
      headsDigest: () => this.headsDigest(),
      headsMessage: (keys) => this.headsMessage(keys),
      missingFor: (msg) => this.missingFor(msg),
      ingest: (envelopes, peer) => this.ingest(envelopes, peer),
      malformed: (peer, detail) => this.#reportMalformed(peer, detail),
    });
  }

  /** Opens (or creates) the replica in `dir`, loading its snapshot and applying the log's tail. */
  static async open(opts: TStoreOptions): Promise<StateStore> {
    const { log, loaded } = await ChangeLog.open(opts.dir);
    const store = new StateStore(opts, log);
    store.#load(loaded.snapshotDocs, loaded.entries);
    if (loaded.skippedLines > 0)
      store.#logger.warn({ skipped: loaded.skippedLines }, "skipped corrupt log lines");
    return store;
  }

  // The log only ever holds changes this replica verified and authorized, so restarts trust it.
  #load(
    snapshotDocs: Map<string, Uint8Array>,
    entries: { envelope: TEnvelope; inSnapshot: boolean }[],
  ): void {
    for (const [key, bytes] of snapshotDocs) this.#docs.set(key, new EntityDoc(key, this.#actor, bytes));
    for (const { envelope, inSnapshot } of entries) {
      const entity = this.#entity(envelope.key);
      if (entity.has(envelope.hash)) continue;
      const bytes = new Uint8Array(Buffer.from(envelope.change, "base64"));
      const decoded = Automerge.decodeChange(bytes);
      const touched = entity.roots.touched(decoded);
      const apply = !(inSnapshot && snapshotDocs.has(envelope.key));
      entity.record({ envelope, bytes, decoded }, touched.ok ? touched.created : new Map(), apply);
    }
  }

  #entity(key: string): EntityDoc {
    let entity = this.#docs.get(key);
    if (!entity) {
      entity = new EntityDoc(key, this.#actor);
      this.#docs.set(key, entity);
    }
    return entity;
  }

  // Every mutation runs through one queue so the log, the documents and snapshots stay in step.
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Changes entity `key` locally, signs the change, persists it and sends it to every peer. */
  async write(key: string, mutate: (doc: TEntityValue) => void): Promise<string | undefined> {
    const [hash] = await this.writeBatch([{ key, mutate }]);
    return hash;
  }

  /**
   * Several local writes committed together (one fsync, one broadcast): all or nothing, so a
   * refused write leaves every document of the batch as it was. Returns each write's change hash
   * (undefined for a write that changed nothing).
   */
  writeBatch(
    writes: readonly { key: string; mutate: (doc: TEntityValue) => void }[],
  ): Promise<(string | undefined)[]> {
    return this.#serial(async () => {
      if (this.#closed) throw new StateStoreError("closed", "store is closed");
      const made: { entity: EntityDoc; key: string; bytes: Uint8Array }[] = [];
      let sealed: TVerifiedChange[] = [];
      const hashes: (string | undefined)[] = [];
      try {
        for (const { key, mutate } of writes) {
          if (!parseEntityKey(key)) throw new StateStoreError("bad-key", `not an entity key: ${key}`);
          const entity = this.#entity(key);
          const heads = entity.heads();
          entity.doc = Automerge.change(entity.doc, (doc) => mutate(doc));
          const bytes = Automerge.getLastLocalChange(entity.doc);
          if (!bytes || entity.heads().join() === heads.join()) {
            hashes.push(undefined);
            continue;
          }
          // Checked (and indexed, so the batch's next change to this entity sees it) before signing:
          // the whole batch is then signed at once.
          const change = unsignedChange(this.address, key, bytes);
          made.push({ entity, key, bytes });
          const verdict = checkChange({ entity, change, authorizer: this.#authorizer });
          if (!verdict.ok) throw new StateStoreError(verdict.code, `local write refused: ${verdict.detail}`);
          entity.record(change, verdict.created, false);
          hashes.push(change.decoded.hash);
        }
        sealed = await sealChanges({ account: this.#account, changes: made });
        for (const [i, change] of sealed.entries()) made[i]?.entity.setEnvelope(change.envelope);
      } catch (error) {
        // Nothing of the batch left this process yet: forget it and rebuild the touched documents.
        for (const { entity, bytes } of made) entity.forget(Automerge.decodeChange(bytes).hash);
        for (const { key } of writes) this.#docs.get(key)?.rebuild();
        throw error;
      }
      await this.#commit(sealed, undefined);
      return hashes;
    });
  }

  /** Verifies, authorizes and applies envelopes from `peer`; the transport calls this. */
  ingest(envelopes: readonly TEnvelope[], peer?: PeerLink): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      const accepted: TVerifiedChange[] = [];
      try {
        for (const envelope of envelopes) {
          this.#stats.received += 1;
          if (this.#docs.get(envelope.key)?.has(envelope.hash) || this.#pending.has(envelope.hash)) {
            this.#stats.duplicates += 1;
            continue;
          }
          const opened = await openEnvelope(envelope);
          if (!opened.ok) {
            this.#reject(peer, envelope, opened.code, opened.detail);
            continue;
          }
          this.#admit({ change: opened.change, peer }, accepted);
        }
      } finally {
        // Changes admitted before a failure are already in their documents: they must reach the
        // log and the other peers too, or this replica would hold state it never persisted.
        await this.#commit(accepted, peer);
      }
    });
  }

  // Applies a verified change whose deps are present, then any held changes it unblocks.
  #admit(first: THeld, accepted: TVerifiedChange[]): void {
    const work = [first];
    for (let held = work.pop(); held; held = work.pop()) {
      const { change, peer } = held;
      const entity = this.#entity(change.envelope.key);
      const missing = change.decoded.deps.filter((dep) => !entity.has(dep));
      if (missing.length > 0) {
        this.#pending.hold(held, missing);
        // Ask the sender for what we lack of this document instead of waiting for a full resync.
        if (peer) this.#replicator.requestDoc(peer, change.envelope.key);
        continue;
      }
      const verdict = checkChange({ entity, change, authorizer: this.#authorizer });
      if (!verdict.ok) {
        this.#reject(peer, change.envelope, verdict.code, verdict.detail);
        continue;
      }
      entity.record(change, verdict.created, true);
      accepted.push(change);
      work.push(...this.#pending.release(change.decoded.hash, (dep) => entity.has(dep)));
    }
  }

  async #commit(accepted: readonly TVerifiedChange[], from: PeerLink | undefined): Promise<void> {
    if (accepted.length === 0) return;
    await this.#log.append(accepted.map((c) => c.envelope));
    for (const { envelope } of accepted) {
      const event: TChangeEvent = {
        key: envelope.key,
        hash: envelope.hash,
        signer: envelope.signer,
        local: !from,
      };
      if (from) event.peer = from.label;
      // A failing listener must not stop the other events, the gossip or the snapshot below.
      try {
        this.emit("change", event);
      } catch (error) {
        this.#logger.error({ err: error, key: envelope.key }, "change listener failed");
      }
    }
    this.#replicator.broadcast(
      accepted.map((c) => c.envelope),
      from,
    );
    this.#sinceSnapshot += accepted.length;
    if (this.#sinceSnapshot >= this.#snapshotEvery) await this.#snapshot();
  }

  async #snapshot(): Promise<void> {
    const docs = new Map<string, Uint8Array>();
    for (const [key, entity] of this.#docs)
      if (entity.order.length > 0) docs.set(key, Automerge.save(entity.doc));
    await this.#log.writeSnapshot(docs);
    this.#sinceSnapshot = 0;
  }

  #reject(peer: PeerLink | undefined, envelope: TEnvelope, code: TRejectCode, detail: string): void {
    const label = peer?.label ?? "local";
    this.#rejected.set(label, (this.#rejected.get(label) ?? 0) + 1);
    const event: TRejectedEvent = {
      peer: label,
      key: envelope.key,
      hash: envelope.hash,
      signer: envelope.signer,
      code,
      detail,
    };
    this.#logger.warn(event, "rejected change");
    this.emit("rejected", event);
  }

  #reportMalformed(peer: string, detail: string): void {
    this.#malformed.set(peer, (this.#malformed.get(peer) ?? 0) + 1);
    this.#logger.warn({ peer, detail }, "malformed message");
    this.emit("malformed", { peer, detail });
  }

  /** Current value of entity `key`, or undefined if no change to it was accepted. */
  get(key: string): TEntityValue | undefined {
    const entity = this.#docs.get(key);
    return entity && entity.order.length > 0 ? entity.value() : undefined;
  }

  /** Entities of `kind` (all kinds when omitted), sorted by key. */
  list(kind?: TEntityKind): { key: string; value: TEntityValue }[] {
    return listEntities(this.#docs, kind);
  }

  /** Accepted changes of `key` in causal order: hash, signer, writer's time (s), deps, actor, seq. */
  history(key: string): THistoryEntry[] {
    return historyOf(this.#docs.get(key));
  }

  /** Digest of the materialized state: equal on two replicas iff they show the same entities. */
  digest(): string {
    return stateDigest(this.#docs);
  }

  /** Digest of every document's heads. */
  headsDigest(): string {
    return headsDigest(this.#docs);
  }

  headsMessage(keys?: readonly string[]): THeadsMessage {
    return headsMessage(this.#docs, keys);
  }

  /** Envelopes the sender of `msg` lacks, in an order that respects deps. */
  missingFor(msg: THeadsMessage): TEnvelope[] {
    return missingFor(this.#docs, msg);
  }

  stats(): TStoreStats {
    return {
      docs: [...this.#docs.values()].filter((e) => e.order.length > 0).length,
      // Distinct changes held (not a running count: the same change reaching the log twice, or a
      // restart replaying it, must not make a replica look like it holds more than it does).
      changes: [...this.#docs.values()].reduce((n, e) => n + e.changes.size, 0),
      pending: this.#pending.size,
      received: this.#stats.received,
      duplicates: this.#stats.duplicates,
      pendingDropped: this.#pending.dropped,
      rejected: Object.fromEntries(this.#rejected),
      malformed: Object.fromEntries(this.#malformed),
    };
  }

  /** Dials a peer replica (`ws://host:port/ws/store`), reconnecting with backoff until closed. */
  connect(url: string): Dialer {
    return this.#replicator.connect(url);
  }

  /**
   * Asks every connected peer for what this replica lacks. Call it after the authorizer admits a
   * signer: changes refused earlier are not remembered, so they arrive again and now pass.
   */
  resync(): void {
    this.#replicator.resync();
  }

  /** Serves an accepted WebSocket (e.g. from a `noServer` upgrade on `/ws/store`). */
  handleConnection(ws: WebSocket, label?: string): void {
    this.#replicator.handleConnection(ws, label);
  }

  /** Listens on `port` (0 = any; see `wss.address()`) at `path` and serves every connection. */
  async listen(opts: { port: number; host?: string; path?: string }): Promise<WebSocketServer> {
    const wss = new WebSocketServer({
      port: opts.port,
      host: opts.host ?? "127.0.0.1",
      path: opts.path ?? "/ws/store",
    });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    this.attachServer(wss);
    this.#servers.push(wss);
    return wss;
  }

  /** Serves every connection of `wss`. */
  attachServer(wss: WebSocketServer): void {
    wss.on("connection", (ws, req) =>
      this.handleConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`),
    );
  }

  /** Waits for queued work, writes a final snapshot, closes links and the log. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#serial(async () => {
      this.#closed = true;
      this.#replicator.close();
      for (const wss of this.#servers) wss.close();
      if (this.#sinceSnapshot > 0) await this.#snapshot();
      await this.#log.close();
    });
  }
}
