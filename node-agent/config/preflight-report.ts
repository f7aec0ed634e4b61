import { FormationError } from "@/lib/errors";
import type { TPreflightReport } from "../host/preflight";

/** Human-readable preflight result: one line per check, and exactly what to run for each failure. */
export function formatPreflight(report: TPreflightReport): string {
  const lines = [
    `Preflight: ${report.ok ? "ready" : "NOT ready"} (accelerator ${report.accelerator}: ${report.acceleratorReason})`,
  ];
  for (const check of report.checks) {
    const mark = check.ok ? "ok  " : check.required ? "FAIL" : "warn";
    lines.push(`  [${mark}] ${check.id}: ${check.detail}`);
    if (!check.ok && check.fix) lines.push(`         fix: ${check.fix}`);
  }
  const failed = report.checks.filter((c) => !c.ok && c.required);
  if (failed.length > 0) {
    lines.push("", `Fix the ${failed.length} failed check(s) above, then run \`node-agent run\`.`);
  }
  return `${lines.join("\n")}\n`;
}

/** The agent cannot run on this host; `report` says why and how to fix it. */
export class PreflightError extends FormationError<"PREFLIGHT_FAILED"> {
  override readonly name = "PreflightError";
  readonly report: TPreflightReport;

  constructor(report: TPreflightReport) {
    const failed = report.checks.filter((c) => !c.ok && c.required);
    super(
      "PREFLIGHT_FAILED",
      `host preflight failed: ${failed.map((c) => `${c.id} (${c.detail})`).join("; ")}`,
      {
        details: { failed: failed.map((c) => c.id) },
      },
    );
    this.report = report;
  }
}
