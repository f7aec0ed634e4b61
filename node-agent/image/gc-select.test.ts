import { describe, expect, it } from "vitest";
import { freedBytes, groupByDigest, selectImageGarbage, type TImageGroup, type TInUse } from "./gc-select";

const MIN = 60_000;
const NOW = 1_000 * MIN;
const d = (n: number) => `sha256:${String(n).padStart(64, "0")}`;

/** An image last used `ageMin` minutes ago, with a cache copy and a store link sharing one inode. */
function image(n: number, ageMin: number): TImageGroup {
  return {
    digest: d(n),
    files: [
      { path: `/cache/images/k${n}/image.qcow2`, inode: `1:${n}`, bytes: 100 },
      { path: `/data/images/sha256-${n}.img`, inode: `1:${n}`, bytes: 100 },
    ],
    removePaths: [`/cache/images/k${n}`, `/data/images/sha256-${n}.img`],
    usedAtMs: NOW - ageMin * MIN,
  };
}

const none: TInUse = { paths: new Set(), inodes: new Set() };
const policy = { keepRecent: 2, minAgeMs: 30 * MIN, nowMs: NOW };
const digests = (gs: TImageGroup[]) => gs.map((g) => g.digest);

describe("selectImageGarbage", () => {
  it("keeps the N most recently used and deletes the rest", () => {
    const groups = [image(1, 500), image(2, 60), image(3, 400), image(4, 90)];
    expect(digests(selectImageGarbage({ groups, inUse: none, policy }))).toEqual([d(1), d(3)]);
  });

  it("never deletes an image a VM uses, by path or by the same inode under another name", () => {
    const groups = [image(1, 500), image(2, 600), image(3, 700), image(4, 1), image(5, 2)];
    const inUse: TInUse = {
      paths: new Set(["/data/images/sha256-1.img"]),
      inodes: new Set(["1:2"]),
    };
    expect(digests(selectImageGarbage({ groups, inUse, policy }))).toEqual([d(3)]);
  });

  it("in-use images still count among the N most recent (N recent + everything in use survive)", () => {
    const groups = [image(1, 50), image(2, 60), image(3, 70)];
    const inUse: TInUse = { paths: new Set(), inodes: new Set(["1:1"]) };
    expect(digests(selectImageGarbage({ groups, inUse, policy }))).toEqual([d(3)]);
  });

  it("keeps a base while an image that stays is a layer over it; then it goes like any image", () => {
    const base = image(9, 900);
    const layer = { ...image(1, 50), baseDigest: d(9) };
    const oldLayer = { ...image(2, 800), baseDigest: d(9) };
    const other = image(3, 40);
    expect(
      digests(selectImageGarbage({ groups: [base, layer, oldLayer, other], inUse: none, policy })),
    ).toEqual([d(2)]);
    // Only the newest (unrelated) image is recent now: both layers go, and the base with them.
    const one = { ...policy, keepRecent: 1 };
    expect(
      digests(selectImageGarbage({ groups: [base, layer, oldLayer, other], inUse: none, policy: one })),
    ).toEqual([d(9), d(1), d(2)]);
  });

  it("keeps anything used within the minimum age, even beyond N", () => {
    const groups = [image(1, 1), image(2, 2), image(3, 29), image(4, 31)];
    expect(digests(selectImageGarbage({ groups, inUse: none, policy }))).toEqual([d(4)]);
  });

  it("keepRecent 0 keeps only what is in use or young", () => {
    const groups = [image(1, 100), image(2, 200)];
    const zero = { ...policy, keepRecent: 0 };
    expect(digests(selectImageGarbage({ groups, inUse: none, policy: zero }))).toEqual([d(1), d(2)]);
  });

  it("incomplete cache entries never take a recent slot and go once old", () => {
    const broken = (ageMin: number): TImageGroup => ({
      digest: null,
      files: [{ path: `/cache/images/x${ageMin}/image.qcow2`, inode: `missing:${ageMin}`, bytes: 0 }],
      removePaths: [`/cache/images/x${ageMin}`],
      usedAtMs: NOW - ageMin * MIN,
    });
    const old = broken(100);
    const young = broken(5);
    const groups = [old, young, image(1, 300), image(2, 400)];
    expect(selectImageGarbage({ groups, inUse: none, policy })).toEqual([old]);
  });
});

describe("groupByDigest / freedBytes", () => {
  it("merges the cache copy and store link of one digest and counts a shared inode once", () => {
    const groups = groupByDigest([
      { digest: d(1), file: { path: "/s/a", inode: "1:1", bytes: 100 }, removePath: "/s/a", usedAtMs: 5 },
      { digest: d(1), file: { path: "/c/a", inode: "1:1", bytes: 100 }, removePath: "/c", usedAtMs: 9 },
      { digest: d(2), file: { path: "/s/b", inode: "1:2", bytes: 50 }, removePath: "/s/b", usedAtMs: 1 },
      { digest: null, file: { path: "/c/x", inode: "m", bytes: 0 }, removePath: "/cx", usedAtMs: 1 },
      { digest: null, file: { path: "/c/y", inode: "n", bytes: 0 }, removePath: "/cy", usedAtMs: 1 },
    ]);
    expect(groups).toHaveLength(4);
    expect(groups[0]).toMatchObject({ digest: d(1), removePaths: ["/s/a", "/c"], usedAtMs: 9 });
    expect(freedBytes(groups)).toBe(150);
  });
});
