import path from "node:path";
import { bytesToHex, getAddress, isAddress } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { z } from "zod";
import { parseEnv, type TEnvSource } from "@/lib/env";
import { publicConfigOf, ZPublicEnvSource } from "@/lib/public-config";

/**
 * The console's configuration, parsed once from the environment. Everything the console reads
 * from `process.env` goes through here (or, for its control plane and edge, through
 * server/gateway/config.ts and server/ingress/config.ts) so a bad value fails at start with one
 * clear message; scripts/env-reads.test.ts fails on a read anywhere else.
 */

/** A comma-separated list (blank items dropped), each item checked by `valid`. */
function commaList(valid: (item: string) => boolean, what: string) {
  return z
    .string()
    .default("")
    .transform((raw, ctx) => {
      const items = raw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = items.find((item) => !valid(item));
      if (bad !== undefined) {
        ctx.addIssue({ code: "custom", message: `not ${what}: ${bad}` });
        return z.NEVER;
      }
      return items;
    });
}

// Addresses are compared lowercase everywhere in the console.
const ZAddressList = commaList((a) => isAddress(a, { strict: false }), "an Ethereum address").transform(
  (items) => items.map((a) => getAddress(a).toLowerCase() as `0x${string}`),
);

const ZConsoleUrlList = commaList(
  (url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol),
  "an http(s) console URL",
);

const ZDurationSeconds = z.coerce.number().int().positive();

export const ZEnvSource = z.object({
  ...ZPublicEnvSource.shape,
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  HOST: z.string().min(1).default("127.0.0.1"),
  /** Further addresses the console serves on the same port (comma-separated IPs). */
  FORMATION_ALSO_LISTEN: commaList((a) => /^[0-9.]+$|:/.test(a), "an IP address"),
  FORMATION_DATA_DIR: z.string().min(1).default(".data"),
  /** `1`: serve the API and WebSockets only, no Next.js UI (headless installs, fast CI runs). */
  FORMATION_CONSOLE_NO_UI: z.enum(["0", "1"]).default("0"),
  DATABASE_URL: z.string().optional(),
  ORCHESTRATOR_ADDRESS: z
    .string()
    .refine((v) => isAddress(v, { strict: false }), "ORCHESTRATOR_ADDRESS must be an address")
    .optional(),
  /**
   * Funded key the console relays owners' signed build commitments with (commitBuildFor pays gas).
   * On the embedded devnet (chain 31337) it defaults to devnet account #9.
   */
  CHAIN_RELAYER_PRIVATE_KEY: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/, "CHAIN_RELAYER_PRIVATE_KEY must be 0x + 64 hex digits")
    .optional(),
  /** Browser session lifetime in seconds (default 7 days). */
  SESSION_TTL: ZDurationSeconds.default(7 * 24 * 3600),
  /** Operator addresses admitted to the agent gateway until the contract's registry is used. */
  FORMATION_AGENT_ALLOWLIST: ZAddressList,
  FORMATION_ADMINS: ZAddressList,
  /**
   * Comma-separated URLs of other console replicas (same database, same state-store key) whose
   * state store this console replicates with over `/ws/store`.
   */
  FORMATION_STATESTORE_PEERS: ZConsoleUrlList,
  /** Request limits (docs/console.md, "Request limits"); counts are per minute. */
  FORMATION_LIMIT_AUTH_PER_IP: z.coerce.number().int().positive().default(20),
  FORMATION_LIMIT_REQUESTS_PER_IP: z.coerce.number().int().positive().default(1200),
  FORMATION_LIMIT_REQUESTS_PER_IDENTITY: z.coerce.number().int().positive().default(600),
  FORMATION_LIMIT_BLOB_PUTS_PER_IDENTITY: z.coerce.number().int().positive().default(60),
  FORMATION_LIMIT_AUTH_FAILURES_PER_IP: z.coerce.number().int().positive().default(30),
  FORMATION_LIMIT_TRPC_BATCH: z.coerce.number().int().positive().default(20),
  FORMATION_LIMIT_JSON_BODY_MS: z.coerce.number().int().positive().default(10_000),
  FORMATION_LIMIT_BLOB_BODY_IDLE_MS: z.coerce.number().int().positive().default(30_000),
  FORMATION_LIMIT_BLOB_BODY_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(30 * 60_000),
  FORMATION_LIMIT_HEADERS_MS: z.coerce.number().int().positive().default(20_000),
});

export type TEnv = Readonly<{
  nodeEnv: "development" | "production" | "test";
  port: number;
  host: string;
  /** Further listen addresses (FORMATION_ALSO_LISTEN). */
  alsoListen: readonly string[];
  dataDir: string;
  /** Whether the console serves the Next.js UI (not FORMATION_CONSOLE_NO_UI=1). */
  withUi: boolean;
  /** SQLite `file:` URL or a `postgres://`/`postgresql://` URL. */
  databaseUrl: string;
  databaseProvider: "sqlite" | "postgresql";
  chainRpcUrl: string;
  chainId: number;
  orchestratorAddress: `0x${string}` | undefined;
  /** Key that relays build commitments; undefined: commitments are recorded as failed ("no relayer"). */
  relayerPrivateKey: `0x${string}` | undefined;
  /** Public origin of the console (scheme://host[:port]); SIWE domain and EIP-712 `origin`. */
  consoleOrigin: string;
  sessionTtlSeconds: number;
  agentAllowlist: readonly `0x${string}`[];
  admins: readonly `0x${string}`[];
  /** Other console replicas to peer the state store with. */
  stateStorePeers: readonly string[];
  limits: TRequestLimitsConfig;
}>;

/** What one client may send (docs/console.md, "Request limits"). Rates are per minute. */
export type TRequestLimitsConfig = Readonly<{
  /** Public `auth.*` mutations (auth.nonce, auth.signIn, …) per client IP. */
  authPerIp: number;
  /** API requests (tRPC procedures and blob transfers) per client IP. */
  requestsPerIp: number;
  /** API requests per signed-in address. */
  requestsPerIdentity: number;
  /** Blob uploads (PUT) per address or agent node. */
  blobPutsPerIdentity: number;
  /** Credentials (cookie or read token) that fail to verify, per client IP. */
  authFailuresPerIp: number;
  /** Procedures in one tRPC batch. */
  trpcBatch: number;
  /** Deadline for a tRPC request body to arrive completely. */
  jsonBodyMs: number;
  /** A blob upload that sends nothing for this long is cut off. */
  blobBodyIdleMs: number;
  /** Deadline for a whole blob upload body. */
  blobBodyMs: number;
  /** Deadline for a request's headers (Node's server.headersTimeout). */
  headersMs: number;
}>;

/** Parses and validates the console environment; throws one error listing every bad variable. */
export function loadEnv(source: TEnvSource = process.env): TEnv {
  const e = parseEnv(ZEnvSource, source, "console");
  const databaseUrl = e.DATABASE_URL || `file:${path.join(e.FORMATION_DATA_DIR, "console.db")}`;
  const databaseProvider = /^postgres(ql)?:\/\//.test(databaseUrl) ? "postgresql" : "sqlite";
  if (databaseProvider === "sqlite" && !databaseUrl.startsWith("file:")) {
    throw new Error(`Invalid console environment:\n  DATABASE_URL: expected file:… or postgres://…`);
  }
  const { consoleOrigin } = publicConfigOf(e);
  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    alsoListen: e.FORMATION_ALSO_LISTEN,
    dataDir: e.FORMATION_DATA_DIR,
    withUi: e.FORMATION_CONSOLE_NO_UI !== "1",
    databaseUrl,
    databaseProvider,
    chainRpcUrl: e.CHAIN_RPC_URL,
    chainId: e.CHAIN_ID,
    orchestratorAddress: e.ORCHESTRATOR_ADDRESS ? getAddress(e.ORCHESTRATOR_ADDRESS) : undefined,
    relayerPrivateKey: relayerKey(e.CHAIN_RELAYER_PRIVATE_KEY, e.CHAIN_ID),
    consoleOrigin,
    sessionTtlSeconds: e.SESSION_TTL,
    agentAllowlist: e.FORMATION_AGENT_ALLOWLIST,
    admins: e.FORMATION_ADMINS,
    stateStorePeers: e.FORMATION_STATESTORE_PEERS,
    limits: Object.freeze({
      authPerIp: e.FORMATION_LIMIT_AUTH_PER_IP,
      requestsPerIp: e.FORMATION_LIMIT_REQUESTS_PER_IP,
      requestsPerIdentity: e.FORMATION_LIMIT_REQUESTS_PER_IDENTITY,
      blobPutsPerIdentity: e.FORMATION_LIMIT_BLOB_PUTS_PER_IDENTITY,
      authFailuresPerIp: e.FORMATION_LIMIT_AUTH_FAILURES_PER_IP,
      trpcBatch: e.FORMATION_LIMIT_TRPC_BATCH,
      jsonBodyMs: e.FORMATION_LIMIT_JSON_BODY_MS,
      blobBodyIdleMs: e.FORMATION_LIMIT_BLOB_BODY_IDLE_MS,
      blobBodyMs: e.FORMATION_LIMIT_BLOB_BODY_MS,
      headersMs: e.FORMATION_LIMIT_HEADERS_MS,
    }),
  });
}

// Hardhat's public test mnemonic: its keys hold ether on the local devnet only.
const DEVNET_MNEMONIC = "test test test test test test test test test test test junk";
// Not #0 (deployer/governance) nor #1 (the devnet agent's operator): a key of its own, so the
// relayer's transaction nonces never race another process's.
const DEVNET_RELAYER_INDEX = 9;

function relayerKey(configured: string | undefined, chainId: number): `0x${string}` | undefined {
  if (configured) return `0x${configured.slice(2).toLowerCase()}`;
  if (chainId !== 31337) return undefined;
  const key = mnemonicToAccount(DEVNET_MNEMONIC, { addressIndex: DEVNET_RELAYER_INDEX }).getHdKey()
    .privateKey;
  return key ? bytesToHex(key) : undefined;
}

let cached: TEnv | undefined;

/** The process-wide environment, parsed on first use. */
export function env(): TEnv {
  cached ??= loadEnv();
  return cached;
}

/** Where the PostgreSQL server binaries are (FORMATION_PG_BIN), for the test clusters. */
export function postgresBinDir(source: TEnvSource = process.env): string {
  return parseEnv(
    z.object({ FORMATION_PG_BIN: z.string().min(1).default("/usr/lib/postgresql/15/bin") }),
    source,
    "PostgreSQL",
  ).FORMATION_PG_BIN;
}

/** Turns Next.js's telemetry off for this process (Next reads the variable when it starts). */
export function disableNextTelemetry(): void {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
}
