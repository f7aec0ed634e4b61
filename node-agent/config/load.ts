import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic } from "@/core/fs/atomic-write";
import { ConfigError } from "./errors";
import { type TAgentConfig, type TAgentConfigInput, ZAgentConfig } from "./schema";

/** Validate a parsed JSON value as agent config; errors list every offending field path. */
export function parseConfig(value: unknown, source = "agent.json"): TAgentConfig {
  const result = ZAgentConfig.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
  );
  throw new ConfigError({
    code: "invalid",
    message: `${source} is not a valid agent config:\n  ${problems.join("\n  ")}`,
    hint: "fix the fields above or re-run `node-agent init`",
    cause: result.error,
  });
}

export async function loadConfig(path: string): Promise<TAgentConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const missing = error instanceof Error && "code" in error && error.code === "ENOENT";
    throw new ConfigError({
      code: missing ? "notFound" : "unreadable",
      message: missing ? `no agent config at ${path}` : `cannot read ${path}`,
      hint: missing
        ? "run `node-agent init` first, or pass --config PATH"
        : "check the file's permissions (the agent runs as root)",
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError({
      code: "invalid",
      message: `${path} is not valid JSON`,
      hint: "fix the syntax or re-run `node-agent init`",
      cause: error,
    });
  }
  return parseConfig(json, path);
}

/** Write atomically (temp file + rename) so a crash never leaves a half-written config. */
export async function saveConfig(path: string, config: TAgentConfigInput): Promise<TAgentConfig> {
  const parsed = parseConfig(config, path);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(parsed, null, 2)}\n`, { mode: 0o600 });
  return parsed;
}
