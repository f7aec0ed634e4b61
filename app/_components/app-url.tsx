import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/api/root";
import { CopyButton } from "./copy-button";

export type TAppInfo = inferRouterOutputs<AppRouter>["builds"]["get"]["app"];

/**
 * Where the app is reachable: its URLs through the console's edge (one per EXPOSEd port, the first
 * one its default), each with a copy button. Without any (nothing EXPOSEd, or a console running
 * without ingress) it says how to reach the ports over formnet instead.
 */
export function AppUrl({ app, formnetIp }: { app: TAppInfo; formnetIp?: string | null }) {
  if (app.urls.length > 0) {
    return (
      <span data-testid="app-url" className="flex flex-col gap-1">
        {app.urls.map((u, i) => (
          <span key={u.url} className="inline-flex flex-wrap items-center gap-1">
            <a
              href={u.url}
              className="break-all text-sky-700 underline dark:text-sky-400"
              rel="noreferrer"
              target="_blank"
              data-testid={i === 0 ? "app-url-link" : undefined}
            >
              {u.url}
            </a>
            {app.urls.length > 1 ? <span className="text-xs text-slate-500">port {u.port}</span> : null}
            <CopyButton value={u.url} label={`Copy the URL of port ${u.port}`} />
          </span>
        ))}
      </span>
    );
  }
  const ports = app.exposedPorts;
  return (
    <span data-testid="app-url" className="text-slate-600 dark:text-slate-400">
      {ports.length === 0
        ? "No public URL: the Formfile exposes no port (EXPOSE)."
        : `No public URL (this console runs without ingress). EXPOSE ${ports.join(", ")}: reach ${
            ports.length === 1 ? "it" : "them"
          } over formnet at ${formnetIp ? `${formnetIp}:${ports[0]}` : "the replica's formnet IP"}.`}
    </span>
  );
}
