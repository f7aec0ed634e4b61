import { allocateLowestFree } from "@/lib/formnet/allocate";
import { FORMNET_DEFAULT_CIDR, isEndpoint } from "@/lib/formnet/schemas";
import { visiblePeers } from "@/lib/formnet/visible-peers";
import { encodeMessage, type TFormnetPeer } from "@/lib/protocol";
import type {
  TFormnetKind,
  TFormnetRepository,
  TFormnetRow,
} from "@/server/db/repositories/formnet-repository";
import { AppError } from "@/server/errors";
import type { Notifier } from "@/server/gateway/notifier";

/** Devices one user may join unless configured otherwise (FORMATION_FORMNET_MAX_DEVICES). */
export const DEFAULT_MAX_DEVICES_PER_USER = 10;

/** The formnet ref of a user's device. */
export function deviceRef(owner: string, publicKey: string): string {
  return `${owner.toLowerCase()}:${publicKey}`;
}

/**
 * CONFLICT: the key already names another formnet member. WireGuard peers are identified by their
 * key and agents merge peers sharing one, so a second holder would take over the first one's
 * peer entry (its traffic) on every node.
 */
export function keyTakenError(kind: TFormnetKind): AppError {
  const fix =
    kind === "node"
      ? "generate a new node key: stop the agent, delete formnet/wg.key in its data directory and start it again"
      : "generate a new key: delete formnet/formnet.key in the CLI's config directory and run `form manage join` again";
  return new AppError(
    "CONFLICT",
    `this WireGuard key is already a formnet member (a node, an instance or another device holds it); ${fix}`,
  );
}

type TAddressBook = { taken: Set<string>; byRef: Map<string, string> };

type TAllocation = { kind: TFormnetKind; ref: string; publicKey?: string | null; endpoints?: string[] };

/**
 * formnet address allocation on the console: lowest free address per node, instance or user
 * device, stored under a unique constraint (a lost race retries with the next free address).
 * Changes to the peer list are announced on the `formation_peers` topic.
 */
export class FormnetService {
  readonly #repo: TFormnetRepository;
  readonly #notifier: Notifier;
  readonly cidr: string;
  /** Addresses known taken (loaded once; a unique conflict from another console reloads it). */
  #address: Promise<TAddressBook> | null = null;
  /**
   * Peer cache keyed by ref, in allocation order. A `formation_peers` notice marks its ref dirty
   * and only dirty refs are re-read, so a join costs O(1) statements instead of re-reading (and
   * re-serialising) every peer: at thousands of nodes that reload made joins O(n²).
   */
  #cache: Map<string, TFormnetPeer> | null = null;
  readonly #dirty = new Set<string>();
  #list: TFormnetPeer[] | null = null;
  #frames: { pageSize: number; frames: string[] } | null = null;
  #refreshing: Promise<void> | null = null;

  /** Most devices one user may have joined at once (issue #23). */
  readonly maxDevicesPerUser: number;

  constructor(options: {
    repo: TFormnetRepository;
    notifier: Notifier;
    cidr?: string;
    maxDevicesPerUser?: number;
  }) {
    this.#repo = options.repo;
    this.#notifier = options.notifier;
    this.cidr = options.cidr ?? FORMNET_DEFAULT_CIDR;
    this.maxDevicesPerUser = options.maxDevicesPerUser ?? DEFAULT_MAX_DEVICES_PER_USER;
  }

  /**
   * Joins (or refreshes) a user's device: its key must not name any other member (node, instance,
   * another device of anyone) and the user must be under the device cap. Re-joining with the same
   * key returns the same address.
   */
  async joinDevice(opts: { owner: string; publicKey: string; endpoints: string[] }): Promise<string> {
    const owner = opts.owner.toLowerCase();
    const ref = deviceRef(owner, opts.publicKey);
    const holder = await this.#repo.findByPublicKey(opts.publicKey);
    if (holder && holder.ref !== ref) throw keyTakenError("user");
    if (holder === null) await this.#checkDeviceCap(owner, 0);
    const ip = await this.allocate({
      kind: "user",
      ref,
      publicKey: opts.publicKey,
      endpoints: opts.endpoints,
    });
    if (holder === null) {
      // Concurrent joins may all pass the first check; whoever finds the cap exceeded after its
      // insert backs out, so the cap holds (a lost race answers the same error).
      try {
        await this.#checkDeviceCap(owner, 1);
      } catch (error) {
        await this.release(ref);
        throw error;
      }
    }
    return ip;
  }

  /**
   * Joins a user's device (`joinDevice`) and answers what the device configures: its address, the
   * block and the peers its user may see, itself excluded.
   */
  async join(opts: { owner: string; publicKey: string; endpoints: string[] }) {
    const ip = await this.joinDevice(opts);
    const peers = (await this.peersVisibleTo({ address: opts.owner, isAdmin: false })).filter(
      (p) => p.publicKey !== opts.publicKey,
    );
    return { ip, cidr: this.cidr, peers };
  }

  /** The peer list as `viewer` may see it (`visiblePeers`: nodes and own devices; admins all). */
  async peersVisibleTo(viewer: { address: string; isAdmin: boolean }): Promise<TFormnetPeer[]> {
    return visiblePeers(await this.peers(), viewer);
  }

  /** The formnet block and the addresses of `owner`'s devices. */
  async status(
    owner: string,
  ): Promise<{ cidr: string; devices: { ip: string; publicKey: string | null }[] }> {
    const devices = await this.#repo.devicesOf(owner);
    return { cidr: this.cidr, devices: devices.map((r) => ({ ip: r.ip, publicKey: r.publicKey })) };
  }

  /** Whether `publicKey` is one of `owner`'s joined devices (the relay admits those). */
  async isJoinedDevice(opts: { owner: string; publicKey: string }): Promise<boolean> {
    return (await this.#repo.findByRef(deviceRef(opts.owner, opts.publicKey))) !== null;
  }

  /** Removes a user's device: its address, key and device slot are free again. */
  async leaveDevice(opts: { owner: string; publicKey: string }): Promise<boolean> {
    const ref = deviceRef(opts.owner, opts.publicKey);
    if ((await this.#repo.findByRef(ref)) === null) return false;
    await this.release(ref);
    return true;
  }

  async #checkDeviceCap(owner: string, excess: number): Promise<void> {
    const devices = await this.#repo.countUserDevices(owner);
    if (devices <= this.maxDevicesPerUser - 1 + excess) return;
    throw new AppError(
      "PRECONDITION_FAILED",
      `you have ${devices - excess} devices in formnet, the most one account may join is ${this.maxDevicesPerUser}; ` +
        "run `form manage leave` on a device you no longer use, then join again",
      { details: { devices: devices - excess, limit: this.maxDevicesPerUser } },
    );
  }

  /**
   * Returns the address held by `ref`, allocating the lowest free one on first use. Concurrent
   * allocations of this process do not wait for each other: the address is reserved in memory
   * before the insert, so many agents welcomed at once get distinct addresses without serialising
   * the join path. Other console processes are handled by the unique constraints + retry.
   */
  async allocate(opts: TAllocation): Promise<string> {
    const endpoints = opts.endpoints ?? [];
    const book = await this.#book();
    // Refs this process has not seen are new (or were allocated by another console, which the
    // insert's unique constraint reveals): skip the lookup, it costs a statement per join.
    if (book.byRef.has(opts.ref)) {
      const existing = await this.#repo.findByRef(opts.ref);
      if (existing) {
        if (
          (opts.publicKey ?? null) !== existing.publicKey ||
          JSON.stringify(endpoints) !== existing.endpoints
        ) {
          const updated = await this.#repo.updatePeer({
            ref: opts.ref,
            publicKey: opts.publicKey ?? null,
            endpoints,
          });
          if (!updated) throw keyTakenError(opts.kind);
          this.invalidatePeers(opts.ref);
          await this.#notifier.publish("formation_peers", opts.ref);
        }
        return existing.ip;
      }
    }
    for (let attempt = 0; attempt < 20; attempt++) {
      const loading = this.#book();
      const current = await loading;
      // Synchronous pick-and-reserve: no await between choosing the address and marking it taken.
      const ip = allocateLowestFree({ cidr: this.cidr, taken: current.taken });
      current.taken.add(ip);
      const inserted = await this.#repo.tryInsert({
        ip,
        kind: opts.kind,
        ref: opts.ref,
        publicKey: opts.publicKey ?? null,
        endpoints: JSON.stringify(endpoints),
      });
      if (inserted) {
        current.byRef.set(opts.ref, ip);
        this.invalidatePeers(opts.ref);
        if (opts.publicKey) await this.#notifier.publish("formation_peers", opts.ref);
        return ip;
      }
      // Lost the address or the ref to another console (or a concurrent allocation of the same
      // ref), or another member holds the key: reload what is taken and see which it was.
      if (this.#address === loading) this.#address = null;
      const raced = await this.#repo.findByRef(opts.ref);
      if (raced) return raced.ip;
      if (opts.publicKey) {
        const holder = await this.#repo.findByPublicKey(opts.publicKey);
        if (holder && holder.ref !== opts.ref) throw keyTakenError(opts.kind);
      }
    }
    throw new Error(`could not allocate a formnet address for ${opts.kind} ${opts.ref} after 20 attempts`);
  }

  /** Addresses known taken and refs known to hold one (loaded once, reloaded after a conflict). */
  #book(): Promise<TAddressBook> {
    this.#address ??= this.#repo.addressBook().then((rows) => ({
      taken: new Set(rows.map((r) => r.ip)),
      byRef: new Map(rows.map((r) => [r.ref, r.ip])),
    }));
    const loading = this.#address;
    // A failed load must not stick: the next call retries.
    loading.catch(() => {
      if (this.#address === loading) this.#address = null;
    });
    return loading;
  }

  async release(ref: string): Promise<void> {
    await this.#repo.release(ref);
    this.#address = null;
    this.invalidatePeers(ref);
    await this.#notifier.publish("formation_peers", ref);
  }

  /** Every peer with a WireGuard key (nodes, instances holding their own key, user devices). */
  async peers(): Promise<TFormnetPeer[]> {
    // One refresh at a time: concurrent callers (a join storm) share it instead of racing.
    while (this.#cache === null || this.#dirty.size > 0) {
      this.#refreshing ??= this.#refresh().finally(() => {
        this.#refreshing = null;
      });
      await this.#refreshing;
    }
    if (this.#list === null) {
      this.#list = [...this.#cache.values()];
      this.#frames = null;
    }
    return this.#list;
  }

  async #refresh(): Promise<void> {
    if (this.#cache === null) {
      // Refs invalidated while the table is read stay dirty and are re-read next round.
      this.#dirty.clear();
      const cache = new Map<string, TFormnetPeer>();
      for (const r of await this.#repo.list()) {
        const peer = toPeer(r);
        if (peer) cache.set(r.ref, peer);
      }
      this.#cache = cache;
      this.#list = null;
      return;
    }
    const refs = [...this.#dirty];
    this.#dirty.clear();
    const rows = new Map<string, TFormnetRow>();
    for (let i = 0; i < refs.length; i += 500) {
      for (const r of await this.#repo.listByRefs(refs.slice(i, i + 500))) rows.set(r.ref, r);
    }
    // A full invalidation during the read dropped the cache; the next round reloads it all.
    const cache = this.#cache;
    if (cache === null) return;
    for (const ref of refs) {
      const row = rows.get(ref);
      const peer = row ? toPeer(row) : null;
      if (peer) cache.set(ref, peer);
      else cache.delete(ref);
    }
    this.#list = null;
  }

  /**
   * The full peer list as encoded `formnet.peers` frames of at most `pageSize` peers (one frame
   * when `pageSize` is Infinity), cached until the list changes: every joining agent gets the
   * same bytes, so they are serialised once per change instead of once per join. The first frame
   * is `full: true`, the rest are `full: false` deltas (only for agents that merge deltas), which
   * keeps every frame under the protocol's frame limit however large the mesh grows.
   */
  async fullFrames(pageSize = Number.POSITIVE_INFINITY): Promise<string[]> {
    const peers = await this.peers();
    if (this.#frames?.pageSize === pageSize) return this.#frames.frames;
    const frames: string[] = [];
    const size = Number.isFinite(pageSize) ? Math.max(1, pageSize) : Math.max(1, peers.length);
    for (let i = 0; i === 0 || i < peers.length; i += size) {
      frames.push(encodeMessage({ type: "formnet.peers", peers: peers.slice(i, i + size), full: i === 0 }));
    }
    this.#frames = { pageSize, frames };
    return frames;
  }

  /**
   * Marks a changed peer (called for every `formation_peers` notice, local or remote); `*` or no
   * ref drops the whole cache.
   */
  invalidatePeers(ref?: string): void {
    if (ref === undefined || ref === "*") {
      this.#cache = null;
      this.#dirty.clear();
    } else {
      this.#dirty.add(ref);
    }
    this.#list = null;
    this.#frames = null;
  }
}

function toPeer(r: TFormnetRow): TFormnetPeer | null {
  if (!r.publicKey) return null;
  const endpoints = r.endpoints ? (JSON.parse(r.endpoints) as unknown) : [];
  return {
    publicKey: r.publicKey,
    ip: r.ip,
    // Only dialable endpoints travel: one bad entry would make agents refuse the whole frame.
    endpoints: Array.isArray(endpoints)
      ? endpoints.filter((e): e is string => typeof e === "string" && isEndpoint(e)).slice(0, 16)
      : [],
    kind: r.kind,
    ref: r.ref,
  };
}
