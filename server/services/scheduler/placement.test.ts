import { describe, expect, it } from "vitest";
import { capacityFor, describeWait, placeReplicas, type TCandidateNode } from "./placement";

const small = { vcpu: 1, memoryMb: 512, diskGb: 5 };
function node(id: string, operator: string, extra: Partial<TCandidateNode> = {}): TCandidateNode {
  return {
    id,
    operator,
    healthy: true,
    capacity: { vcpu: 4, memoryMb: 8192, diskGb: 100 },
    used: { vcpu: 0, memoryMb: 0, diskGb: 0 },
    protocolVersion: 4,
    ...extra,
  };
}

describe("placeReplicas", () => {
  it("puts replicas on distinct nodes and spreads across operators before doubling up", () => {
    const nodes = [node("a1", "A"), node("a2", "A"), node("a3", "A"), node("b1", "B"), node("c1", "C")];
    const p = placeReplicas({ nodes, resources: small, count: 3, seed: "build" });
    expect(new Set(p.nodeIds).size).toBe(3);
    expect(p.nodeIds).toEqual(expect.arrayContaining(["b1", "c1"]));
    expect(p.nodeIds.filter((id) => id.startsWith("a"))).toHaveLength(1);
    expect(p.shortfall).toBe(0);
    expect(p.reason).toBeNull();
  });

  it("skips unhealthy, full and excluded nodes and explains the shortfall", () => {
    const nodes = [
      node("down", "A", { healthy: false }),
      node("full", "B", { used: { vcpu: 4, memoryMb: 0, diskGb: 0 } }),
      node("has-one", "C"),
      node("ok", "D"),
    ];
    const p = placeReplicas({
      nodes,
      resources: small,
      count: 3,
      excludeNodeIds: new Set(["has-one"]),
      seed: "b",
    });
    expect(p.nodeIds).toEqual(["ok"]);
    expect(p.shortfall).toBe(2);
    expect(p.reason).toMatch(/placed 1 of 3/);
  });

  it("prefers emptier nodes and respects memory and disk, not only vCPU", () => {
    const nodes = [
      node("busy", "A", { used: { vcpu: 3, memoryMb: 0, diskGb: 0 } }),
      node("idle", "B"),
      node("nomem", "C", { used: { vcpu: 0, memoryMb: 8000, diskGb: 0 } }),
      node("nodisk", "D", { used: { vcpu: 0, memoryMb: 0, diskGb: 99 } }),
    ];
    expect(placeReplicas({ nodes, resources: small, count: 1, seed: "x" }).nodeIds).toEqual(["idle"]);
    expect(placeReplicas({ nodes, resources: small, count: 4, seed: "x" }).nodeIds).toEqual(["idle", "busy"]);
  });

  it("is deterministic for the same seed and counts operators already hosting replicas", () => {
    const nodes = [node("n1", "A"), node("n2", "B"), node("n3", "C")];
    const a = placeReplicas({ nodes, resources: small, count: 1, seed: "s" });
    const b = placeReplicas({ nodes, resources: small, count: 1, seed: "s" });
    expect(a.nodeIds).toEqual(b.nodeIds);
    const loaded = placeReplicas({
      nodes,
      resources: small,
      count: 1,
      seed: "s",
      operatorLoad: new Map([
        ["A", 1],
        ["B", 1],
      ]),
    });
    expect(loaded.nodeIds).toEqual(["n3"]);
  });

  it("says why a replica waits: capacity with the largest free amount, distinct nodes, no node", () => {
    const one = [node("n1", "A", { used: { vcpu: 3, memoryMb: 0, diskGb: 0 } })];
    const big = { vcpu: 2, memoryMb: 1024, diskGb: 5 };
    expect(describeWait({ nodes: one, resources: big })).toBe(
      "waiting for capacity: needs 2 vCPU, largest free 1",
    );
    expect(placeReplicas({ nodes: one, resources: big, count: 1, seed: "s" }).reason).toBe(
      "placed 0 of 1 replicas; waiting for capacity: needs 2 vCPU, largest free 1",
    );
    expect(describeWait({ nodes: one, resources: small, excludeNodeIds: new Set(["n1"]) })).toMatch(
      /^waiting for another node: replicas go on distinct nodes/,
    );
    expect(describeWait({ nodes: [], resources: small })).toBe(
      "waiting for a node: no healthy node is online",
    );
    expect(capacityFor({ nodes: one, resources: big })).toEqual({
      healthy: 1,
      fitting: 0,
      largestFree: { vcpu: 1, memoryMb: 8192, diskGb: 100 },
    });
  });
});
