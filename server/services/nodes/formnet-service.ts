import { allocateLowestFree } from "@/lib/formnet/allocate";
import type { TFormnetPeer } from "@/lib/protocol";
import type { TFormnetKind, TFormnetRepository } from "@/server/db/repositories/formnet-repository";
import type { Notifier } from "@/server/gateway/notifier";

export const FORMNET_CIDR = "10.42.0.0/16";

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
  #queue: Promise<unknown> = Promise.resolve();
  /** Addresses known taken (loaded once; a unique conflict from another console reloads it). */
  #taken: Set<string> | null = null;
  /** Peer list cache, dropped on every `formation_peers` notice. */
  #peers: TFormnetPeer[] | null = null;

  constructor(options: { repo: TFormnetRepository; notifier: Notifier; cidr?: string }) {
    this.#repo = options.repo;
    this.#notifier = options.notifier;
    this.cidr = options.cidr ?? FORMNET_CIDR;
  }

  /**
   * Returns the address held by `ref`, allocating the lowest free one on first use. Allocations of
   * this process run one at a time (many agents welcomed at once would otherwise all race for the
   * same lowest address); other console processes are handled by the unique constraint + retry.
   */
  allocate(opts: TAllocation): Promise<string> {
    const next = this.#queue.then(() => this.#allocate(opts));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #allocate(opts: TAllocation): Promise<string> {
    const existing = await this.#repo.findByRef(opts.ref);
    const endpoints = opts.endpoints ?? [];
    if (existing) {
      if (
        (opts.publicKey ?? null) !== existing.publicKey ||
        JSON.stringify(endpoints) !== existing.endpoints
      ) {
        await this.#repo.updatePeer({ ref: opts.ref, publicKey: opts.publicKey ?? null, endpoints });
        this.#peers = null;
        await this.#notifier.publish("formation_peers", opts.ref);
      }
      return existing.ip;
    }
    for (let attempt = 0; attempt < 20; attempt++) {
      this.#taken ??= new Set(await this.#repo.takenIps());
      const ip = allocateLowestFree({ cidr: this.cidr, taken: this.#taken });
      const inserted = await this.#repo.tryInsert({
        ip,
        kind: opts.kind,
        ref: opts.ref,
        publicKey: opts.publicKey ?? null,
        endpoints: JSON.stringify(endpoints),
      });
      if (inserted) {
        this.#taken.add(ip);
        this.#peers = null;
        if (opts.publicKey) await this.#notifier.publish("formation_peers", opts.ref);
        return ip;
      }
      this.#taken = null;
      const raced = await this.#repo.findByRef(opts.ref);
      if (raced) return raced.ip;
    }
    throw new Error(`could not allocate a formnet address for ${opts.kind} ${opts.ref} after 20 attempts`);
  }

  async release(ref: string): Promise<void> {
    await this.#repo.release(ref);
    this.#taken = null;
    this.#peers = null;
    await this.#notifier.publish("formation_peers", ref);
  }

  /** Every peer with a WireGuard key (nodes, instances holding their own key, user devices). */
  async peers(): Promise<TFormnetPeer[]> {
    this.#peers ??= await this.#loadPeers();
    return this.#peers;
  }

  /** Drops the cached peer list (called for every `formation_peers` notice, local or remote). */
  invalidatePeers(): void {
    this.#peers = null;
  }

  async #loadPeers(): Promise<TFormnetPeer[]> {
    const rows = await this.#repo.list();
    const peers: TFormnetPeer[] = [];
    for (const r of rows) {
      if (!r.publicKey) continue;
      const endpoints = r.endpoints ? (JSON.parse(r.endpoints) as unknown) : [];
      peers.push({
        publicKey: r.publicKey,
        ip: r.ip,
        endpoints: Array.isArray(endpoints)
          ? endpoints.filter((e): e is string => typeof e === "string")
          : [],
        kind: r.kind === "node" || r.kind === "instance" ? r.kind : "user",
        ref: r.ref,
      });
    }
    return peers;
  }
}
