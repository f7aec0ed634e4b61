import type { z } from "zod";
import { type TAgentToConsole, type TConsoleToAgent, ZAgentToConsole, ZConsoleToAgent } from "./messages";

/** Largest text frame either side accepts (job logs are batched below this). */
export const MAX_FRAME_BYTES = 1024 * 1024;

export type TMalformed = {
  code: "tooLarge" | "invalidJson" | "invalidMessage";
  message: string;
  /** `type` field of the frame, when it was readable. */
  type?: string;
};

export type TParseResult<T> = { ok: true; message: T } | { ok: false; error: TMalformed };

function frameText(raw: unknown): string | null {
  if (typeof raw === "string") return raw;
  if (raw instanceof Uint8Array) return new TextDecoder().decode(raw);
  if (raw instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(raw));
  if (Array.isArray(raw) && raw.every((c) => c instanceof Uint8Array)) {
    const total = raw.reduce((n: number, c: Uint8Array) => n + c.byteLength, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const c of raw as Uint8Array[]) {
      all.set(c, at);
      at += c.byteLength;
    }
    return new TextDecoder().decode(all);
  }
  return null;
}

/**
 * Parses one WebSocket frame (string, bytes or fragment list) against a message union schema,
 * returning the typed message or a typed malformed error; never throws.
 */
export function parseMessage<S extends z.ZodType>(schema: S, raw: unknown): TParseResult<z.infer<S>> {
  const text = frameText(raw);
  if (text === null) return { ok: false, error: { code: "invalidMessage", message: "frame is not text" } };
  if (text.length > MAX_FRAME_BYTES) {
    return { ok: false, error: { code: "tooLarge", message: `frame exceeds ${MAX_FRAME_BYTES} bytes` } };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: "invalidJson", message: "frame is not valid JSON" } };
  }
  const type =
    typeof json === "object" && json !== null && "type" in json && typeof json.type === "string"
      ? json.type.slice(0, 64)
      : undefined;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
    return {
      ok: false,
      error: {
        code: "invalidMessage",
        message: `${type ?? "frame"} rejected${where}: ${first?.message ?? "invalid"}`,
        ...(type === undefined ? {} : { type }),
      },
    };
  }
  return { ok: true, message: parsed.data };
}

/** Parses a frame received by the console from an agent. */
export function parseAgentMessage(raw: unknown): TParseResult<TAgentToConsole> {
  return parseMessage(ZAgentToConsole, raw);
}

/** Parses a frame received by an agent from the console. */
export function parseConsoleMessage(raw: unknown): TParseResult<TConsoleToAgent> {
  return parseMessage(ZConsoleToAgent, raw);
}

/** Serialises a message for the wire (the peer validates it again on receipt). */
export function encodeMessage(message: TAgentToConsole | TConsoleToAgent): string {
  return JSON.stringify(message);
}
