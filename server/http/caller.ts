import { AppError, findAppError } from "@/server/errors";
import type { TAuthServices, TSession } from "@/server/services/auth";
import { hashSessionToken } from "@/server/services/auth/tokens";
import type { RequestLimits, TLimitDecision } from "./rate-limit";
import { TtlLruCache } from "./ttl-cache";

/** Who sent a request, as tRPC's context and the blob routes see it. */
export type TCaller = { session: TSession | null; authError: AppError | null };

export type TCallerResolution = TCaller & {
  /** Set when the client IP has failed verification too often: answer 429 without verifying. */
  limited: Extract<TLimitDecision, { allowed: false }> | null;
};

export type TCallerResolver = {
  resolve(request: {
    cookie: string | null;
    authorization: string | null;
    ip: string;
  }): Promise<TCallerResolution>;
};

const DEFAULT_TTL_MS = 30_000;
const DEFAULT_MAX_ENTRIES = 10_000;

// Errors that say "these credentials are bad" (and stay bad), as opposed to "could not check".
const VERIFICATION_FAILURES = new Set([
  "UNAUTHORIZED",
  "SIGNATURE_INVALID",
  "SIGNATURE_EXPIRED",
  "BAD_REQUEST",
]);

/**
 * Resolves a request's cookie or signed read token to a session, cheaply when it is repeated or
 * forged. Verification results are cached briefly by token hash (bounded LRU): read tokens both
 * ways (they are replayable until they expire anyway; a hit never outlives the token), cookies only
 * when unknown (a valid cookie is looked up every time, so sign-out takes effect at once). Every
 * fresh verification that fails costs the client IP one `authFailuresPerIp` point; over that
 * limit, uncached credentials from the IP are refused before any signature or database work.
 */
export function createCallerResolver(deps: {
  auth: TAuthServices;
  limits: RequestLimits;
  now?: () => number;
  ttlMs?: number;
  maxEntries?: number;
}): TCallerResolver {
  const now = deps.now ?? Date.now;
  const ttlMs = deps.ttlMs ?? DEFAULT_TTL_MS;
  const maxEntries = deps.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const unknownCookies = new TtlLruCache<true>({ maxEntries, now });
  const readTokens = new TtlLruCache<TCaller>({ maxEntries, now });

  async function blocked(ip: string): Promise<TCallerResolution["limited"]> {
    const decision = await deps.limits.check("authFailuresPerIp", ip);
    return decision.allowed ? null : decision;
  }

  async function failed(ip: string): Promise<void> {
    await deps.limits.consume("authFailuresPerIp", ip);
  }

  async function fromCookie(cookie: string, ip: string): Promise<TCallerResolution> {
    const key = hashSessionToken(cookie);
    if (unknownCookies.get(key)) return { session: null, authError: null, limited: null };
    const limited = await blocked(ip);
    if (limited) return { session: null, authError: null, limited };
    const session = await deps.auth.siwe.resolve(cookie);
    if (!session) {
      unknownCookies.set(key, true, ttlMs);
      await failed(ip);
    }
    return { session, authError: null, limited: null };
  }

  async function fromReadToken(authorization: string, ip: string): Promise<TCallerResolution> {
    const key = hashSessionToken(authorization);
    const hit = readTokens.get(key);
    if (hit) return { ...hit, limited: null };
    const limited = await blocked(ip);
    if (limited) return { session: null, authError: null, limited };
    try {
      const session = await deps.auth.signedActions.resolveReadAuthorization(authorization);
      // Not a `Formation …` header at all: nothing was verified, nothing to remember.
      if (!session) return { session: null, authError: null, limited: null };
      readTokens.set(key, { session, authError: null }, Math.min(ttlMs, session.expiresAt.getTime() - now()));
      return { session, authError: null, limited: null };
    } catch (error) {
      const authError =
        findAppError(error) ?? new AppError("UNAUTHORIZED", "Could not authenticate", { cause: error });
      if (VERIFICATION_FAILURES.has(authError.code)) {
        readTokens.set(key, { session: null, authError }, ttlMs);
        await failed(ip);
      }
      return { session: null, authError, limited: null };
    }
  }

  return {
    async resolve({ cookie, authorization, ip }) {
      try {
        if (cookie) {
          const byCookie = await fromCookie(cookie, ip);
          if (byCookie.session || byCookie.limited) return byCookie;
        }
        if (authorization) return await fromReadToken(authorization, ip);
        return { session: null, authError: null, limited: null };
      } catch (error) {
        const authError =
          findAppError(error) ?? new AppError("UNAUTHORIZED", "Could not authenticate", { cause: error });
        return { session: null, authError, limited: null };
      }
    },
  };
}
