import { z } from "zod";
import { blankAsUnset, parseEnv, type TEnvSource } from "../lib/env";

/**
 * What shared Node code (core/) reads from the environment. Every `process.env` read of core/ goes
 * through here — as the console's goes through server/env.ts, the agent's through
 * node-agent/config/env.ts and the CLI's through cli/env.ts (scripts/env-reads.test.ts checks it).
 * Parsed on every call: it is read once per logger or child process, and tests change the
 * environment between cases.
 */
const ZCoreEnv = z.object({
  NODE_ENV: z.string().optional(),
  /** pino level of every logger (default: warn under tests, else info). */
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
  /** wireguard-go's own LOG_LEVEL (verbose, error, silent). */
  WG_LOG_LEVEL: z.string().optional().transform(blankAsUnset),
  /** Directory a state-store replica child writes its CPU profile to (tests and benches). */
  STATESTORE_CPU_PROF_DIR: z.string().optional().transform(blankAsUnset),
  /** A state-store replica child's configuration (JSON), set by the parent that forks it. */
  STATESTORE_REPLICA_CONFIG: z.string().optional().transform(blankAsUnset),
  /** Directories searched for commands. */
  PATH: z.string().default(""),
});

export type TCoreEnv = z.infer<typeof ZCoreEnv>;

/** What core/ reads from the environment (`source` for tests). */
export function coreEnv(source: TEnvSource = process.env): TCoreEnv {
  return parseEnv(ZCoreEnv, source, "process");
}

/**
 * The environment a child process inherits: this process's, with `extra` on top. The one way code
 * outside the env modules hands the environment on.
 */
export function inheritedEnv(extra: TEnvSource = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}
