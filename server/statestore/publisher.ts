import type { Logger } from "pino";
import { changedFields } from "@/core/statestore/changed-fields";
import type { TEntityValue } from "@/core/statestore/entity-doc";
import type { StateStore } from "@/core/statestore/store";
import { entityKey } from "@/lib/statestore/entities";
import type { TStateStoreRepository } from "@/server/db/repositories/statestore-repository";

/**
 * Writes what the console owns into the store, read from the database the control plane keeps:
 * node ownership (`nodes/<operator>` operator/admitted), placement (`instances/<id>` node, build,
 * owner, formnet IP, resources, desired state), formnet allocations (`peers/<ref>`,
 * `cidrs/<root block>`, e.g. `cidrs/10.42.0.0_16`). Polling the database (rather than hooking the services) catches every
 * writer, including other console processes, and needs no change to the control plane; only
 * fields that differ from the store are written, so an idle pass writes nothing.
 */
export class StorePublisher {
  readonly #store: StateStore;
  readonly #repo: TStateStoreRepository;
  readonly #log: Logger;
  readonly #onAdmit: (operator: string) => void;
  readonly #cidr: string;

  constructor(opts: {
    store: StateStore;
    repo: TStateStoreRepository;
    /** formnet's root block (FORMATION_FORMNET_CIDR). */
    formnetCidr: string;
    log: Logger;
    /** Called for every node operator found, so the authorizer knows it. */
    onAdmit: (operator: string) => void;
  }) {
    this.#store = opts.store;
    this.#repo = opts.repo;
    this.#log = opts.log;
    this.#onAdmit = opts.onAdmit;
    this.#cidr = opts.formnetCidr;
  }

  /** One pass; returns the number of entities written. */
  async syncOnce(): Promise<number> {
    const wanted = new Map<string, TEntityValue>();
    wanted.set(entityKey("cidrs", this.#cidr.replace("/", "_")), { cidr: this.#cidr });

    const operatorOf = new Map<string, string>();
    for (const node of await this.#repo.nodes()) {
      const operator = node.operator.toLowerCase();
      operatorOf.set(node.id, operator);
      this.#onAdmit(operator);
      wanted.set(entityKey("nodes", operator), { operator, admitted: true });
    }

    for (const i of await this.#repo.instances()) {
      const node = operatorOf.get(i.nodeId);
      const key = this.#key("instances", i.id);
      if (!key || !node) continue;
      wanted.set(key, {
        node,
        nodeId: i.nodeId,
        build: i.buildId,
        owner: i.owner.toLowerCase(),
        deployment: i.deploymentId,
        desired: i.desired,
        resources: { vcpu: i.vcpu, memMb: i.memoryMb, diskGb: i.diskGb },
        ...(i.formnetIp ? { formnetIp: i.formnetIp } : {}),
      });
    }

    const live = new Set<string>();
    for (const a of await this.#repo.formnetAddresses()) {
      const key = this.#key("peers", peerEntityId(a.ref));
      if (!key) continue;
      live.add(key);
      const endpoints = parseEndpoints(a.endpoints);
      wanted.set(key, {
        ip: a.ip,
        kind: a.kind,
        ref: a.ref,
        cidr: this.#cidr,
        endpoints,
        released: false,
        ...(a.publicKey ? { publicKey: a.publicKey } : {}),
        ...(endpoints[0] ? { endpoint: endpoints[0] } : {}),
      });
    }
    // Released addresses: the entity stays (history is kept) but says so.
    for (const { key, value } of this.#store.list("peers")) {
      if (!live.has(key) && value.released !== true) wanted.set(key, { released: true });
    }

    const writes: { key: string; mutate: (doc: TEntityValue) => void }[] = [];
    for (const [key, value] of wanted) {
      const diff = changedFields(this.#store.get(key), value);
      if (Object.keys(diff).length === 0) continue;
      writes.push({ key, mutate: (doc) => Object.assign(doc, diff) });
    }
    if (writes.length === 0) return 0;
    await this.#store.writeBatch(writes);
    this.#log.debug({ entities: writes.length }, "published console state to the store");
    return writes.length;
  }

  #key(kind: "instances" | "peers", id: string): string | undefined {
    try {
      return entityKey(kind, id);
    } catch {
      this.#log.warn({ kind, id }, "id cannot be a state-store key; skipped");
      return undefined;
    }
  }
}

/**
 * The store id of a formnet address's ref: a device's ref (`<owner>:<base64 WireGuard key>`) holds
 * `/` and `=`, which are not path-safe in an id; they become `_` and nothing (base64url).
 */
export function peerEntityId(ref: string): string {
  return ref.replaceAll("/", "_").replace(/=+$/, "");
}

function parseEndpoints(raw: string | null): string[] {
  if (!raw) return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.filter((e): e is string => typeof e === "string") : [];
  } catch {
    return [];
  }
}
