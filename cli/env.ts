import { z } from "zod";
import { blankAsUnset, parseEnv, type TEnvSource } from "../lib/env";

/**
 * What the CLI reads from the environment; every `process.env` read of cli/ goes through here
 * (scripts/env-reads.test.ts checks it). An empty variable counts as unset: scripts often export
 * `FORM_HOST=` to clear it. Parsed on every call, as tests change the environment between cases.
 */
const ZCliEnv = z.object({
  /** The console URL when --host is not given. */
  FORM_HOST: z.string().optional().transform(blankAsUnset),
  /** The keystore password when --password is not given. */
  FORM_PASSWORD: z.string().optional().transform(blankAsUnset),
  /** The configuration directory (default ~/.config/form). */
  FORMKIT: z.string().optional().transform(blankAsUnset),
  /** The running CLI entry (sources or bundle), set by the entry itself. */
  FORM_CLI_ENTRY: z.string().optional().transform(blankAsUnset),
});

export type TCliEnv = z.infer<typeof ZCliEnv>;

/** The CLI's environment (`source` for tests). */
export function cliEnv(source: TEnvSource = process.env): TCliEnv {
  return parseEnv(ZCliEnv, source, "CLI");
}

/**
 * Records the running entry in FORM_CLI_ENTRY (unless an outer entry already did), so commands that
 * start the CLI again in the background (`manage formnet-up`) start the same program.
 */
export function announceCliEntry(path: string): void {
  process.env.FORM_CLI_ENTRY ??= path;
}
