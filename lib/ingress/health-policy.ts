import type { TFormfile, THealthcheck } from "@/lib/formfile/canonical";
import { formatDuration, HEALTHCHECK_LIMITS } from "@/lib/formfile/rules";

/** A health check the console runs: HEALTHCHECK http/tcp with its port resolved. */
export type TActiveHealthcheck = Exclude<THealthcheck, { kind: "none" }>;

/**
 * What the console probes for a Formfile: its HEALTHCHECK, or by default a TCP connect to the
 * first EXPOSEd port with the default timing; null for `HEALTHCHECK none` or when nothing is
 * EXPOSEd (then there is nothing to probe).
 */
export function effectiveHealthcheck(
  formfile: Pick<TFormfile, "expose" | "healthcheck">,
): TActiveHealthcheck | null {
  const hc = formfile.healthcheck;
  if (hc) return hc.kind === "none" ? null : hc;
  const port = formfile.expose[0];
  if (port === undefined) return null;
  return {
    kind: "tcp",
    port,
    intervalMs: HEALTHCHECK_LIMITS.intervalMs.default,
    timeoutMs: HEALTHCHECK_LIMITS.timeoutMs.default,
    retries: HEALTHCHECK_LIMITS.retries.default,
    startPeriodMs: HEALTHCHECK_LIMITS.startPeriodMs.default,
  };
}

/** One line for people: `http GET :8080/healthz every 10s (timeout 2s, 3 retries)`. */
export function describeHealthcheck(hc: TActiveHealthcheck | null, explicit: boolean): string {
  if (!hc) return explicit ? "none (HEALTHCHECK none)" : "none (nothing EXPOSEd)";
  const what = hc.kind === "http" ? `http GET :${hc.port}${hc.path}` : `tcp connect :${hc.port}`;
  const start = hc.startPeriodMs > 0 ? `, start period ${formatDuration(hc.startPeriodMs)}` : "";
  const retries = `${hc.retries} ${hc.retries === 1 ? "retry" : "retries"}`;
  return `${what} every ${formatDuration(hc.intervalMs)} (timeout ${formatDuration(hc.timeoutMs)}, ${retries}${start})${explicit ? "" : " — default"}`;
}
