import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { formatDiagnostic, ownerCryptSalt, parseFormfile, type TFormfile } from "../lib/formfile/index";
import { locate } from "./commands/pack-validate";
import { CliError } from "./errors";

/** A project directory with its parsed Formfile (the build context is the Formfile's directory). */
export type TProject = {
  dir: string;
  file: string;
  formfile: TFormfile;
  warnings: string[];
  /** sha256 of the Formfile's bytes: `pack ship` checks it against the build made here. */
  digest: string;
};

/**
 * Finds and parses the Formfile at PATH (a Formfile or its directory); errors list every problem.
 * With `owner`, passwords are hashed with that owner's salt, so the same project always gives the
 * same canonical Formfile and hence the same content-addressed build id.
 */
export async function loadProject(path: string, opts: { owner?: string } = {}): Promise<TProject> {
  const located = await locate(path);
  if ("problem" in located) throw new CliError("user", located.problem.replace(/^form: /, ""));
  const file = resolve(located.file);
  const text = await readFile(file, "utf8");
  const result = parseFormfile(text, opts.owner ? { salt: ownerCryptSalt(opts.owner) } : {});
  if (!result.ok) {
    const lines = result.errors.map((e) => formatDiagnostic(file, e)).join("\n");
    throw new CliError("user", `the Formfile has errors (check with \`form pack validate\`):\n${lines}`);
  }
  const warnings = result.warnings.map((w) =>
    formatDiagnostic(file, { ...w, message: `warning: ${w.message}` }),
  );
  const digest = createHash("sha256").update(text).digest("hex");
  return { dir: dirname(file), file, formfile: result.formfile, warnings, digest };
}
