import { describe, expect, it } from "vitest";
import {
  ACTIVE_BUILD_STATUSES,
  BUILD_PHASES,
  isActiveBuild,
  isPlacedReplica,
  isShippableBuild,
  PLACED_REPLICA_STATUSES,
  SHIPPABLE_BUILD_STATUSES,
  ZBuildStatus,
} from "./status";

describe("status lists", () => {
  it("derives the build lists from the phases, in order", () => {
    expect(ZBuildStatus.options).toEqual([...BUILD_PHASES, "failed", "cancelled"]);
    expect(ACTIVE_BUILD_STATUSES).toEqual(["queued", "claimed", "building"]);
    expect(SHIPPABLE_BUILD_STATUSES).toEqual(["built", "distributing", "booting", "running"]);
    expect([isActiveBuild("claimed"), isActiveBuild("built"), isShippableBuild("running")]).toEqual([
      true,
      false,
      true,
    ]);
    expect(isShippableBuild("failed")).toBe(false);
  });

  it("counts every replica as placed but the ended ones", () => {
    expect(PLACED_REPLICA_STATUSES).toEqual([
      "pending",
      "booting",
      "running",
      "stopping",
      "stopped",
      "suspended",
    ]);
    // A suspended replica (its memory kept on its node) holds its place like a stopped one.
    expect([
      isPlacedReplica("stopped"),
      isPlacedReplica("suspended"),
      isPlacedReplica("lost"),
      isPlacedReplica("deleted"),
    ]).toEqual([true, true, false, false]);
  });
});
