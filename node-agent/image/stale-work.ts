import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { detachLoops, unmountForce } from "./disk";

/** File in each build work directory naming the pid of the process building there. */
export const WORK_OWNER_FILE = "owner.pid";

/** Directories without an owner file (builders before it existed) count as stale after this. */
const UNOWNED_STALE_MS = 60 * 60 * 1000;

export type TStaleWorkResult = { removed: string[]; kept: string[] };

/** True when `pid` names a live process (EPERM still means it exists). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error instanceof Error && "code" in error && error.code === "EPERM";
  }
}

/** Is a work directory abandoned: its builder's process is gone (or, unowned, it is old)? */
export async function isStaleWorkDir(dir: string, now = Date.now()): Promise<boolean> {
  const owner = await readFile(join(dir, WORK_OWNER_FILE), "utf8").catch(() => null);
  if (owner !== null) {
    const pid = Number.parseInt(owner.trim(), 10);
    return !Number.isInteger(pid) || pid <= 0 || !processAlive(pid);
  }
  const info = await stat(dir).catch(() => null);
  return info !== null && now - info.mtimeMs > UNOWNED_STALE_MS;
}

/**
 * Removes what builds killed mid-way (agent crash, SIGKILL, power loss) left under
 * `<cacheDir>/work`: the loop-mounted root is unmounted, its loop device detached and the
 * directory deleted. Directories of live builders — this agent's or another agent's sharing the
 * cache on the same host — are kept.
 */
export async function cleanStaleBuildWork(opts: { cacheDir: string }): Promise<TStaleWorkResult> {
  const workRoot = join(opts.cacheDir, "work");
  const entries = await readdir(workRoot, { withFileTypes: true }).catch(() => []);
  const result: TStaleWorkResult = { removed: [], kept: [] };
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = join(workRoot, entry.name);
    if (!(await isStaleWorkDir(dir))) {
      result.kept.push(dir);
      continue;
    }
    await unmountForce(join(dir, "root"));
    await detachLoops(join(dir, "disk.raw"));
    await rm(dir, { recursive: true, force: true });
    result.removed.push(dir);
  }
  return result;
}

/**
 * Empties the agent's build job directory (`<dataDir>/builds`: each build job's context archive
 * and unpacked context). A job's directory lives only while its executor runs, and none runs when
 * the agent starts, so whatever is there was left by an agent killed mid-build.
 */
export async function clearBuildJobDirs(buildsDir: string): Promise<string[]> {
  const entries = await readdir(buildsDir).catch(() => [] as string[]);
  for (const name of entries) await rm(join(buildsDir, name), { recursive: true, force: true });
  return entries.map((name) => join(buildsDir, name));
}
