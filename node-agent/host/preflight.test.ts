import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cacheReachableCheck } from "./preflight";

let work = "";
afterEach(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("cacheReachableCheck", () => {
  it("names the directory above the cache that lets no others through, and how to fix it", async () => {
    work = await mkdtemp(join(tmpdir(), "formation-preflight-"));
    const cache = join(work, "cache");
    await mkdir(cache);
    await chmod(work, 0o700);
    const blocked = await cacheReachableCheck(cache);
    expect(blocked).toMatchObject({ id: "cache-reachable", ok: false, required: false });
    expect(blocked.detail).toContain(`${work} lets no others through`);
    expect(blocked.fix).toMatch(new RegExp(`^chmod o\\+x ${work}\\b`));

    await chmod(work, 0o755);
    expect(await cacheReachableCheck(cache)).toMatchObject({ ok: true, fix: undefined });
  });
});
