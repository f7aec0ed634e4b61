import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../host/exec";
import { isMounted, loopDevicesFor } from "./disk";
import { cleanStaleBuildWork, WORK_OWNER_FILE } from "./stale-work";

/** A pid that certainly belongs to no live process: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number.parseInt(child.stdout.trim(), 10);
}

/** A work directory as the builder leaves it mid-build: a loop-mounted ext4 disk at `root`. */
async function mountedWorkDir(cacheDir: string, name: string, ownerPid: number): Promise<string> {
  const dir = join(cacheDir, "work", name);
  await mkdir(join(dir, "root"), { recursive: true });
  await writeFile(join(dir, WORK_OWNER_FILE), `${ownerPid}\n`);
  const raw = join(dir, "disk.raw");
  await run(["truncate", "-s", "16M", raw]);
  await run(["mkfs.ext4", "-q", "-F", raw]);
  await run(["mount", "-o", "loop", raw, join(dir, "root")]);
  return dir;
}

describe("cleanStaleBuildWork (real loop mounts)", () => {
  const cacheDirs: string[] = [];
  afterAll(async () => {
    for (const dir of cacheDirs) {
      await run(["sh", "-c", `grep -o ' ${dir}[^ ]*' /proc/self/mounts | xargs -r -n1 umount -l`], {
        allowFailure: true,
      });
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("unmounts, detaches and deletes the work of a dead builder and keeps a live one's", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "fm-stale-work-"));
    cacheDirs.push(cacheDir);
    const dead = await mountedWorkDir(cacheDir, "dead-build-", deadPid());
    const live = await mountedWorkDir(cacheDir, "live-build-", process.pid);
    expect(await loopDevicesFor(join(dead, "disk.raw"))).toHaveLength(1);

    const result = await cleanStaleBuildWork({ cacheDir });

    expect(result.removed).toEqual([dead]);
    expect(result.kept).toEqual([live]);
    expect(existsSync(dead)).toBe(false);
    expect(await isMounted(join(dead, "root"))).toBe(false);
    expect(await loopDevicesFor(join(dead, "disk.raw"))).toEqual([]);
    expect(await isMounted(join(live, "root"))).toBe(true);

    await run(["umount", join(live, "root")]);
    expect(await loopDevicesFor(join(live, "disk.raw"))).toEqual([]);
  });

  it("does nothing when there is no work directory", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "fm-stale-work-"));
    cacheDirs.push(cacheDir);
    expect(await cleanStaleBuildWork({ cacheDir })).toEqual({ removed: [], kept: [] });
  });
});
