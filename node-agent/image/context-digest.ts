import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";

/**
 * Content digest of a build context directory: paths, types, modes, symlink targets and file
 * contents, walked in sorted order. Part of the per-build cache key.
 */
export async function digestDirectory(dir: string): Promise<string> {
  const h = createHash("sha256");
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(join(dir, rel))).sort();
    for (const name of entries) {
      const relPath = rel ? `${rel}/${name}` : name;
      const abs = join(dir, relPath);
      const st = await lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) {
        h.update(`L\0${relPath}\0${await readlink(abs)}\0`);
      } else if (st.isDirectory()) {
        h.update(`D\0${relPath}\0${mode}\0`);
        await walk(relPath);
      } else if (st.isFile()) {
        h.update(`F\0${relPath}\0${mode}\0${st.size}\0`);
        for await (const chunk of createReadStream(abs)) h.update(chunk as Buffer);
      }
    }
  };
  await walk("");
  return `sha256:${h.digest("hex")}`;
}
