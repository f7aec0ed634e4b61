import { z } from "zod";
import { appHostLabel } from "@/lib/ingress/app-host";

export const ZAppUrl = z.object({ port: z.number(), url: z.string() });
export type TAppUrl = z.infer<typeof ZAppUrl>;

/** Where the edge publishes apps: scheme, apps domain and the port written into URLs. */
export type TAppUrlBase = { scheme: "http" | "https"; domain: string; port: number };

/**
 * The URLs of deployed apps, as every DTO (build, deployment, instance) and the CLI show them.
 * Unconfigured (no ingress module, FORMATION_INGRESS=0) it gives none and the pages say so. The
 * ingress module configures it once its listeners are known; the base is read per call because
 * a test console's port is only known once it listens.
 */
export class AppUrls {
  #base: (() => TAppUrlBase | null) | null = null;

  configure(base: () => TAppUrlBase | null): void {
    this.#base = base;
  }

  /** One URL per EXPOSEd port, the first port's without a port suffix (the default route). */
  urlsFor(app: { owner: string; name: string; exposedPorts: readonly number[] }): TAppUrl[] {
    const base = this.#base?.();
    if (!base || app.name === "") return [];
    const defaultPort = base.scheme === "https" ? 443 : 80;
    const suffix = base.port === defaultPort ? "" : `:${base.port}`;
    return app.exposedPorts.map((port, i) => {
      const label = appHostLabel({ owner: app.owner, name: app.name, port: i === 0 ? undefined : port });
      return { port, url: `${base.scheme}://${label}.${base.domain}${suffix}/` };
    });
  }
}
