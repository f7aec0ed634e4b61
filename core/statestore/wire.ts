import { z } from "zod";
import { ZEntityKey } from "../../lib/statestore/entities";
import { ZEnvelope } from "./envelope";

/**
 * Store replication protocol version. History:
 * 1 — hello/heads/changes: heads exchange per entity document, signed envelopes pushed.
 * 2 — envelopes may be v2 (`v: 2`, SHA-256 ECDSA signatures; see envelope.ts). A v1 replica would
 *     strip `v` and report every v2 change as forged, so the two refuse each other at hello.
 */
export const STORE_PROTOCOL_VERSION = 2;

/** Largest batch of envelopes in one `changes` message (keeps frames well under ws limits). */
export const MAX_ENVELOPES_PER_MESSAGE = 500;

const ZHash = z.string().regex(/^[0-9a-f]{64}$/);

export const ZHello = z.object({
  t: z.literal("hello"),
  v: z.number().int().positive(),
  replica: z.string().max(64),
  digest: z.string().max(128),
});
export const ZHeads = z.object({
  t: z.literal("heads"),
  /** True when `docs` lists every document the sender has (absent docs = the sender has none). */
  full: z.boolean(),
  docs: z.array(z.object({ key: ZEntityKey, heads: z.array(ZHash).max(4096) })).max(1_000_000),
});
export const ZChanges = z.object({
  t: z.literal("changes"),
  envelopes: z.array(ZEnvelope).min(1).max(MAX_ENVELOPES_PER_MESSAGE),
});

export const ZWireMessage = z.discriminatedUnion("t", [ZHello, ZHeads, ZChanges]);
export type TWireMessage = z.infer<typeof ZWireMessage>;
export type THeadsMessage = z.infer<typeof ZHeads>;

/** Parses one frame; undefined for anything that is not a valid message (the caller counts it). */
export function parseWireMessage(raw: string): TWireMessage | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = ZWireMessage.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
