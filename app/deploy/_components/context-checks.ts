import type { TFormfile } from "@/lib/formfile/canonical";
import type { TDiagnostic } from "@/lib/formfile/diagnostics";
import { normalisePath } from "../../_lib/context-pack";

/** What the build context will hold: nothing but the Formfile, or these paths (files and folders). */
export type TContextPaths =
  | { kind: "formfile-only" }
  | { kind: "paths"; label: string; paths: readonly string[] };

/**
 * COPY sources checked against the attached project before signing, so `COPY ./app /app` without
 * the project is an error here rather than a failed build on a node.
 */
export function copyDiagnostics(formfile: TFormfile, context: TContextPaths): TDiagnostic[] {
  const out: TDiagnostic[] = [];
  for (const step of formfile.steps) {
    if (step.kind !== "copy") continue;
    let src: string;
    try {
      src = normalisePath(step.src);
    } catch {
      continue;
    }
    if (src === "" || src === "Formfile") continue;
    const shown = `./${src}`;
    if (context.kind === "formfile-only") {
      out.push({
        line: step.line,
        column: 1,
        message: `COPY ${shown}: no project is attached, so the build context is the Formfile alone`,
        hint: "attach the project folder (or its .tar.gz) below, or remove this COPY",
      });
      continue;
    }
    const present = context.paths.some((p) => p === src || p.startsWith(`${src}/`));
    if (!present) {
      out.push({
        line: step.line,
        column: 1,
        message: `COPY ${shown}: ${context.label} has no ${shown}`,
        hint: "check the path (relative to the project's top folder) or attach the folder that has it",
      });
    }
  }
  return out;
}
