import type { Logger } from "pino";
import type { TDatabase } from "@/server/db/client";
import type { TEnv } from "@/server/env";
import type { TServices } from "@/server/services/services";
import type { TCallerResolver } from "./caller";
import type { RequestLimits } from "./rate-limit";
import type { HttpRouteRegistry } from "./routes";
import type { UpgradeRegistry } from "./upgrade";
import type { VirtualHostRegistry } from "./virtual-hosts";

/** Everything one running console instance owns; passed to modules, gateways and tRPC context. */
export type TConsoleRuntime = {
  env: TEnv;
  /** For the console's infrastructure (health, state-store wiring); services own the rest. */
  db: TDatabase;
  logger: Logger;
  /** The console's services, built at start; every tRPC context carries them. */
  services: TServices;
  /** Rate limits (rate-limit.ts); modules with their own endpoints apply them too. */
  limits: RequestLimits;
  /** Cookie / read-token resolution with the forged-credential cache (caller.ts). */
  callers: TCallerResolver;
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
