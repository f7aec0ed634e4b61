import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { SnapshotStore, snapshotKey, type TSnapshotShape } from "./snapshots";

describe("snapshot store", () => {
  let dir: string;
  let store: SnapshotStore;
  let shape: TSnapshotShape;

  const make = async (s: TSnapshotShape, state = "memory", disk = "disk") => {
    const work = await store.workDir();
    await writeFile(join(work, "state.bin"), state);
    await writeFile(join(work, "disk.qcow2"), disk);
    return store.commit(work, s);
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-snapshots-"));
    store = new SnapshotStore(join(dir, "snapshots"), createLogger("test"));
    const image = join(dir, "image.qcow2");
    await writeFile(image, "image");
    shape = {
      imagePath: image,
      vcpu: 1,
      memoryMb: 1024,
      diskGb: 5,
      accelerator: "tcg",
      kernel: "6.1 /boot/vmlinuz",
      initrd: "/i.img",
      qemu: "QEMU 7.2",
    };
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("keys by every part of the shape", () => {
    expect(snapshotKey(shape)).toBe(snapshotKey({ ...shape }));
    for (const change of [
      { vcpu: 2 },
      { memoryMb: 2048 },
      { diskGb: 6 },
      { qemu: "QEMU 8" },
      { initrd: "/j" },
    ])
      expect(snapshotKey({ ...shape, ...change })).not.toBe(snapshotKey(shape));
  });

  it("finds a committed snapshot for its shape only, and verifies it", async () => {
    const made = await make(shape);
    const found = await store.find(shape);
    expect(found?.key).toBe(made.key);
    expect(await store.find({ ...shape, memoryMb: 512 })).toBeNull();
    if (!found) throw new Error("not found");
    await expect(store.verify(found)).resolves.toBeUndefined();
    expect(JSON.parse(await readFile(join(found.dir, "meta.json"), "utf8")).state.bytes).toBe(6);
  });

  it("refuses and removes a snapshot whose bytes changed (same size)", async () => {
    const made = await make(shape);
    await writeFile(made.statePath, "MEMORY");
    const found = await store.find(shape);
    if (!found) throw new Error("a same-size change is found, then caught by verify");
    await expect(store.verify(found)).rejects.toThrow(/corrupt: state.bin/);
    expect(await store.find(shape)).toBeNull();
  });

  it("removes a snapshot with a truncated file or an unreadable meta at lookup", async () => {
    const made = await make(shape);
    await writeFile(made.diskPath, "d");
    expect(await store.find(shape)).toBeNull();
    const again = await make(shape);
    await writeFile(join(again.dir, "meta.json"), "{");
    expect(await store.find(shape)).toBeNull();
    expect(await store.list()).toEqual([]);
  });

  it("prunes snapshots whose image is gone and work dirs left by a killed agent", async () => {
    await make(shape);
    const other = { ...shape, imagePath: join(dir, "gone.qcow2") };
    await make(other);
    const leftover = await store.workDir();
    const removed = await store.prune();
    expect(removed).toContain(snapshotKey(other));
    expect(removed.some((r) => leftover.endsWith(r))).toBe(true);
    expect((await store.list()).map((m) => m.key)).toEqual([snapshotKey(shape)]);
  });
});
