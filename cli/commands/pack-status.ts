import type { Command } from "commander";
import { CliError } from "../errors";
import { type Output, runAction, type TCommonOptions, withCommonOptions } from "../output";
import { openSession, type TApiClient } from "../session";
import { healthOfBuild, renderHealth, type THealth } from "./health";

/** `form pack status --build-id ID`: phase, per-phase timings and the build's instances. */

export type TBuild = Awaited<ReturnType<TApiClient["builds"]["get"]["query"]>>;
export type TInstance = Awaited<ReturnType<TApiClient["instances"]["list"]["query"]>>[number];
export type TDeployment = Awaited<ReturnType<TApiClient["deployments"]["forBuild"]["query"]>>;

/**
 * The build's deployment as the console's pages show it: desired vs placed vs running replicas
 * and why the rest wait ("waiting for capacity: needs 2 vCPU, largest free 1").
 */
export function renderDeployment(buildId: string, d: TDeployment): string {
  if (!d) return "  (not shipped — ship the build with `form pack ship`)";
  if (d.buildId !== buildId) return `  ${d.name} now runs build ${d.buildId.slice(0, 12)}… (not this one)`;
  const counts =
    d.waiting > 0
      ? `${d.placed} of ${d.replicas} replicas placed`
      : `${d.running} of ${d.replicas} replicas running`;
  const lines = [`  ${d.name}  ${counts}`];
  if (d.waitingReason) lines.push(`  ${d.waiting} waiting: ${d.waitingReason}`);
  return lines.join("\n");
}

/** Where the app is reachable: its URLs through the console's edge, else the exposed ports. */
export function renderAppUrl(app: TBuild["app"]): string {
  if (app.urls.length === 1 && app.urls[0]) return app.urls[0].url;
  if (app.urls.length > 1) return app.urls.map((u) => `${u.url} (port ${u.port})`).join(", ");
  return app.exposedPorts.length === 0
    ? "— (no EXPOSE)"
    : `— (this console has no ingress; EXPOSE ${app.exposedPorts.join(", ")} over formnet)`;
}

const BUILD_ID = /^[0-9a-f]{64}$/;

/** Checks a --build-id before any request, so a typo is a user error with a clear message. */
export function requireBuildId(value: string | undefined): string {
  if (value === undefined) throw new CliError("user", "pass --build-id ID (printed by `form pack build`)");
  const id = value.toLowerCase();
  if (!BUILD_ID.test(id))
    throw new CliError("user", `"${value}" is not a build id — a build id is 64 hex characters`);
  return id;
}

/** Polls `check` until it returns a value, or fails after `timeoutMs` (a remote/transient failure). */
export async function waitUntil<T>(opts: {
  what: string;
  timeoutMs: number;
  intervalMs: number;
  check: () => Promise<T | undefined>;
  /**
   * Told each time the console cannot be reached: the wait goes on (a console restarting keeps
   * the work; its supervisor brings it back within seconds) until it stays unreachable for
   * `unreachableGraceMs` (default 2 min).
   */
  onUnreachable?: (downForMs: number) => void;
  unreachableGraceMs?: number;
}): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let downSince: number | null = null;
  for (;;) {
    let value: T | undefined;
    try {
      value = await opts.check();
      downSince = null;
    } catch (error) {
      if (!(error instanceof CliError && error.code === "CONSOLE_UNREACHABLE")) throw error;
      downSince ??= Date.now();
      if (Date.now() - downSince >= (opts.unreachableGraceMs ?? 120_000)) throw error;
      opts.onUnreachable?.(Date.now() - downSince);
    }
    if (value !== undefined) return value;
    if (Date.now() >= deadline)
      throw new CliError(
        "remote",
        `timed out after ${Math.round(opts.timeoutMs / 1000)} s waiting for ${opts.what}`,
      );
    await new Promise((r) => setTimeout(r, Math.min(opts.intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

/** The progress line while a wait rides out an unreachable console. */
export function unreachableNotice(downForMs: number): string {
  return `console unreachable for ${Math.round(downForMs / 1000)} s — still waiting (it may be restarting)`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** Phase timings: each phase lasts until the next one starts (the last one until now). */
export function phaseTimings(build: Pick<TBuild, "timeline">, now = Date.now()) {
  return build.timeline.map((p, i) => {
    const start = Date.parse(p.at);
    const next = build.timeline[i + 1];
    const end = next ? Date.parse(next.at) : now;
    return { phase: p.phase, at: p.at, durationMs: end - start, message: p.message ?? null, current: !next };
  });
}

export function renderInstances(
  instances: TInstance[],
  health: ReadonlyMap<string, THealth> = new Map(),
): string {
  if (instances.length === 0) return "  (none — ship the build with `form pack ship`)";
  return instances
    .map((i) => {
      const state = renderHealth(health.get(i.instanceId));
      return `  ${i.instanceId}  ${i.status.padEnd(9)} ${i.app.name ? `${i.app.name}  ` : ""}node ${i.nodeId.slice(0, 12)}  formnet ${i.formnetIp ?? "—"}${state ? `  ${state}` : ""}${i.reason ? `  (${i.reason})` : ""}`;
    })
    .join("\n");
}

async function status(out: Output, opts: TCommonOptions & { buildId?: string }): Promise<void> {
  const buildId = requireBuildId(opts.buildId);
  const session = await openSession(opts);
  const build = await session.call((api) => api.builds.get.query({ buildId }));
  const instances = await session.call((api) => api.instances.list.query({ buildId }));
  const deployment = await session.call((api) => api.deployments.forBuild.query({ buildId }));
  const health = await healthOfBuild(session, buildId);
  const timings = phaseTimings(build);
  const human = [
    `build ${build.buildId}`,
    `  name      ${build.name}`,
    `  status    ${build.status}${build.failure ? ` — ${build.failure.reason}${build.failure.line ? ` (Formfile line ${build.failure.line})` : ""}` : ""}`,
    `  image     ${build.imageDigest ?? "—"}`,
    `  url       ${renderAppUrl(build.app)}`,
    "  timeline",
    ...timings.map(
      (t) =>
        `    ${t.phase.padEnd(13)} ${seconds(t.durationMs).padStart(7)}${t.current ? "  (current)" : ""}${t.message ? `  ${t.message}` : ""}`,
    ),
    "deployment",
    renderDeployment(buildId, deployment),
    "instances",
    renderInstances(instances, health),
  ].join("\n");
  out.result(
    {
      build,
      timings,
      deployment,
      // The deployment's public URLs (one per EXPOSEd port), as in the build's `app.urls`.
      urls: build.app.urls,
      instances: instances.map((i) => ({ ...i, health: health.get(i.instanceId) ?? null })),
    },
    human,
  );
}

/** Adds `status` to the `pack` command group. */
export function registerPackStatus(pack: Command): void {
  const command = pack
    .command("status")
    .description("show a build's phase, per-phase timings and its instances (node, status, formnet IP)")
    .option("--build-id <id>", "the build (printed by `form pack build`)");
  withCommonOptions(command)
    .addHelpText("after", "\nExample:\n  $ form pack status --build-id 3f9c…e1 --json")
    .action(runAction(async (out, opts: TCommonOptions & { buildId?: string }) => status(out, opts)));
}
