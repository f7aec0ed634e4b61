"use client";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "../_lib/trpc";
import { Sparkline } from "./sparkline";
import { ListSkeleton } from "./ui";

const ms = (v: number | null) => (v === null ? "—" : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);

/**
 * What the console's edge served for a deployment: requests/s, status classes and latency of the
 * last minute, requests per 10 s over 10 minutes, and the access log of the latest requests.
 * Each console replica counts what its own edge served.
 */
export function TrafficPanel({ deploymentId }: { deploymentId: string }) {
  const trpc = useTRPC();
  const status = useQuery(trpc.ingress.status.queryOptions({ deploymentId }, { refetchInterval: 5000 }));
  if (status.isLoading) return <ListSkeleton rows={3} />;
  if (!status.data) {
    return (
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Traffic figures are not available right now.
      </p>
    );
  }
  const { traffic, healthy, replicas, enabled } = status.data;
  if (!enabled) {
    return <p className="text-sm text-slate-600 dark:text-slate-400">This console runs without ingress.</p>;
  }
  const stat = (label: string, value: string, testId?: string) => (
    <div className="rounded-lg border border-slate-200 p-3 dark:border-slate-800">
      <div className="text-xs text-slate-500">{label}</div>
      <div className="text-lg font-semibold tabular-nums" data-testid={testId}>
        {value}
      </div>
    </div>
  );
  const codes = traffic.status;
  return (
    <div className="space-y-4" data-testid="traffic-panel">
      <div className="grid grid-cols-2 gap-3 sm:grid-cols-5">
        {stat("Healthy replicas", `${healthy} of ${replicas.length}`, "traffic-healthy")}
        {stat("Requests/s (1 min)", String(traffic.requestsPerSecond), "traffic-rps")}
        {stat("p50 / p99", `${ms(traffic.p50Ms)} / ${ms(traffic.p99Ms)}`)}
        {stat(
          "2xx · 3xx · 4xx · 5xx",
          `${codes["2xx"]} · ${codes["3xx"]} · ${codes["4xx"]} · ${codes["5xx"]}`,
        )}
        {stat("Retried on another replica", String(traffic.retried))}
      </div>
      <Sparkline
        values={traffic.windows.map((w) => w.requests / 10)}
        label="Requests/s · 10 s windows, last 10 min"
        format={(v) => `${v.toFixed(1)}/s`}
      />
      <div className="overflow-x-auto">
        <table className="w-full text-left text-xs" data-testid="access-log">
          <caption className="mb-1 text-left text-xs font-semibold uppercase tracking-wide text-slate-500">
            Access log (latest first)
          </caption>
          <thead className="text-slate-500">
            <tr>
              <th className="py-1 pr-3 font-medium">Time</th>
              <th className="py-1 pr-3 font-medium">Request</th>
              <th className="py-1 pr-3 font-medium">Status</th>
              <th className="py-1 pr-3 font-medium">Latency</th>
              <th className="py-1 pr-3 font-medium">Replica</th>
              <th className="py-1 pr-3 font-medium">Client</th>
            </tr>
          </thead>
          <tbody className="font-mono">
            {traffic.log.length === 0 ? (
              <tr>
                <td colSpan={6} className="py-2 font-sans text-slate-500">
                  No request yet: open the app's URL.
                </td>
              </tr>
            ) : (
              traffic.log.slice(0, 25).map((e, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: log lines have no id; order is stable per render
                <tr key={i} className="border-t border-slate-100 dark:border-slate-800">
                  <td className="py-1 pr-3 tabular-nums">{new Date(e.at).toLocaleTimeString()}</td>
                  <td className="break-all py-1 pr-3">
                    {e.method} {e.path}
                    {e.protocol !== "http" ? ` (${e.protocol})` : ""}
                  </td>
                  <td className="py-1 pr-3">{e.status}</td>
                  <td className="py-1 pr-3 tabular-nums">
                    {ms(e.ms)}
                    {e.retries > 0 ? ` · ${e.retries} retried` : ""}
                  </td>
                  <td className="py-1 pr-3">{e.instanceId ? e.instanceId.slice(0, 10) : "—"}</td>
                  <td className="py-1 pr-3">{e.client}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
