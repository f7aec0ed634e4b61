import { z } from "zod";
import { parseEnv, type TEnvSource } from "./env";

/**
 * What the browser may know of the console's configuration: the chain its wallet uses and the
 * console's public origin. The console's env module (server/env.ts) and the app's
 * (app/_lib/public-env.ts) both read it through here, so the two agree.
 */
export const ZPublicEnvSource = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  CHAIN_RPC_URL: z.url().default("http://127.0.0.1:8545"),
  CHAIN_ID: z.coerce.number().int().positive().default(31337),
  CONSOLE_ORIGIN: z.url().optional(),
});

export type TPublicConfig = Readonly<{
  chainId: number;
  chainRpcUrl: string;
  /** How the UI names the chain. */
  chainName: string;
  /** Public origin of the console (scheme://host[:port]); SIWE domain and EIP-712 `origin`. */
  consoleOrigin: string;
}>;

/** The public configuration from parsed variables (the console's env module parses them with the rest). */
export function publicConfigOf(e: z.output<typeof ZPublicEnvSource>): TPublicConfig {
  return Object.freeze({
    chainId: e.CHAIN_ID,
    chainRpcUrl: e.CHAIN_RPC_URL,
    chainName: e.CHAIN_ID === 31337 ? "Formation devnet" : `Chain ${e.CHAIN_ID}`,
    consoleOrigin: new URL(e.CONSOLE_ORIGIN ?? `http://localhost:${e.PORT}`).origin,
  });
}

/** Parses the public configuration from an environment; throws naming every bad variable. */
export function loadPublicConfig(source: TEnvSource): TPublicConfig {
  return publicConfigOf(parseEnv(ZPublicEnvSource, source, "console"));
}
