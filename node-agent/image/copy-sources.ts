import { realpath, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type { TFormfile } from "@/lib/formfile/canonical";
import type { TCopySource } from "./build-vm/job";
import { ImageBuildError } from "./errors";

/**
 * Resolves every COPY source of a Formfile inside the unpacked context on the host (the VM copies
 * from its own unpacked copy): a source that does not exist or escapes the context (`..`, a symlink
 * out of it) fails the build with the COPY's line before any VM starts.
 */
export async function resolveCopySources(
  contextDir: string,
  formfile: TFormfile,
): Promise<Map<string, TCopySource>> {
  const ctxReal = await realpath(contextDir);
  const out = new Map<string, TCopySource>([[".", { rel: ".", isDir: true }]]);
  for (const step of formfile.steps) {
    if (step.kind !== "copy" || out.has(step.src)) continue;
    let abs: string;
    try {
      abs = await realpath(join(ctxReal, step.src));
    } catch (err) {
      throw new ImageBuildError({
        code: "BAD_FORMFILE",
        message: `Formfile:${step.line}: COPY ${step.src}: does not exist in the build context`,
        line: step.line,
        command: `COPY ${step.src}`,
        cause: err,
      });
    }
    if (abs !== ctxReal && !abs.startsWith(ctxReal + sep)) {
      throw new ImageBuildError({
        code: "BAD_FORMFILE",
        message: `Formfile:${step.line}: COPY ${step.src}: is outside the build context`,
        line: step.line,
        command: `COPY ${step.src}`,
      });
    }
    const rel = relative(ctxReal, abs) || ".";
    out.set(step.src, { rel, isDir: (await stat(abs)).isDirectory() });
  }
  return out;
}
