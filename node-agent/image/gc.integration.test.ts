import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { link, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { collectImageGarbage } from "./gc";

/**
 * The image GC on real files: builder-cache entries hard-linked into an agent store (as the build
 * job does), a store-only download, an incomplete cache entry, a VM's image and an image another
 * process holds open.
 */
describe("collectImageGarbage (real files)", () => {
  let work: string;
  let store: string;
  let cache: string;
  const children: ReturnType<typeof spawn>[] = [];

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), "fm-gc-it-"));
    store = join(work, "agent/images");
    cache = join(work, "cache");
    await mkdir(store, { recursive: true });
    await mkdir(join(cache, "images"), { recursive: true });
  });
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill("SIGKILL");
    await rm(work, { recursive: true, force: true });
  });

  const hex = (n: number) => String(n).repeat(64).slice(0, 64);
  const t0 = Date.now();
  /**
   * "Last used" is the newest of mtime and ctime. ctime cannot be set and ext4 stamps it with a
   * coarse clock (files made in one tick tie), so each file gets a distinct mtime ahead of it.
   */
  const stamp = async (n: number, paths: string[]) => {
    const t = new Date(t0 + n * 60_000);
    for (const p of paths) await utimes(p, t, t);
  };
  /** A built image: cache entry with meta.json, hard-linked into the store. Created in call order. */
  async function built(n: number): Promise<{ cacheDir: string; storePath: string }> {
    const cacheDir = join(cache, "images", `key${n}`);
    await mkdir(cacheDir);
    await writeFile(join(cacheDir, "image.qcow2"), `image ${n}`);
    await writeFile(join(cacheDir, "meta.json"), JSON.stringify({ digest: `sha256:${hex(n)}` }));
    const storePath = join(store, `sha256-${hex(n)}.img`);
    await link(join(cacheDir, "image.qcow2"), storePath);
    await stamp(n, [join(cacheDir, "image.qcow2"), join(cacheDir, "meta.json"), cacheDir]);
    return { cacheDir, storePath };
  }

  it("deletes unused old images (both names), keeps the recent, the VM's and the open ones", async () => {
    const vmImage = await built(1);
    const openImage = await built(2);
    const garbage = await built(3);
    const downloaded = join(store, `sha256-${hex(4)}.img`);
    await writeFile(downloaded, "downloaded");
    await stamp(4, [downloaded]);
    const incomplete = join(cache, "images", "crashed");
    await mkdir(incomplete);
    await writeFile(join(incomplete, "image.qcow2"), "half");
    await stamp(0, [join(incomplete, "image.qcow2"), incomplete]);
    const newest = await built(5);
    await writeFile(join(store, "not-an-image.tmp"), "x");

    // Another process (a QEMU of another agent, say) has image 2 open through its cache name.
    const holder = spawn(
      "sh",
      ["-c", `exec 3<"$0"; echo ready; exec sleep 60`, join(openImage.cacheDir, "image.qcow2")],
      {
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    children.push(holder);
    await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));

    const opts = { storeDir: store, cacheDir: cache, vmImagePaths: [vmImage.storePath], keepRecent: 1 };
    // Everything is at most minutes old: the 30-minute minimum age protects it all.
    const young = await collectImageGarbage(opts);
    expect(young.deleted).toEqual([]);

    const result = await collectImageGarbage({ ...opts, nowMs: t0 + 3 * 3_600_000 });
    expect(result.deleted.map((d) => d.digest).sort()).toEqual([
      null,
      `sha256:${hex(3)}`,
      `sha256:${hex(4)}`,
    ]);
    expect(result.freedBytes).toBeGreaterThan(0);
    expect(existsSync(garbage.cacheDir)).toBe(false);
    expect(existsSync(garbage.storePath)).toBe(false);
    expect(existsSync(downloaded)).toBe(false);
    expect(existsSync(incomplete)).toBe(false);
    for (const kept of [vmImage, openImage, newest]) {
      expect(existsSync(join(kept.cacheDir, "image.qcow2"))).toBe(true);
      expect(existsSync(kept.storePath)).toBe(true);
    }
    expect((await readdir(store)).sort()).toContain("not-an-image.tmp");
  });

  it("a VM on the cache name protects the store link of the same file", async () => {
    const a = await built(1);
    await built(2);
    const result = await collectImageGarbage({
      storeDir: store,
      cacheDir: cache,
      vmImagePaths: [join(a.cacheDir, "image.qcow2")],
      keepRecent: 0,
      nowMs: t0 + 3 * 3_600_000,
    });
    expect(result.deleted.map((d) => d.digest)).toEqual([`sha256:${hex(2)}`]);
    expect(existsSync(a.storePath)).toBe(true);
  });

  it("keeps a download's kept bytes while young, deletes them once older than the minimum age", async () => {
    const young = join(store, `sha256-${hex(7)}.img.part`);
    const old = join(store, `sha256-${hex(8)}.img.part`);
    await writeFile(young, "part");
    await writeFile(old, "part");
    const now = t0 + 3 * 3_600_000;
    await utimes(young, new Date(now - 60_000), new Date(now - 60_000));
    await utimes(old, new Date(now - 2 * 3_600_000), new Date(now - 2 * 3_600_000));
    await collectImageGarbage({ storeDir: store, cacheDir: cache, vmImagePaths: [], nowMs: now });
    expect(existsSync(young)).toBe(true);
    expect(existsSync(old)).toBe(false);
  });
});
