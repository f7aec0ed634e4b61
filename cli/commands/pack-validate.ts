import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import {
  canonicalJson,
  checkPolicy,
  DEVNET_POLICY,
  formatDiagnostic,
  parseFormfile,
  type TDiagnostic,
  type TFormfile,
  type TNetworkPolicy,
  type TParseSuccess,
} from "../../lib/formfile/index";
import { describeHealthcheck, effectiveHealthcheck } from "../../lib/ingress/health-policy";

/** `form pack validate [PATH] [--json] [--policy devnet]`: parse a Formfile and report every problem. */

const POLICIES: Record<string, TNetworkPolicy> = { devnet: DEVNET_POLICY };

export type TValidateOptions = { json?: boolean; policy?: string };
export type TValidateOutcome = { exitCode: 0 | 1; stdout: string; stderr: string };

/** Resolves PATH (a Formfile or a directory holding one) to the Formfile's path, or explains why not. */
export async function locate(path: string): Promise<{ file: string } | { problem: string }> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined)
    return {
      problem: `form: ${path}: no such file or directory — pass a Formfile or the directory holding it`,
    };
  if (!info.isDirectory()) return { file: path };
  const file = join(path, "Formfile");
  const inner = await stat(file).catch(() => undefined);
  if (inner?.isFile()) return { file };
  return { problem: `form: no Formfile in ${path} — create ${file} or pass the Formfile's path` };
}

function summary(file: string, f: TFormfile): string {
  const r = f.resources;
  const gpu = r.gpu ? `, ${r.gpu.count}× ${r.gpu.model} GPU` : "";
  const users = f.users.map((u) => {
    const traits = [
      u.sudo ? "sudo" : "",
      `${u.sshAuthorizedKeys.length} ssh key${u.sshAuthorizedKeys.length === 1 ? "" : "s"}`,
    ];
    return `${u.username} (${traits.filter(Boolean).join(", ")})`;
  });
  const steps = f.steps.map((s) =>
    s.kind === "copy"
      ? `COPY ${s.src} → ${s.dst}`
      : s.kind === "install"
        ? `INSTALL ${s.packages.join(" ")}`
        : `RUN ${s.command}`,
  );
  const rows: Array<[string, string]> = [
    ["name", f.name],
    ["description", f.description ?? "—"],
    ["resources", `${r.vcpu} vCPU, ${r.memoryMb} MB memory, ${r.diskGb} GB disk${gpu}`],
    ["users", users.join(", ")],
    ["workdir", f.workdir ?? "— (builder default /app)"],
    ["entrypoint", f.entrypoint ? JSON.stringify(f.entrypoint) : "—"],
    ["expose", f.expose.length > 0 ? f.expose.join(" ") : "—"],
    ["health", describeHealthcheck(effectiveHealthcheck(f), f.healthcheck !== undefined)],
    ["env", f.env.length > 0 ? f.env.map((e) => `${e.key} (${e.scope})`).join(", ") : "—"],
    ["steps", steps.length > 0 ? steps.join("\n              ") : "— (whole context is copied to WORKDIR)"],
  ];
  return `✓ ${file} is valid\n${rows.map(([k, v]) => `  ${k.padEnd(12)}${v}`).join("\n")}\n`;
}

/** COPY sources absent from the build context: the build would fail, so say so now (as warnings). */
async function missingCopySources(file: string, parsed: TParseSuccess): Promise<TDiagnostic[]> {
  const context = dirname(file);
  const copies = parsed.formfile.steps.flatMap((s) => (s.kind === "copy" ? [s] : []));
  const out: TDiagnostic[] = [];
  for (const [i, step] of copies.entries()) {
    if (await stat(join(context, step.src)).catch(() => undefined)) continue;
    const at = parsed.locations.copySources[i] ?? { line: step.line, column: 1 };
    out.push({ ...at, message: `COPY source ${step.src} does not exist in the build context ${context}` });
  }
  return out;
}

/** Validates the Formfile at `path`; pure apart from reading the file, so tests can call it directly. */
export async function validateFormfile(path: string, opts: TValidateOptions = {}): Promise<TValidateOutcome> {
  const policy = opts.policy === undefined ? undefined : POLICIES[opts.policy];
  if (opts.policy !== undefined && policy === undefined) {
    return {
      exitCode: 1,
      stdout: "",
      stderr: `form: unknown policy "${opts.policy}" — known: ${Object.keys(POLICIES).join(", ")}\n`,
    };
  }
  const located = await locate(path);
  if ("problem" in located) return { exitCode: 1, stdout: "", stderr: `${located.problem}\n` };
  const text = await readFile(located.file, "utf8");
  const result = parseFormfile(text);
  if (!result.ok) {
    return {
      exitCode: 1,
      stdout: "",
      stderr: result.errors.map((e) => `${formatDiagnostic(located.file, e)}\n`).join(""),
    };
  }
  const missing = await missingCopySources(located.file, result);
  const warnings = [...result.warnings, ...missing].map(
    (w) => `${formatDiagnostic(located.file, { ...w, message: `warning: ${w.message}` })}\n`,
  );
  const violations = checkPolicy(result, policy ?? DEVNET_POLICY);
  if (policy !== undefined && violations.length > 0) {
    return {
      exitCode: 1,
      stdout: "",
      stderr: violations.map((v) => `${formatDiagnostic(located.file, v)}\n`).join(""),
    };
  }
  if (opts.json)
    return { exitCode: 0, stdout: `${canonicalJson(result.formfile)}\n`, stderr: warnings.join("") };
  // Without an explicit policy, devnet limits are advisory: the console enforces its own network's.
  const notes = violations.map(
    (v) => `${formatDiagnostic(located.file, { ...v, message: `note: ${v.message}` })}\n`,
  );
  return {
    exitCode: 0,
    stdout: summary(located.file, result.formfile),
    stderr: [...warnings, ...notes].join(""),
  };
}

/** Adds `validate` to the `pack` command group. */
export function registerPackValidate(pack: Command): void {
  pack
    .command("validate")
    .description("check a Formfile and print its canonical form")
    .argument("[path]", "a Formfile or the directory holding one", ".")
    .option("--json", "print the canonical JSON (passwords hashed) instead of a summary")
    .option("--policy <network>", `also enforce a network's limits (${Object.keys(POLICIES).join(", ")})`)
    .action(async (path: string, opts: TValidateOptions) => {
      const outcome = await validateFormfile(path, opts);
      process.stdout.write(outcome.stdout);
      process.stderr.write(outcome.stderr);
      if (outcome.exitCode !== 0) process.exitCode = outcome.exitCode;
    });
}
