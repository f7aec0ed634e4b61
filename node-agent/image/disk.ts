import { readFile } from "node:fs/promises";
import { run } from "../host/exec";
import { ImageBuildError, stepError } from "./errors";

/** Loop devices whose backing file is `raw` (normally none once it is unmounted). */
export async function loopDevicesFor(raw: string): Promise<string[]> {
  const r = await run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"], {
    allowFailure: true,
  }).catch(() => null);
  if (r?.exitCode !== 0) return [];
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/, 2))
    .filter(([name, back]) => name !== undefined && back === raw)
    .map(([name]) => name ?? "");
}

export async function detachLoops(raw: string): Promise<void> {
  for (const dev of await loopDevicesFor(raw)) {
    await run(["losetup", "-d", dev], { allowFailure: true }).catch(() => null);
  }
}

/** Unmounts; falls back to a lazy unmount when something still holds the tree. */
export async function unmountForce(path: string): Promise<void> {
  if (!(await isMounted(path))) return;
  const r = await run(["umount", path], { allowFailure: true }).catch(() => null);
  if (r?.exitCode !== 0) await run(["umount", "-l", path], { allowFailure: true }).catch(() => null);
}

/** Is `path` a mount point in this process's mount namespace? */
export async function isMounted(path: string): Promise<boolean> {
  const mounts = await readFile("/proc/self/mounts", "utf8").catch(() => "");
  return mounts.split("\n").some((l) => l.split(" ")[1] === path);
}

/** Runs one image-assembly command; failures become IMAGE_FAILED with the command and exit code. */
export async function phase(argv: string[], signal?: AbortSignal): Promise<void> {
  try {
    await run(argv, { signal });
  } catch (err) {
    const e = stepError(err, { what: "image assembly", line: null, command: argv.join(" ") });
    if (e.code === "STEP_FAILED") {
      const hint = argv[0] === "resize2fs" ? " (is DISK large enough for the installed files?)" : "";
      throw new ImageBuildError({
        code: "IMAGE_FAILED",
        message: `${e.message}${hint}`,
        command: e.command,
        exitCode: e.exitCode,
        cause: err,
      });
    }
    throw e;
  }
}
