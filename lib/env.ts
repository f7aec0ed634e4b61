import { z } from "zod";

/** A variable's raw value as the environment holds it. */
export type TEnvSource = Record<string, string | undefined>;

/**
 * Parses an environment with its zod schema; throws one error naming every bad variable
 * ("Invalid `what` environment:" and a line per variable), so a bad value fails at start.
 */
export function parseEnv<TSchema extends z.ZodType>(
  schema: TSchema,
  source: TEnvSource,
  what: string,
): z.output<TSchema> {
  const parsed = schema.safeParse(source);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
  throw new Error(`Invalid ${what} environment:\n${lines.join("\n")}`);
}

/** An optional variable where an empty value means unset (as `VAR= command` does in a shell). */
export function blankAsUnset(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

/** A duration variable in milliseconds (a positive integer) with its default. */
export function envMs(fallback: number) {
  return z.coerce.number().int().positive().default(fallback);
}
