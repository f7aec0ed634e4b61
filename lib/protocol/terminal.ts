import { z } from "zod";

/**
 * Web terminal protocol (`/ws/terminal`), browser ⇄ console.
 *
 * Binary frames carry terminal bytes (keystrokes up, shell output down, UTF-8 passed through
 * untouched). Text frames carry JSON control messages validated with the schemas below.
 *
 * History:
 *   1 — 2026-11: open by query (`instance`, optional `session` to resume, `cols`, `rows`),
 *       control frames resize/ping ↑ and ready/pong/exit/error ↓, typed refusal reasons.
 */
export const TERMINAL_PROTOCOL_VERSION = 1;

/** Path of the terminal gateway on the console's own origin. */
export const TERMINAL_WS_PATH = "/ws/terminal";

/** Why a terminal cannot be opened or was ended; the UI explains each one. */
export const ZTerminalReason = z.enum([
  "unauthenticated",
  "forbidden-origin",
  "bad-request",
  "not-found",
  "instance-not-running",
  "no-formnet-ip",
  "formnet-unreachable",
  "auth-refused",
  "host-key-changed",
  "session-expired",
  "too-many-sessions",
  "internal",
]);
export type TTerminalReason = z.infer<typeof ZTerminalReason>;

const ZSize = { cols: z.number().int().min(2).max(1000), rows: z.number().int().min(1).max(500) };

/** Control frames the browser sends. */
export const ZTerminalClientFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("resize"), ...ZSize }),
  z.object({ type: z.literal("ping"), t: z.number() }),
]);
export type TTerminalClientFrame = z.infer<typeof ZTerminalClientFrame>;

/** Control frames the console sends. */
export const ZTerminalServerFrame = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("ready"),
    v: z.literal(TERMINAL_PROTOCOL_VERSION),
    sessionId: z.string(),
    /** True when an existing shell was re-attached (its scrollback was replayed before this). */
    resumed: z.boolean(),
    instanceId: z.string(),
    username: z.string(),
    host: z.string(),
    /** How long the shell outlives a dropped connection, in seconds. */
    graceSeconds: z.number(),
  }),
  z.object({ type: z.literal("pong"), t: z.number() }),
  z.object({ type: z.literal("exit"), code: z.number().nullable(), message: z.string() }),
  z.object({ type: z.literal("error"), reason: ZTerminalReason, message: z.string() }),
]);
export type TTerminalServerFrame = z.infer<typeof ZTerminalServerFrame>;

/** Query parameters of the WebSocket URL. */
export const ZTerminalOpenQuery = z.object({
  instance: z.string().min(1).max(128),
  session: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,64}$/)
    .optional(),
  cols: z.coerce.number().int().min(2).max(1000).default(80),
  rows: z.coerce.number().int().min(1).max(500).default(24),
});
export type TTerminalOpenQuery = z.infer<typeof ZTerminalOpenQuery>;

/** Builds the WebSocket URL for the console at `origin` (http(s) → ws(s)). */
export function terminalUrl(opts: {
  origin: string;
  instanceId: string;
  sessionId?: string | null;
  cols: number;
  rows: number;
}): string {
  const url = new URL(TERMINAL_WS_PATH, opts.origin);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("instance", opts.instanceId);
  if (opts.sessionId) url.searchParams.set("session", opts.sessionId);
  url.searchParams.set("cols", String(opts.cols));
  url.searchParams.set("rows", String(opts.rows));
  return url.toString();
}

/** Parses a control frame from the console; null when it is not valid JSON of a known frame. */
export function parseTerminalServerFrame(text: string): TTerminalServerFrame | null {
  try {
    const parsed = ZTerminalServerFrame.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Parses a control frame from the browser; null when invalid. */
export function parseTerminalClientFrame(text: string): TTerminalClientFrame | null {
  try {
    const parsed = ZTerminalClientFrame.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
