import { readFile } from "node:fs/promises";
import { createTRPCClient, httpLink, type TRPCClient } from "@trpc/client";
import superjson from "superjson";
import type { Hex, LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createSignedInput, readAuthorizationHeaders } from "../lib/signing/client-auth";
import type { TSignedAction } from "../lib/signing/envelope";
import type { AppRouter } from "../server/api/root";
import { configDir, configPaths, readConfig, type TCliConfig } from "./config";
import { cliEnv } from "./env";
import { CliError, toCliError } from "./errors";
import type { TCommonOptions } from "./output";
import { askHidden, isInteractive } from "./prompt";

export type TApiClient = TRPCClient<AppRouter>;

/** A signed envelope whose action and params keep their literal types (tRPC checks them). */
export type TSigned<TAction extends string, TParams> = Omit<TSignedAction, "action" | "params"> & {
  action: TAction;
  params: TParams;
};

export type TSession = {
  dir: string;
  config: TCliConfig;
  host: string;
  account: LocalAccount;
  api: TApiClient;
  origin: string;
  chainId: number;
  /** Signed read-token headers for the console (queries, the formnet relay's upgrade). */
  readHeaders: () => Promise<{ authorization: string }>;
  /** Signs a mutation's input with the local key (the key itself never leaves this process). */
  sign<TAction extends string, TParams>(
    action: TAction,
    params: TParams,
    contentDigest?: Hex,
  ): Promise<TSigned<TAction, TParams>>;
  /** Runs one API call, turning failures into CliErrors that say what to do. */
  call<T>(fn: (api: TApiClient) => Promise<T>): Promise<T>;
};

function trimHost(host: string): string {
  return host.replace(/\/+$/, "");
}

/** Picks the console: --host, then FORM_HOST, then the config. */
export function resolveHost(opts: TCommonOptions, config: TCliConfig | null): string {
  // An empty variable counts as unset (scripts often export FORM_HOST= to clear it).
  const host = opts.host ?? cliEnv().FORM_HOST ?? config?.host;
  if (!host)
    throw new CliError("user", "no console host — pass --host URL or run `form kit init --host URL`");
  if (!/^https?:\/\//.test(host)) throw new CliError("user", `--host must be an http(s) URL, got "${host}"`);
  return trimHost(host);
}

/** The keystore password: --password, FORM_PASSWORD, or a hidden prompt on a terminal. */
export async function resolvePassword(opts: TCommonOptions, purpose: string): Promise<string> {
  const given = opts.password ?? cliEnv().FORM_PASSWORD;
  if (given !== undefined && given.length > 0) return given;
  if (isInteractive()) return askHidden(`Password for ${purpose}: `);
  throw new CliError("user", "the keystore is locked — pass --password or set FORM_PASSWORD");
}

/** An unauthenticated client (for `auth.config` and reachability checks). */
export function publicClient(host: string): TApiClient {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${host}/api/trpc`, transformer: superjson })],
  });
}

/** Reads what signatures must bind to (origin + chain id) from the console. */
export async function fetchAuthConfig(host: string): Promise<{ origin: string; chainId: number }> {
  try {
    return await publicClient(host).auth.config.query();
  } catch (error) {
    throw toCliError(error, host);
  }
}

/** Loads the config, unlocks the key and connects to the console with signed read headers. */
export async function openSession(opts: TCommonOptions): Promise<TSession> {
  const dir = configDir();
  const config = await readConfig(dir);
  const host = resolveHost(opts, config);
  const json = await readFile(configPaths(dir).keystore, "utf8").catch(() => {
    throw new CliError("user", `no keystore in ${dir} — run \`form kit init\``);
  });
  const password = await resolvePassword(opts, `the key ${config.address}`);
  // ethers (inside the keystore module) costs ~0.6 s to load: only commands that sign pay for it.
  const { KeystoreError, openKeystore } = await import("../core/keystore");
  let privateKey: Hex;
  try {
    ({ privateKey } = await openKeystore({ json, password }));
  } catch (error) {
    if (error instanceof KeystoreError && error.code === "BAD_PASSWORD")
      throw new CliError("user", "wrong keystore password — check --password / FORM_PASSWORD", {
        cause: error,
      });
    throw new CliError("user", `cannot open ${configPaths(dir).keystore}: ${String(error)}`, {
      cause: error,
    });
  }
  const account = privateKeyToAccount(privateKey);
  const { origin, chainId } = await fetchAuthConfig(host);
  const readHeaders = readAuthorizationHeaders(account, { origin, chainId });
  const api = createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${host}/api/trpc`, transformer: superjson, headers: readHeaders })],
  });
  return {
    dir,
    config,
    host,
    account,
    api,
    origin,
    chainId,
    readHeaders,
    async sign(action, params, contentDigest) {
      const envelope = await createSignedInput(account, {
        action,
        params,
        origin,
        chainId,
        ...(contentDigest ? { contentDigest } : {}),
      });
      return { ...envelope, action, params };
    },
    async call(fn) {
      try {
        return await fn(api);
      } catch (error) {
        throw toCliError(error, host);
      }
    },
  };
}
