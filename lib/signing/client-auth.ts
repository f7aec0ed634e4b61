import { MAX_READ_TTL_SECONDS, READ_ACTION } from "./actions";
import { type TSignedAction, ZSignedAction } from "./envelope";
import { SigningError } from "./errors";
import { signAction, type TSignActionOptions, type TTypedDataSigner } from "./sign-action";

/**
 * How the CLI (or any program holding a key) authenticates without a browser session:
 *
 * - mutations: the procedure input IS a signed envelope (`signAction`), one fresh nonce each;
 * - queries: header `Authorization: Formation <base64url(JSON of a signed "session.read" action)>`,
 *   valid for at most MAX_READ_TTL_SECONDS, bound to the console origin and chain. It is not
 *   single-use (queries are retried and batched); it only authorises reads.
 */
export const AUTH_SCHEME = "Formation";

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(encoded: string): string {
  const b64 = encoded.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** Signs the input of a signed mutation (alias of signAction, named for call sites in the CLI). */
export function createSignedInput(
  account: TTypedDataSigner,
  opts: TSignActionOptions,
): Promise<TSignedAction> {
  return signAction(account, opts);
}

/** Builds the `Authorization` header value for signed queries (default lifetime 60 s). */
export async function createReadAuthorization(
  account: TTypedDataSigner,
  opts: { origin: string; chainId: number; ttlSeconds?: number; now?: number },
): Promise<string> {
  const envelope = await signAction(account, {
    action: READ_ACTION,
    params: null,
    origin: opts.origin,
    chainId: opts.chainId,
    ttlSeconds: Math.min(opts.ttlSeconds ?? 60, MAX_READ_TTL_SECONDS),
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  return `${AUTH_SCHEME} ${toBase64Url(JSON.stringify(envelope))}`;
}

/** Decodes an `Authorization: Formation …` header into an (unverified) envelope; null if absent. */
export function parseReadAuthorization(header: string | null | undefined): TSignedAction | null {
  if (!header) return null;
  const [scheme, token, ...rest] = header.trim().split(/\s+/);
  if (scheme !== AUTH_SCHEME) return null;
  if (!token || rest.length > 0)
    throw new SigningError("MALFORMED", "Authorization header: expected 'Formation <token>'");
  let json: unknown;
  try {
    json = JSON.parse(fromBase64Url(token));
  } catch (cause) {
    throw new SigningError("MALFORMED", "Authorization token is not base64url JSON", { cause });
  }
  const parsed = ZSignedAction.safeParse(json);
  if (!parsed.success) throw new SigningError("MALFORMED", "Authorization token is not a signed action");
  return parsed.data;
}

/**
 * A `headers` function for @trpc/client's httpLink: returns `{ authorization }` with a read token,
 * re-signed shortly before it expires (one signature per ~minute, not per request).
 */
export function readAuthorizationHeaders(
  account: TTypedDataSigner,
  opts: { origin: string; chainId: number; ttlSeconds?: number; clock?: () => number },
): () => Promise<{ authorization: string }> {
  const ttl = Math.min(opts.ttlSeconds ?? 60, MAX_READ_TTL_SECONDS);
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  let cached: { value: string; renewAt: number } | null = null;
  return async () => {
    const now = clock();
    if (!cached || now >= cached.renewAt) {
      const value = await createReadAuthorization(account, {
        origin: opts.origin,
        chainId: opts.chainId,
        ttlSeconds: ttl,
        now,
      });
      // Renew with a margin so a request in flight never carries an expired token.
      cached = { value, renewAt: now + Math.max(1, ttl - 15) };
    }
    return { authorization: cached.value };
  };
}
