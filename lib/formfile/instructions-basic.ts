import { argsBetween, once, rawArgs } from "./args";
import { tokenize } from "./lexer";
import { GPU_MODEL_PATTERN, LIMITS, NAME_PATTERN, normaliseAbsolutePath, parseInteger } from "./rules";
import type { TInstructionContext } from "./state";

/** NAME, DESCRIPTION, VCPU, MEM, DISK, GPU, WORKDIR and EXPOSE. */

export function handleName(ctx: TInstructionContext): void {
  if (!once(ctx)) return;
  const [token] = argsBetween(ctx, { min: 1, max: 1, usage: "NAME hello-server" }) ?? [];
  if (token === undefined) return;
  ctx.state.locations.name = ctx.line.positionOf(token.offset);
  if (!NAME_PATTERN.test(token.value)) {
    const suggestion = token.value
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 63);
    ctx.error(
      token.offset,
      `invalid NAME "${token.value}": use 1–63 lowercase letters, digits and inner hyphens (it becomes a hostname)`,
      NAME_PATTERN.test(suggestion) ? `e.g. NAME ${suggestion}` : "e.g. NAME hello-server",
    );
    return;
  }
  ctx.state.name = token.value;
}

/** DESCRIPTION: free text, unquoted when fully quoted. */
export function handleDescription(ctx: TInstructionContext): void {
  if (!once(ctx)) return;
  const raw = rawArgs(ctx);
  if (raw === "") {
    ctx.error(ctx.argsOffset, "DESCRIPTION needs some text", 'usage: DESCRIPTION "A tiny web server"');
    return;
  }
  ctx.state.locations.description = ctx.line.positionOf(ctx.argsOffset);
  // A fully quoted description is unquoted; otherwise the text is taken verbatim.
  let text = raw;
  if (raw.startsWith('"') || raw.startsWith("'")) {
    const { tokens, error } = tokenize(ctx.line.text, ctx.argsOffset);
    if (error) {
      ctx.error(error.offset, error.message, "close the quote");
      return;
    }
    if (tokens.length === 1 && tokens[0] !== undefined) text = tokens[0].value;
  }
  if (text.length > LIMITS.descriptionMax) {
    ctx.error(
      ctx.argsOffset,
      `DESCRIPTION is ${text.length} characters long; the limit is ${LIMITS.descriptionMax}`,
      "shorten it",
    );
    return;
  }
  ctx.state.description = text;
}

type TResource = "vcpu" | "memoryMb" | "diskGb";
const RESOURCE_INFO: Record<TResource, { unit: string; example: string }> = {
  vcpu: { unit: "cores", example: "VCPU 2" },
  memoryMb: { unit: "MB", example: "MEM 2048" },
  diskGb: { unit: "GB", example: "DISK 5" },
};

function handleResource(ctx: TInstructionContext, field: TResource): void {
  if (!once(ctx)) return;
  const { unit, example } = RESOURCE_INFO[field];
  const [token] = argsBetween(ctx, { min: 1, max: 1, usage: example }) ?? [];
  if (token === undefined) return;
  ctx.state.locations[field] = ctx.line.positionOf(token.offset);
  const { min, max } = LIMITS[field];
  const value = parseInteger(token.value);
  if (value === undefined) {
    ctx.error(
      token.offset,
      `${ctx.keyword} must be a whole number of ${unit}, got "${token.value}"`,
      `write a plain integer between ${min} and ${max}, e.g. ${example}`,
    );
    return;
  }
  if (value < min || value > max) {
    ctx.error(
      token.offset,
      `${ctx.keyword} ${value} is out of range: allowed ${min}–${max} ${unit}`,
      `use a value between ${min} and ${max}`,
    );
    return;
  }
  ctx.state[field] = value;
}

/** VCPU (CPU, CORES): whole cores, 1–128. */
export const handleVcpu = (ctx: TInstructionContext): void => handleResource(ctx, "vcpu");
/** MEM (MEMORY): whole megabytes, 512–256000. */
export const handleMem = (ctx: TInstructionContext): void => handleResource(ctx, "memoryMb");
/** DISK (STORAGE): whole gigabytes, 5–65535. */
export const handleDisk = (ctx: TInstructionContext): void => handleResource(ctx, "diskGb");

/** GPU model[:count]. */
export function handleGpu(ctx: TInstructionContext): void {
  if (!once(ctx)) return;
  const [token] = argsBetween(ctx, { min: 1, max: 1, usage: "GPU model[:count], e.g. GPU a100:2" }) ?? [];
  if (token === undefined) return;
  ctx.state.locations.gpu = ctx.line.positionOf(token.offset);
  const colon = token.value.indexOf(":");
  const model = colon === -1 ? token.value : token.value.slice(0, colon);
  const countText = colon === -1 ? "1" : token.value.slice(colon + 1);
  if (!GPU_MODEL_PATTERN.test(model)) {
    ctx.error(
      token.offset,
      `invalid GPU model "${model}"`,
      "use letters, digits, dots, underscores and hyphens, e.g. GPU a100:2",
    );
    return;
  }
  const count = parseInteger(countText);
  const { min, max } = LIMITS.gpuCount;
  if (count === undefined || count < min || count > max) {
    ctx.error(
      token.offset + colon + 1,
      `GPU count "${countText}" must be a whole number between ${min} and ${max}`,
      `e.g. GPU ${model}:1`,
    );
    return;
  }
  ctx.state.gpu = { model, count };
}

/** WORKDIR: one absolute path, normalised. */
export function handleWorkdir(ctx: TInstructionContext): void {
  if (!once(ctx)) return;
  const [token] = argsBetween(ctx, { min: 1, max: 1, usage: "WORKDIR /app" }) ?? [];
  if (token === undefined) return;
  ctx.state.locations.workdir = ctx.line.positionOf(token.offset);
  const path = normaliseAbsolutePath(token.value);
  if (path === undefined) {
    ctx.error(
      token.offset,
      `WORKDIR must be an absolute path without "..", got "${token.value}"`,
      "e.g. WORKDIR /app",
    );
    return;
  }
  ctx.state.workdir = path;
}

/** EXPOSE: ports 1–65535, de-duplicated with a warning. */
export function handleExpose(ctx: TInstructionContext): void {
  const tokens = argsBetween(ctx, { min: 1, max: Number.POSITIVE_INFINITY, usage: "EXPOSE 80 443" });
  for (const token of tokens ?? []) {
    const port = parseInteger(token.value);
    if (port === undefined || port < 1 || port > 65_535) {
      ctx.error(
        token.offset,
        `EXPOSE port "${token.value}" must be a whole number between 1 and 65535`,
        /^\d+\/(tcp|udp)$/i.test(token.value) ? "write the port number only, e.g. EXPOSE 8080" : undefined,
      );
    } else if (ctx.state.expose.includes(port)) {
      ctx.warn(token.offset, `port ${port} is exposed more than once`, "remove the duplicate");
    } else {
      ctx.state.expose.push(port);
    }
  }
}
