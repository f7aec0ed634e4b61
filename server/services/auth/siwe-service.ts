import type { Logger } from "pino";
import { type Hex, recoverMessageAddress } from "viem";
import { parseSiweMessage } from "viem/siwe";
import { CLOCK_SKEW_SECONDS } from "@/lib/signing/actions";
import { lowerAddress } from "@/lib/signing/address";
import type { TDatabase } from "@/server/db/client";
import { accountRepository } from "@/server/db/repositories/account-repository";
import { nonceRepository } from "@/server/db/repositories/nonce-repository";
import { sessionRepository } from "@/server/db/repositories/session-repository";
import type { TEnv } from "@/server/env";
import { AppError } from "@/server/errors";
import type { TSession } from "./session-types";
import { newSiweNonce } from "./siwe-nonce";
import { hashSessionToken, newId, newSessionToken } from "./tokens";

/** How long an issued SIWE nonce stays usable. */
export const SIWE_NONCE_TTL_MS = 10 * 60_000;

export type TSiweServiceDeps = { db: TDatabase; env: TEnv; logger: Logger; now?: () => Date };

/**
 * Sign-In with Ethereum (EIP-4361). Verification is done locally (parse, field checks, ecrecover),
 * so it needs no chain: EOAs only — contract wallets (EIP-1271) are not supported yet.
 */
export function createSiweService(deps: TSiweServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const origin = new URL(deps.env.consoleOrigin);
  const isAdmin = (address: string) => deps.env.admins.some((a) => a === address);

  function reject(message: string, reason: string): never {
    throw new AppError("SIGNATURE_INVALID", `Sign-in rejected: ${message}`, { details: { reason } });
  }

  function checkFields(message: string, at: Date) {
    const fields = parseSiweMessage(message);
    if (!fields.address || !fields.nonce || !fields.uri || !fields.domain || !fields.chainId) {
      throw new AppError("BAD_REQUEST", "Sign-in message is not a complete EIP-4361 message");
    }
    if (fields.version !== "1") reject("unsupported SIWE version", "version");
    if (fields.domain !== origin.host)
      reject(`signed for ${fields.domain}, this console is ${origin.host}`, "domain");
    if (fields.scheme !== undefined && `${fields.scheme}:` !== origin.protocol)
      reject("wrong scheme", "scheme");
    let uriOrigin: string;
    try {
      uriOrigin = new URL(fields.uri).origin;
    } catch {
      return reject("uri is not a URL", "uri");
    }
    if (uriOrigin !== origin.origin) reject(`uri ${fields.uri} is not on ${origin.origin}`, "uri");
    if (fields.chainId !== deps.env.chainId) {
      reject(`signed for chain ${fields.chainId}, this console uses ${deps.env.chainId}`, "chainId");
    }
    const skew = CLOCK_SKEW_SECONDS * 1000;
    if (fields.expirationTime && fields.expirationTime.getTime() <= at.getTime()) {
      throw new AppError("SIGNATURE_EXPIRED", "Sign-in message expired: sign in again");
    }
    if (fields.notBefore && fields.notBefore.getTime() > at.getTime() + skew)
      reject("not valid yet", "notBefore");
    if (fields.issuedAt && fields.issuedAt.getTime() > at.getTime() + skew)
      reject("issued in the future", "issuedAt");
    return { address: fields.address, nonce: fields.nonce, chainId: fields.chainId };
  }

  return {
    /** A one-time nonce to put in the SIWE message. */
    async issueNonce(): Promise<{ nonce: string; expiresAt: Date }> {
      const nonce = newSiweNonce();
      const expiresAt = new Date(now().getTime() + SIWE_NONCE_TTL_MS);
      await nonceRepository(deps.db).issueSiweNonce(nonce, expiresAt);
      return { nonce, expiresAt };
    },

    /** Verifies a signed SIWE message, consumes its nonce and opens a session. */
    async signIn(input: { message: string; signature: Hex; userAgent?: string | null }) {
      const at = now();
      const fields = checkFields(input.message, at);
      let recovered: string;
      try {
        recovered = await recoverMessageAddress({ message: input.message, signature: input.signature });
      } catch (cause) {
        throw new AppError("SIGNATURE_INVALID", "Sign-in rejected: signature is malformed", { cause });
      }
      const address = lowerAddress(fields.address);
      if (recovered.toLowerCase() !== address)
        reject("signature does not match the message's address", "signer");
      const token = newSessionToken();
      const expiresAt = new Date(at.getTime() + deps.env.sessionTtlSeconds * 1000);
      const session = await deps.db.$transaction(async (tx) => {
        // Consuming inside the transaction means a failed session insert leaves the nonce usable.
        if (!(await nonceRepository(tx).consumeSiweNonce(fields.nonce, at))) {
          throw new AppError(
            "NONCE_REUSED",
            "Sign-in nonce is unknown, expired or already used: request a new one",
          );
        }
        await accountRepository(tx).touch(address, at);
        return sessionRepository(tx).create({
          id: newId(),
          tokenHash: hashSessionToken(token),
          address,
          chainId: fields.chainId,
          createdAt: at,
          expiresAt,
          userAgent: input.userAgent?.slice(0, 256) ?? null,
        });
      });
      deps.logger.info({ address, sessionId: session.id }, "signed in");
      const result: TSession = {
        address,
        via: "cookie",
        sessionId: session.id,
        expiresAt,
        isAdmin: isAdmin(address),
      };
      return { token, session: result };
    },

    /** The live session behind a cookie token, or null. */
    async resolve(token: string): Promise<TSession | null> {
      const row = await sessionRepository(deps.db).findActive(hashSessionToken(token), now());
      if (!row) return null;
      const address = lowerAddress(row.address);
      return {
        address,
        via: "cookie",
        sessionId: row.id,
        expiresAt: row.expiresAt,
        isAdmin: isAdmin(address),
      };
    },

    async signOut(sessionId: string): Promise<void> {
      await sessionRepository(deps.db).revoke(sessionId, now());
    },
  };
}

export type TSiweService = ReturnType<typeof createSiweService>;
