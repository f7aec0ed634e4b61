import { z } from "zod";
import { ZTerminalReason } from "./terminal";

/**
 * App logs protocol (`/ws/app-logs`), console → browser: the running app's journal (the
 * ENTRYPOINT's systemd unit, or the whole boot's journal when the Formfile has none), its backlog
 * first, then live. Binary frames carry journal text; text frames carry the JSON control frames
 * below. The browser sends nothing.
 *
 * History:
 *   1 — 2026-12: open by query (`instance`, `lines` of backlog); ready/end/error frames with the
 *       terminal's refusal reasons.
 */
export const APP_LOGS_PROTOCOL_VERSION = 1;

export const APP_LOGS_WS_PATH = "/ws/app-logs";

export const ZAppLogsOpenQuery = z.object({
  instance: z.string().min(1).max(128),
  /** Journal lines before the live ones. */
  lines: z.coerce.number().int().min(0).max(10_000).default(500),
});
export type TAppLogsOpenQuery = z.infer<typeof ZAppLogsOpenQuery>;

export const ZAppLogsServerFrame = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("ready"),
    v: z.literal(APP_LOGS_PROTOCOL_VERSION),
    instanceId: z.string(),
    /** The systemd unit shown, or null for the whole journal of the current boot. */
    unit: z.string().nullable(),
  }),
  /** The stream ended (the VM stopped, sshd went away); the browser may reconnect. */
  z.object({ type: z.literal("end"), message: z.string() }),
  z.object({ type: z.literal("error"), reason: ZTerminalReason, message: z.string() }),
]);
export type TAppLogsServerFrame = z.infer<typeof ZAppLogsServerFrame>;

/** The WebSocket URL of an instance's app logs on the console at `origin`. */
export function appLogsUrl(opts: { origin: string; instanceId: string; lines?: number }): string {
  const url = new URL(APP_LOGS_WS_PATH, opts.origin);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("instance", opts.instanceId);
  if (opts.lines !== undefined) url.searchParams.set("lines", String(opts.lines));
  return url.toString();
}

/** Parses a control frame from the console; null when it is not a known frame. */
export function parseAppLogsServerFrame(text: string): TAppLogsServerFrame | null {
  try {
    const parsed = ZAppLogsServerFrame.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
