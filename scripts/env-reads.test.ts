import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

// ARCHITECTURE.md's env rule: the environment is read only through the env modules, each parsing
// its variables with zod so a bad value fails at start with one clear message. This test fails
// when product code anywhere else touches `process.env`.

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The folders (and root files) of product code the rule covers. */
const SCOPE = ["app/", "server/", "lib/", "cli/", "node-agent/", "core/", "proxy.ts"];

/** The env modules: the only files of the scope that may touch `process.env`. */
const ENV_MODULES = new Set([
  "server/env.ts", // the console
  "server/gateway/config.ts", // the console's control plane
  "server/ingress/config.ts", // the console's ingress edge
  "core/env.ts", // shared Node code, and the environment child processes inherit
  "node-agent/config/env.ts", // the node agent
  "cli/env.ts", // the CLI
  "app/_lib/public-env.ts", // the UI's root layout (the chain and the console's origin)
]);

/** Tests and test helpers start whole platforms and set up their environment themselves. */
function exempt(path: string): boolean {
  return /\.test\.tsx?$/.test(path) || path.includes("/testing/") || path.endsWith("/testing.ts");
}

/** Lines of `source` that touch `process.env` (comments aside), as `line: text`. */
function envReads(source: string): string[] {
  const found: string[] = [];
  source.split("\n").forEach((line, i) => {
    const code = line.trim();
    if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) return;
    if (/\bprocess\s*(\.\s*env\b|\[\s*["'`]env["'`]\s*\])|\benv\b[^=]*\}\s*=\s*process\b/.test(code))
      found.push(`${i + 1}: ${code}`);
  });
  return found;
}

async function productFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    "git",
    ["ls-files", "--cached", "--others", "--exclude-standard", "--", ...SCOPE],
    { cwd: repo, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout
    .split("\n")
    .filter((p) => /\.(ts|tsx|mts)$/.test(p) && !exempt(p) && !p.includes("node_modules/"));
}

describe("env read only through the env modules (ARCHITECTURE.md)", () => {
  it("finds reads, spreads and destructuring of process.env, not comments", () => {
    expect(envReads("const a = process.env.X;")).toEqual(["1: const a = process.env.X;"]);
    expect(envReads("spawn(f, [], { env: { ...process.env } });")).toHaveLength(1);
    expect(envReads('const b = process["env"];')).toHaveLength(1);
    expect(envReads("const { env } = process;")).toHaveLength(1);
    expect(envReads("// process.env.X is read by server/env.ts\n * (process.env)")).toEqual([]);
    expect(envReads("const env = loadEnv();")).toEqual([]);
  });

  it("has no read outside the env modules", { timeout: 30_000 }, async () => {
    const files = await productFiles();
    expect(files.length).toBeGreaterThan(100);
    for (const module of ENV_MODULES) expect(files, `${module} is missing`).toContain(module);
    const reads: string[] = [];
    for (const path of files) {
      if (ENV_MODULES.has(path)) continue;
      for (const read of envReads(await readFile(join(repo, path), "utf8"))) reads.push(`${path}:${read}`);
    }
    expect(reads, "read it through the folder's env module (ARCHITECTURE.md, Environment)").toEqual([]);
  });
});
