"use client";
import { isSettledBuild, BUILD_PHASES as PHASES, type TBuildStatus } from "@/lib/status";
import { formatDuration } from "../../_lib/format";
import { useNow } from "../../_lib/use-now";

type TEntry = { phase: string; at: string; message?: string | undefined };

/** A shipped build whose replicas wait to be placed: the wait is a phase of its own, not "built". */
export type TWaiting = { since: Date; reason: string };

/**
 * The deploy timeline: each phase with how long it took, the current one ticking live, so a stuck
 * deploy is visible as a growing timer instead of a silent spinner.
 */
export function BuildTimeline({
  status,
  timeline: recorded,
  waiting = null,
}: {
  status: TBuildStatus;
  timeline: TEntry[];
  waiting?: TWaiting | null;
}) {
  const isWaiting = waiting !== null && status === "built";
  const timeline: TEntry[] = isWaiting
    ? [...recorded, { phase: "waiting", at: waiting.since.toISOString(), message: waiting.reason }]
    : recorded;
  const live = (!isSettledBuild(status) && status !== "built") || isWaiting;
  const now = useNow(1000, live);
  const reached = new Map<string, { at: number; index: number; message?: string | undefined }>();
  timeline.forEach((e, index) => {
    reached.set(e.phase, { at: Date.parse(e.at), index, message: e.message });
  });
  const ended = status === "failed" || status === "cancelled" ? status : null;
  const phases: string[] = [...PHASES];
  if (isWaiting) phases.splice(PHASES.indexOf("built") + 1, 0, "waiting");
  if (ended) {
    // Show the terminal state right after the last phase reached.
    const lastReached = PHASES.filter((p) => reached.has(p)).at(-1) ?? "queued";
    phases.splice(PHASES.indexOf(lastReached) + 1, phases.length, ended);
  }
  const endOf = (index: number): number | null => {
    const next = timeline[index + 1];
    if (next) return Date.parse(next.at);
    return live ? now : null;
  };
  const doneCount = phases.filter((p) => reached.has(p)).length;
  const pct = Math.round((doneCount / phases.length) * 100);

  return (
    <div data-testid="build-timeline">
      <div
        className="h-1.5 rounded-full bg-slate-200 dark:bg-slate-800"
        role="progressbar"
        aria-valuenow={pct}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-label="Deployment progress"
      >
        <div
          className={`h-1.5 rounded-full transition-all ${ended === "failed" ? "bg-red-500" : ended ? "bg-amber-500" : "bg-sky-500"}`}
          style={{ width: `${pct}%` }}
        />
      </div>
      <ol
        className={`mt-4 grid grid-cols-2 gap-2 sm:grid-cols-4 ${isWaiting ? "lg:grid-cols-8" : "lg:grid-cols-7"}`}
      >
        {phases.map((phase) => {
          const hit = reached.get(phase);
          const current = hit !== undefined && hit.index === timeline.length - 1;
          const end = hit ? endOf(hit.index) : null;
          const tone = !hit
            ? "border-slate-200 text-slate-400 dark:border-slate-800"
            : phase === "failed"
              ? "border-red-300 bg-red-50 text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300"
              : phase === "waiting"
                ? "border-amber-300 bg-amber-50 text-amber-900 dark:border-amber-800 dark:bg-amber-950/40 dark:text-amber-200"
                : phase === "cancelled"
                  ? "border-amber-300 bg-amber-50 text-amber-800 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-300"
                  : current && live
                    ? "border-sky-400 bg-sky-50 text-sky-900 dark:border-sky-700 dark:bg-sky-950/40 dark:text-sky-200"
                    : "border-emerald-300 text-emerald-800 dark:border-emerald-900 dark:text-emerald-300";
          return (
            <li
              key={phase}
              data-testid={`phase-${phase}`}
              data-state={!hit ? "pending" : current && live ? "current" : "done"}
              className={`rounded-md border px-2.5 py-2 text-xs ${tone}`}
              title={hit?.message}
            >
              <div className="flex items-center gap-1.5 font-medium capitalize">
                {current && live ? (
                  <span
                    className={`h-2 w-2 animate-pulse rounded-full ${phase === "waiting" ? "bg-amber-500" : "bg-sky-500"}`}
                  />
                ) : null}
                {phase}
              </div>
              <div className="mt-0.5 font-mono tabular-nums">
                {hit && end !== null ? formatDuration(end - hit.at) : hit ? "✓" : "—"}
              </div>
              {phase === "waiting" && hit?.message ? (
                <div className="mt-0.5 break-words normal-case">{hit.message}</div>
              ) : null}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
