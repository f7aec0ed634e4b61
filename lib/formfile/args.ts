import type { TToken } from "./lexer";
import type { TInstructionContext } from "./state";

/**
 * Returns the instruction's tokens when their count is within [min, max], else reports an error at the
 * first missing or surplus token (with `usage` as the hint) and returns undefined.
 */
export function argsBetween(
  ctx: TInstructionContext,
  spec: { min: number; max: number; usage: string },
): TToken[] | undefined {
  const tokens = ctx.tokens();
  if (tokens === undefined) return undefined;
  if (tokens.length < spec.min) {
    const what = spec.min === 1 ? "an argument" : `${spec.min} arguments`;
    // Point just after the last argument given, where the missing one belongs.
    const last = tokens[tokens.length - 1];
    ctx.error(last ? last.end : ctx.argsOffset, `${ctx.keyword} needs ${what}`, `usage: ${spec.usage}`);
    return undefined;
  }
  const surplus = tokens[spec.max];
  if (surplus !== undefined) {
    const what = spec.max === 1 ? "one argument" : `${spec.max} arguments`;
    ctx.error(
      surplus.offset,
      `${ctx.keyword} takes ${what}, found "${surplus.value}" after it`,
      `usage: ${spec.usage}`,
    );
    return undefined;
  }
  return tokens;
}

/** Marks a once-only instruction as seen; reports and returns false on a repeat. */
export function once(ctx: TInstructionContext): boolean {
  const first = ctx.state.seen.get(ctx.keyword);
  if (first !== undefined) {
    ctx.error(
      ctx.keywordOffset,
      `${ctx.keyword} may appear only once (first at line ${first})`,
      "remove one of them",
    );
    return false;
  }
  ctx.state.seen.set(ctx.keyword, ctx.line.line);
  return true;
}

/** The raw argument text (trimmed), for instructions whose argument is free text such as RUN. */
export function rawArgs(ctx: TInstructionContext): string {
  return ctx.line.text.slice(ctx.argsOffset).trim();
}
