import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import { createLogger } from "../core/log";
import { FormationError } from "../lib/errors";

/**
 * Compiles `contracts/src/*.sol` with solc-js (the npm `solc` package: no compiler download) into
 * `contracts/artifacts/<Name>.json` and regenerates the committed `lib/chain/abi.ts`. A content hash
 * over the sources, compiler version and settings makes an unchanged build a no-op.
 */

const contractsDir = fileURLToPath(new URL(".", import.meta.url));
export const sourcesDir = join(contractsDir, "src");
export const artifactsDir = join(contractsDir, "artifacts");
export const abiModulePath = join(contractsDir, "..", "lib", "chain", "abi.ts");

/** Compiler settings; `cancun` keeps the bytecode deployable on chains that have not adopted Prague. */
export const compilerSettings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
} as const;

// Loading solc-js parses an 8 MB Emscripten module (1–2 s): the up-to-date check must not pay that,
// so the hash uses the package version and the compiler is imported only to compile.
const solcPackageVersion = z
  .object({ version: z.string() })
  .parse(createRequire(import.meta.url)("solc/package.json")).version;

const ZAbi = z.array(z.record(z.string(), z.unknown()));

export const ZArtifact = z.object({
  contractName: z.string(),
  sourceName: z.string(),
  solcVersion: z.string(),
  sourceHash: z.string(),
  abi: ZAbi,
  bytecode: z.templateLiteral(["0x", z.string().regex(/^[0-9a-f]*$/)]),
  deployedBytecode: z.templateLiteral(["0x", z.string().regex(/^[0-9a-f]*$/)]),
});
export type TArtifact = z.infer<typeof ZArtifact>;

const ZSolcOutput = z.object({
  errors: z
    .array(z.object({ severity: z.string(), formattedMessage: z.string().optional(), message: z.string() }))
    .optional(),
  contracts: z
    .record(
      z.string(),
      z.record(
        z.string(),
        z.object({
          abi: ZAbi,
          evm: z.object({
            bytecode: z.object({ object: z.string() }),
            deployedBytecode: z.object({ object: z.string() }),
          }),
        }),
      ),
    )
    .optional(),
});

/** Raised when solc reports errors; `solcMessages` holds solc's formatted messages. */
export class ContractsBuildError extends FormationError<"CONTRACTS_BUILD_FAILED"> {
  override readonly name = "ContractsBuildError";
  constructor(
    message: string,
    readonly solcMessages: string,
  ) {
    super("CONTRACTS_BUILD_FAILED", message, { message: `${message}\n${solcMessages}` });
  }
}

export type TSources = Record<string, string>;

/** Reads every `.sol` file of `contracts/src`, keyed by file name, in a stable order. */
export async function readSources(dir = sourcesDir): Promise<TSources> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".sol")).sort();
  const sources: TSources = {};
  for (const name of names) sources[name] = await readFile(join(dir, name), "utf8");
  return sources;
}

/** Hash of what determines the output: compiler version, settings and every source. */
export function hashSources(sources: TSources): string {
  const h = createHash("sha256");
  h.update(`solc-js ${solcPackageVersion}\n${JSON.stringify(compilerSettings)}\n`);
  for (const [name, content] of Object.entries(sources).sort(([a], [b]) => a.localeCompare(b))) {
    h.update(`${name}\n${content.length}\n${content}`);
  }
  return h.digest("hex");
}

/** Compiles sources with solc-js and returns one artifact per contract with deployable bytecode. */
export async function compileSources(sources: TSources): Promise<TArtifact[]> {
  const { default: solc } = await import("solc");
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(Object.entries(sources).map(([name, content]) => [name, { content }])),
    settings: compilerSettings,
  };
  const output = ZSolcOutput.parse(JSON.parse(solc.compile(JSON.stringify(input))));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    throw new ContractsBuildError(
      `solc ${solc.version()} failed on ${Object.keys(sources).join(", ")}`,
      errors.map((e) => e.formattedMessage ?? e.message).join("\n"),
    );
  }
  const sourceHash = hashSources(sources);
  const artifacts: TArtifact[] = [];
  for (const [sourceName, contracts] of Object.entries(output.contracts ?? {})) {
    for (const [contractName, c] of Object.entries(contracts)) {
      if (c.evm.bytecode.object === "") continue; // interfaces and abstract contracts
      artifacts.push({
        contractName,
        sourceName,
        solcVersion: solc.version(),
        sourceHash,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
      });
    }
  }
  return artifacts;
}

/** Serialises JSON data as a TypeScript literal in Biome's style (unquoted keys, trailing commas). */
function toTsLiteral(value: unknown, indent: string): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => `${inner}${toTsLiteral(v, inner)},\n`).join("")}${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{}";
    const key = (k: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k));
    return `{\n${entries.map(([k, v]) => `${inner}${key(k)}: ${toTsLiteral(v, inner)},\n`).join("")}${indent}}`;
  }
  return JSON.stringify(value);
}

/** Text of `lib/chain/abi.ts` for the Orchestrator artifact (formatted the way Biome leaves it). */
export function renderAbiModule(artifact: TArtifact): string {
  return [
    "// Generated by `npx tsx contracts/build.ts` from contracts/src — do not edit by hand.",
    "// contracts/build.test.ts fails when this file is stale against the Solidity sources.",
    "",
    "/** sha256 over solc version, settings and sources that produced this ABI. */",
    `export const orchestratorSourceHash = "${artifact.sourceHash}";`,
    "",
    "/** ABI of contracts/src/Orchestrator.sol. */",
    `export const orchestratorAbi = ${toTsLiteral(artifact.abi, "")} as const;`,
    "",
  ].join("\n");
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

// Two processes may build at once (the devnet and a test run): write-then-rename means a reader sees
// either the old file or the complete new one, never half of it.
async function writeAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

export type TBuildResult = { skipped: boolean; sourceHash: string; artifacts: string[] };

/** Compiles when the sources changed (or `force`), writing artifacts and `lib/chain/abi.ts`. */
export async function buildContracts(options: { force?: boolean } = {}): Promise<TBuildResult> {
  const sources = await readSources();
  const sourceHash = hashSources(sources);
  const stampPath = join(artifactsDir, ".source-hash");
  const abiText = await readIfExists(abiModulePath);
  const upToDate =
    (await readIfExists(stampPath)) === sourceHash && abiText?.includes(`"${sourceHash}"`) === true;
  const names = Object.keys(sources).map((n) => n.replace(/\.sol$/, ""));
  if (upToDate && options.force !== true) return { skipped: true, sourceHash, artifacts: names };

  const artifacts = await compileSources(sources);
  await mkdir(artifactsDir, { recursive: true });
  for (const a of artifacts) {
    await writeAtomic(join(artifactsDir, `${a.contractName}.json`), `${JSON.stringify(a, null, 2)}\n`);
  }
  const orchestrator = artifacts.find((a) => a.contractName === "Orchestrator");
  if (orchestrator === undefined) throw new ContractsBuildError("no Orchestrator contract in sources", "");
  const rendered = renderAbiModule(orchestrator);
  if (rendered !== abiText) await writeAtomic(abiModulePath, rendered);
  await writeAtomic(stampPath, sourceHash);
  return { skipped: false, sourceHash, artifacts: artifacts.map((a) => a.contractName) };
}

/** Reads a compiled artifact, building first when it is missing or stale. */
export async function loadArtifact(contractName = "Orchestrator"): Promise<TArtifact> {
  await buildContracts();
  return ZArtifact.parse(JSON.parse(await readFile(join(artifactsDir, `${contractName}.json`), "utf8")));
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const log = createLogger("contracts-build");
  const started = performance.now();
  buildContracts({ force: process.argv.includes("--force") }).then(
    (r) =>
      log.info({ ...r, ms: Math.round(performance.now() - started) }, r.skipped ? "up to date" : "compiled"),
    (err: unknown) => {
      log.error({ err }, "contracts build failed");
      process.exitCode = 1;
    },
  );
}
