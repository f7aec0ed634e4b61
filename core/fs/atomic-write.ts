import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";

/**
 * Writes `path` atomically: the data goes to a temp file next to it, which is then renamed over
 * `path`, so a reader or a crash never sees a half-written file. Every call has its own temp name,
 * so overlapping writes of the same file cannot rename each other's temp away (the last rename wins).
 */
export async function writeFileAtomic(
  path: string,
  data: string,
  opts: { mode?: number } = {},
): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temp, data, { mode: opts.mode ?? 0o600 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
