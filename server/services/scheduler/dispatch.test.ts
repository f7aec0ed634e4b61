import { describe, expect, it } from "vitest";
import { fairOrder, jobsAhead, ownerTurns, pickBuildNode, type TNodeSlots } from "./dispatch";

const node = (over: Partial<TNodeSlots> & { nodeId: string }): TNodeSlots => ({
  builds: 0,
  heavy: 0,
  slots: 2,
  headroom: 0.5,
  ...over,
});
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe("pickBuildNode", () => {
  it("takes the node with the fewest builds, then fewest heavy jobs, then the most free capacity", () => {
    const nodes = [
      node({ nodeId: "busy", builds: 1, heavy: 1 }),
      node({ nodeId: "booting", heavy: 1 }),
      node({ nodeId: "full-disk", headroom: 0.1 }),
      node({ nodeId: "empty", headroom: 0.9 }),
    ];
    expect(pickBuildNode(nodes, { maxBuilds: 2 })?.nodeId).toBe("empty");
    expect(pickBuildNode(nodes.slice(0, 2), { maxBuilds: 2 })?.nodeId).toBe("booting");
  });

  it("never exceeds the announced slots or the build limit", () => {
    expect(pickBuildNode([node({ nodeId: "a", heavy: 2 })], { maxBuilds: 5 })).toBeUndefined();
    expect(pickBuildNode([node({ nodeId: "a", builds: 1, heavy: 1 })], { maxBuilds: 1 })).toBeUndefined();
    // An agent that did not announce its slots is limited by the build limit alone.
    expect(pickBuildNode([node({ nodeId: "a", heavy: 9, slots: Infinity })], { maxBuilds: 1 })?.nodeId).toBe(
      "a",
    );
  });
});

describe("fairOrder", () => {
  const queue = (owner: string, n: number, oldest: number, active = 0, lastServed = 0) => ({
    owner,
    active,
    lastServed,
    oldest: at(oldest),
    jobs: Array.from({ length: n }, (_, i) => `${owner}${i}`),
  });

  it("lets one owner's single build past another owner's hundred", () => {
    const order = fairOrder([queue("a", 100, 0), queue("b", 1, 50)], 3);
    expect(order).toEqual(["a0", "b0", "a1"]);
  });

  it("serves the owner with the fewest builds running first", () => {
    expect(fairOrder([queue("a", 3, 0, 2), queue("b", 3, 10)], 4)).toEqual(["b0", "b1", "a0", "b2"]);
  });

  it("gives a freed slot to the owner served longest ago, not to the one whose jobs are older", () => {
    // a's first build just finished (a was served at t=5); b's build waits: it goes next.
    expect(fairOrder([queue("a", 99, 0, 0, 5), queue("b", 1, 50)], 2)).toEqual(["b0", "a0"]);
  });

  it("stops at the limit and when every queue is empty", () => {
    expect(fairOrder([queue("a", 1, 0)], 5)).toEqual(["a0"]);
    expect(fairOrder([queue("a", 5, 0)], 0)).toEqual([]);
  });
});

describe("ownerTurns and jobsAhead", () => {
  it("orders owners by what they run, then by how long they waited", () => {
    const owners = [
      { owner: "a", active: 1, lastServed: 0, oldest: at(0) },
      { owner: "b", active: 0, lastServed: 0, oldest: at(9) },
      { owner: "c", active: 0, lastServed: 0, oldest: at(5) },
      { owner: "d", active: 0, lastServed: 7, oldest: at(1) },
    ];
    expect(ownerTurns(owners).map((o) => o.owner)).toEqual(["c", "b", "d", "a"]);
  });

  it("counts the jobs of other owners served before a job", () => {
    const others = [{ active: 0, lastServed: 0, oldest: at(0), queued: 100 }];
    const b = { active: 0, lastServed: 0, oldest: at(50) };
    // Owner b's only build waits for a's first one (a queued earlier), not for all hundred.
    expect(jobsAhead({ owner: b, index: 0, others })).toBe(1);
    // b's third build: b's own two, and a's first three.
    expect(jobsAhead({ owner: b, index: 2, others })).toBe(5);
    // An owner queued before everyone else is first; one served just now waits for the others.
    expect(jobsAhead({ owner: { ...b, oldest: at(-1) }, index: 0, others })).toBe(0);
    expect(jobsAhead({ owner: b, index: 0, others: [{ ...others[0]!, lastServed: 9 }] })).toBe(0);
  });
});
