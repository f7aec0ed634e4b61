import type { Logger } from "pino";
import type { TDatabase } from "@/server/db/client";
import type { TEnv } from "@/server/env";
import type { TAuthServices } from "@/server/services/auth";
import type { TCallerResolver } from "./caller";
import type { RequestLimits } from "./rate-limit";
import type { HttpRouteRegistry } from "./routes";
import type { UpgradeRegistry } from "./upgrade";
import type { VirtualHostRegistry } from "./virtual-hosts";

/**
 * Services other areas attach to the running console. Augment it from your module:
 *
 * ```ts
 * declare module "@/server/http/console-runtime" {
 *   interface ConsoleServices { agentHub: AgentHub }
 * }
 * ```
 * and set `runtime.services.agentHub = …` in your TConsoleModule's `start`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: augmented by other modules (declaration merging).
export interface ConsoleServices {}

/** Everything one running console instance owns; passed to modules, gateways and tRPC context. */
export type TConsoleRuntime = {
  env: TEnv;
  db: TDatabase;
  logger: Logger;
  auth: TAuthServices;
  /** Rate limits (rate-limit.ts); modules with their own endpoints apply them too. */
  limits: RequestLimits;
  /** Cookie / read-token resolution with the forged-credential cache (caller.ts). */
  callers: TCallerResolver;
  services: Partial<ConsoleServices>;
  upgrades: UpgradeRegistry;
  http: HttpRouteRegistry;
  /** Handlers by Host (the ingress edge), consulted before every other route. */
  virtualHosts: VirtualHostRegistry;
  /** The port the console's HTTP server is bound to: null until it listens. */
  listening: { port: number | null };
  version: string;
  startedAt: Date;
  /** Registers cleanup to run (in reverse order) when the console closes. */
  onClose(fn: () => Promise<void> | void): void;
};

/**
 * A pluggable part of the console (agent gateway, terminal gateway, schedulers). `start` runs after
 * the database is migrated and before the HTTP server listens; a returned function runs on close.
 */
export type TConsoleModule = {
  name: string;
  start(runtime: TConsoleRuntime): Promise<void | (() => Promise<void> | void)>;
};
