import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils";

import type { TResources } from "./resources";

export type { TResources };

export type TCandidateNode = {
  id: string;
  operator: string;
  /** Connected and heartbeating within the offline threshold. */
  healthy: boolean;
  capacity: TResources;
  /** Resources already promised to instances on the node. */
  used: TResources;
  /** The node agent's protocol version (what jobs it understands). */
  protocolVersion: number;
};

export type TPlacementRequest = {
  nodes: readonly TCandidateNode[];
  resources: TResources;
  count: number;
  /** Nodes that already host a replica of this deployment (replicas go on distinct nodes). */
  excludeNodeIds?: ReadonlySet<string>;
  /** Operators already hosting replicas, with how many; new replicas prefer other operators. */
  operatorLoad?: ReadonlyMap<string, number>;
  /** Stable tie-break seed (the build id), so placement is deterministic for a given input. */
  seed: string;
};

export type TPlacement = {
  nodeIds: string[];
  /** Replicas that could not be placed. */
  shortfall: number;
  /** Human-readable explanation when `shortfall > 0`. */
  reason: string | null;
  /** Why the replicas not placed wait (`describeWait`), when `shortfall > 0`. */
  wait: string | null;
};

function fits(node: TCandidateNode, r: TResources): boolean {
  return (
    node.capacity.vcpu - node.used.vcpu >= r.vcpu &&
    node.capacity.memoryMb - node.used.memoryMb >= r.memoryMb &&
    node.capacity.diskGb - node.used.diskGb >= r.diskGb
  );
}

/** Fraction of the scarcest resource left after placing `r` (higher = emptier node). */
function headroom(node: TCandidateNode, r: TResources): number {
  return Math.min(
    (node.capacity.vcpu - node.used.vcpu - r.vcpu) / node.capacity.vcpu,
    (node.capacity.memoryMb - node.used.memoryMb - r.memoryMb) / node.capacity.memoryMb,
    (node.capacity.diskGb - node.used.diskGb - r.diskGb) / node.capacity.diskGb,
  );
}

function distance(nodeId: string, seed: string): string {
  return bytesToHex(sha256(utf8ToBytes(`${seed}:${nodeId}`)));
}

/**
 * Chooses up to `count` distinct healthy nodes with enough free VCPU, memory and disk. Replicas
 * spread across operators first (an operator going away should not take several replicas with it),
 * then onto the emptiest nodes; a hash of (seed, node) breaks ties deterministically, like the
 * original's XOR distance.
 */
export function placeReplicas(request: TPlacementRequest): TPlacement {
  const excluded = request.excludeNodeIds ?? new Set<string>();
  const operatorLoad = new Map(request.operatorLoad ?? []);
  const healthy = request.nodes.filter((n) => n.healthy && !excluded.has(n.id));
  const eligible = healthy.filter((n) => fits(n, request.resources));
  const picked: string[] = [];
  const pool = [...eligible];
  while (picked.length < request.count && pool.length > 0) {
    pool.sort((a, b) => {
      const load = (operatorLoad.get(a.operator) ?? 0) - (operatorLoad.get(b.operator) ?? 0);
      if (load !== 0) return load;
      const room = headroom(b, request.resources) - headroom(a, request.resources);
      if (Math.abs(room) > 1e-9) return room;
      return distance(a.id, request.seed) < distance(b.id, request.seed) ? -1 : 1;
    });
    const next = pool.shift();
    if (!next) break;
    picked.push(next.id);
    operatorLoad.set(next.operator, (operatorLoad.get(next.operator) ?? 0) + 1);
  }
  const shortfall = request.count - picked.length;
  let reason: string | null = null;
  let wait: string | null = null;
  if (shortfall > 0) {
    wait = describeWait({
      nodes: request.nodes,
      resources: request.resources,
      excludeNodeIds: new Set([...excluded, ...picked]),
    });
    reason = `placed ${picked.length} of ${request.count} replicas; ${wait}`;
  }
  return { nodeIds: picked, shortfall, reason, wait };
}

const free = (n: TCandidateNode): TResources => ({
  vcpu: n.capacity.vcpu - n.used.vcpu,
  memoryMb: n.capacity.memoryMb - n.used.memoryMb,
  diskGb: n.capacity.diskGb - n.used.diskGb,
});

/**
 * Why a replica of `resources` cannot be placed right now, in the words the console shows
 * everywhere (build page, deployment, CLI): "waiting for capacity: needs 2 vCPU, largest free 1".
 * Null when a node would take it.
 */
export function describeWait(opts: {
  nodes: readonly TCandidateNode[];
  resources: TResources;
  excludeNodeIds?: ReadonlySet<string>;
}): string {
  const r = opts.resources;
  const healthy = opts.nodes.filter((n) => n.healthy);
  if (healthy.length === 0) return "waiting for a node: no healthy node is online";
  const open = healthy.filter((n) => !opts.excludeNodeIds?.has(n.id));
  if (open.length === 0) {
    return `waiting for another node: replicas go on distinct nodes and all ${healthy.length} healthy node(s) already host one`;
  }
  if (open.some((n) => fits(n, r))) return "waiting to be placed";
  const largest = (key: keyof TResources) => Math.max(...open.map((n) => free(n)[key]));
  const short: string[] = [];
  if (largest("vcpu") < r.vcpu)
    short.push(`needs ${r.vcpu} vCPU, largest free ${Math.max(0, largest("vcpu"))}`);
  if (largest("memoryMb") < r.memoryMb)
    short.push(`needs ${r.memoryMb} MB memory, largest free ${Math.max(0, largest("memoryMb"))} MB`);
  if (largest("diskGb") < r.diskGb)
    short.push(`needs ${r.diskGb} GB disk, largest free ${Math.max(0, largest("diskGb"))} GB`);
  if (short.length === 0) {
    short.push(`no single node has ${r.vcpu} vCPU, ${r.memoryMb} MB and ${r.diskGb} GB free at once`);
  }
  return `waiting for capacity: ${short.join("; ")}`;
}

/** How many of `nodes` could take one replica of `resources` now, and the largest free amounts. */
export function capacityFor(opts: { nodes: readonly TCandidateNode[]; resources: TResources }): {
  healthy: number;
  fitting: number;
  largestFree: TResources;
} {
  const healthy = opts.nodes.filter((n) => n.healthy);
  const most = (key: keyof TResources) => Math.max(0, ...healthy.map((n) => free(n)[key]));
  return {
    healthy: healthy.length,
    fitting: healthy.filter((n) => fits(n, opts.resources)).length,
    largestFree: { vcpu: most("vcpu"), memoryMb: most("memoryMb"), diskGb: most("diskGb") },
  };
}
