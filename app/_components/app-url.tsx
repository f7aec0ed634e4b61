import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/api/root";
import { CopyButton } from "./copy-button";

export type TAppInfo = inferRouterOutputs<AppRouter>["builds"]["get"]["app"];

/**
 * Where the app is reachable from the internet. The console has no ingress yet (a separate
 * issue): until then `url` is null and this says which ports the Formfile exposes and how to reach
 * them over formnet. When the ingress sets `url`, it shows here with a copy button.
 */
export function AppUrl({ app, formnetIp }: { app: TAppInfo; formnetIp?: string | null }) {
  if (app.url) {
    return (
      <span data-testid="app-url" className="inline-flex items-center gap-1">
        <a href={app.url} className="break-all text-sky-700 underline dark:text-sky-400" rel="noreferrer">
          {app.url}
        </a>
        <CopyButton value={app.url} label="Copy app URL" />
      </span>
    );
  }
  const ports = app.exposedPorts;
  return (
    <span data-testid="app-url" className="text-slate-600 dark:text-slate-400">
      {ports.length === 0
        ? "No public URL: the Formfile exposes no port (EXPOSE)."
        : `No public URL yet (this network has no ingress). EXPOSE ${ports.join(", ")}: reach ${
            ports.length === 1 ? "it" : "them"
          } over formnet at ${formnetIp ? `${formnetIp}:${ports[0]}` : "the replica's formnet IP"}.`}
    </span>
  );
}
