import type { Logger } from "pino";
import { MAX_READ_TTL_SECONDS, READ_ACTION } from "@/lib/signing/actions";
import { canonicalJson } from "@/lib/signing/canonical-json";
import { parseReadAuthorization } from "@/lib/signing/client-auth";
import type { TSignedAction } from "@/lib/signing/envelope";
import { SigningError } from "@/lib/signing/errors";
import type { TFormationActionTypedData } from "@/lib/signing/typed-data";
import { verifyAction } from "@/lib/signing/verify-action";
import type { TDatabase } from "@/server/db/client";
import { accountRepository } from "@/server/db/repositories/account-repository";
import { auditRepository, type TAuditRow } from "@/server/db/repositories/audit-repository";
import { nonceRepository } from "@/server/db/repositories/nonce-repository";
import type { TEnv } from "@/server/env";
import { AppError } from "@/server/errors";
import { type TAuditEntryDto, toAuditEntryDto } from "./audit-dto";
import { createRejectionCounter } from "./rejection-counter";
import type { TActor, TSession } from "./session-types";
import { toAppError } from "./signing-errors";
import { newId } from "./tokens";

export type TSignedActionServiceDeps = { db: TDatabase; env: TEnv; logger: Logger; now?: () => Date };

function typedDataJson(typedData: TFormationActionTypedData): string {
  return JSON.stringify(typedData, (_key, value: unknown) =>
    typeof value === "bigint" ? value.toString() : value,
  );
}

/**
 * Accepts EIP-712 signed actions: verify (lib/signing), then consume the (signer, nonce) pair in one
 * transaction. Verification happens before any write, so a rejected request leaves the database
 * untouched; the primary key on ConsumedNonce makes replay detection atomic even across console
 * replicas sharing a database. The audit entry is written once the action succeeded (`audit`).
 */
export function createSignedActionService(deps: TSignedActionServiceDeps) {
  const nowDate = deps.now ?? (() => new Date());
  const expect = { origin: deps.env.consoleOrigin, chainId: deps.env.chainId };
  /** Audit rows of accepted actions whose procedure is still running (bounded by in-flight calls). */
  const pending = new Map<string, TAuditRow>();
  const rejections = createRejectionCounter({ logger: deps.logger, now: () => nowDate().getTime() });

  async function verify(envelope: unknown, expectedAction: string, maxTtlSeconds?: number) {
    try {
      return await verifyAction({
        envelope,
        expectedAction,
        ...expect,
        now: Math.floor(nowDate().getTime() / 1000),
        ...(maxTtlSeconds === undefined ? {} : { maxTtlSeconds }),
      });
    } catch (error) {
      throw toAppError(error);
    }
  }

  return {
    /**
     * Verifies a signed action and consumes its nonce; returns the actor. The audit entry is NOT
     * written here: the caller runs the action and then calls `audit(actor)`, so the audit log holds
     * only what was accepted and done (a rejected action is counted by `rejected`).
     */
    async accept(
      envelope: unknown,
      expectedAction: string,
      /** Runs after the signature verified and before anything is written; throw to reject. */
      precheck?: (verified: TSignedAction) => Promise<void> | void,
    ): Promise<TActor> {
      let verified: Awaited<ReturnType<typeof verify>>;
      try {
        verified = await verify(envelope, expectedAction);
        await precheck?.(verified.envelope);
      } catch (error) {
        rejections.count(expectedAction, error);
        throw error;
      }
      const e = verified.envelope;
      const at = nowDate();
      const auditId = newId();
      await deps.db.$transaction(async (tx) => {
        const fresh = await nonceRepository(tx).consumeActionNonce({
          signer: e.signer,
          nonce: e.nonce,
          expiresAt: new Date(e.expiresAt * 1000),
        });
        if (!fresh) {
          const error = new AppError("NONCE_REUSED", "This signed request was already used: sign a new one", {
            details: { nonce: e.nonce },
          });
          rejections.count(expectedAction, error);
          throw error;
        }
        await accountRepository(tx).touch(e.signer, at);
      });
      pending.set(auditId, auditRow({ id: auditId, envelope: e, typedData: verified.typedData, at }));
      return { address: e.signer, action: e.action, nonce: e.nonce, auditId, contentDigest: e.contentDigest };
    },

    /** Writes the audit entry of an accepted action once it has been carried out. */
    async audit(actor: TActor): Promise<void> {
      const row = pending.get(actor.auditId);
      if (!row) return;
      pending.delete(actor.auditId);
      await auditRepository(deps.db).insert(row);
      deps.logger.info(
        { signer: actor.address, action: actor.action, auditId: actor.auditId },
        "signed action accepted",
      );
    },

    /** The action of an accepted signature failed: no audit entry; counted with the other rejections. */
    rejected(actor: TActor, error: unknown): void {
      pending.delete(actor.auditId);
      rejections.count(actor.action, error);
    },

    /** Rejected signed requests since start, by action and error code. */
    rejectionCounts(): Record<string, number> {
      return rejections.snapshot();
    },

    /**
     * Authenticates a query from an `Authorization: Formation …` header. Returns null when there is
     * no such header; throws AppError when there is one and it does not verify.
     */
    async resolveReadAuthorization(header: string | null | undefined): Promise<TSession | null> {
      let envelope: TSignedAction | null;
      try {
        envelope = parseReadAuthorization(header);
      } catch (error) {
        throw toAppError(error);
      }
      if (!envelope) return null;
      const verified = await verify(envelope, READ_ACTION, MAX_READ_TTL_SECONDS);
      const address = verified.signer;
      return {
        address,
        via: "signature",
        sessionId: null,
        expiresAt: new Date(verified.envelope.expiresAt * 1000),
        isAdmin: deps.env.admins.includes(address),
      };
    },

    /** The signer's audit entries, newest first. */
    async auditEntries(signer: string, opts: { limit: number; before?: Date }): Promise<TAuditEntryDto[]> {
      return (await auditRepository(deps.db).listBySigner(signer, opts)).map(toAuditEntryDto);
    },

    /**
     * Re-verifies one of the signer's audit entries. Another wallet's entry is reported as missing,
     * so ids do not leak who signed what.
     */
    async verifyAuditEntry(opts: { signer: string; id: string }) {
      const row = await auditRepository(deps.db).find(opts.id);
      if (!row || row.signer !== opts.signer) throw new AppError("NOT_FOUND", "No such audit entry");
      return { id: row.id, ...(await this.reverify(row)) };
    },

    /** Re-runs signature verification of a stored audit entry (ignoring expiry: it was checked then). */
    async reverify(row: TAuditRow): Promise<{ valid: boolean; reason: string | null }> {
      const envelope = {
        action: row.action,
        params: JSON.parse(row.params),
        contentDigest: row.contentDigest,
        origin: row.origin,
        chainId: row.chainId,
        nonce: row.nonce,
        expiresAt: Math.floor(row.expiresAt.getTime() / 1000),
        signer: row.signer,
        signature: row.signature,
      };
      try {
        const verified = await verifyAction({
          envelope,
          origin: row.origin,
          chainId: row.chainId,
          // Verify as of just before expiry: the question is "was this validly signed", not "is it fresh".
          now: envelope.expiresAt - 1,
        });
        if (typedDataJson(verified.typedData) !== row.typedData) {
          return { valid: false, reason: "stored typed data does not match the stored fields" };
        }
        return { valid: true, reason: null };
      } catch (error) {
        return {
          valid: false,
          reason: error instanceof SigningError ? error.message : "verification failed",
        };
      }
    },
  };
}

function auditRow(opts: {
  id: string;
  envelope: TSignedAction;
  typedData: TFormationActionTypedData;
  at: Date;
}): TAuditRow {
  const e = opts.envelope;
  return {
    id: opts.id,
    signer: e.signer,
    action: e.action,
    params: canonicalJson(e.params ?? null),
    contentDigest: e.contentDigest,
    origin: e.origin,
    chainId: e.chainId,
    nonce: e.nonce,
    expiresAt: new Date(e.expiresAt * 1000),
    signature: e.signature,
    typedData: typedDataJson(opts.typedData),
    createdAt: opts.at,
  };
}

export type TSignedActionService = ReturnType<typeof createSignedActionService>;
