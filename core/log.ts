import { type Logger, pino } from "pino";
import { coreEnv } from "./env";

export type { Logger };

/**
 * Structured JSON logger for Node processes (console, agent, CLI internals). `component` labels every
 * line so the supervisor's merged output stays readable; add ids with `logger.child({ buildId })`.
 */
export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  const env = coreEnv();
  return pino({
    level: env.LOG_LEVEL ?? (env.NODE_ENV === "test" ? "warn" : "info"),
    base: { component, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
