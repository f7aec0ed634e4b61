import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { cliEnv } from "./env";
import { CliError } from "./errors";

/**
 * The CLI's files, in `$FORMKIT` or `~/.config/form/`:
 *   config.json     host + address (never the key)
 *   keystore.json   the signing key, Web3 Secret Storage v3 (0600)
 *   builds.json     the last build made from each project directory (for `pack ship`)
 *   formnet/        this machine's WireGuard key, tunnel config, state and log
 */

export const DEFAULT_HOST = "http://127.0.0.1:3000";

export const ZCliConfig = z.object({
  version: z.literal(1),
  host: z.string().url(),
  address: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  createdAt: z.string(),
});
export type TCliConfig = z.infer<typeof ZCliConfig>;

const ZLastBuild = z.object({
  buildId: z.string(),
  name: z.string(),
  host: z.string(),
  at: z.string(),
  /** sha256 of the Formfile the build was made from (absent in state written by older CLIs). */
  formfileDigest: z.string().optional(),
});
const ZBuildsState = z.record(z.string(), ZLastBuild);
export type TLastBuild = z.infer<typeof ZLastBuild>;

/** The configuration directory: `$FORMKIT` when set, else `~/.config/form`. */
export function configDir(): string {
  return cliEnv().FORMKIT ?? join(homedir(), ".config", "form");
}

export function configPaths(dir: string = configDir()) {
  return {
    dir,
    config: join(dir, "config.json"),
    keystore: join(dir, "keystore.json"),
    builds: join(dir, "builds.json"),
    formnet: join(dir, "formnet"),
  };
}

/** Writes a file atomically (temp + rename) with mode 0600, creating the directory (0700). */
export async function writePrivateFile(path: string, text: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(`${path}.tmp`, text, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

export async function readConfig(dir: string = configDir()): Promise<TCliConfig> {
  const paths = configPaths(dir);
  let text: string;
  try {
    text = await readFile(paths.config, "utf8");
  } catch {
    throw new CliError("user", `no Formation config in ${dir} — run \`form kit init\` first`);
  }
  const parsed = ZCliConfig.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new CliError("user", `${paths.config} is not a valid config — run \`form kit init --force\``);
  return parsed.data;
}

export async function readBuildsState(dir: string): Promise<Record<string, TLastBuild>> {
  try {
    return ZBuildsState.parse(JSON.parse(await readFile(configPaths(dir).builds, "utf8")));
  } catch {
    return {};
  }
}

/** Remembers the build made from `projectDir` so `pack ship` there needs no --build-id. */
export async function rememberBuild(opts: {
  dir: string;
  projectDir: string;
  build: TLastBuild;
}): Promise<void> {
  const state = await readBuildsState(opts.dir);
  state[opts.projectDir] = opts.build;
  await writePrivateFile(configPaths(opts.dir).builds, `${JSON.stringify(state, null, 2)}\n`, opts.dir);
}
