import { isUniqueViolation, type TDbClient } from "./types";

export function nonceRepository(db: TDbClient) {
  return {
    async issueSiweNonce(nonce: string, expiresAt: Date): Promise<void> {
      await db.siweNonce.create({ data: { nonce, expiresAt } });
    },
    /**
     * Consumes a SIWE nonce: one conditional delete, so two concurrent sign-ins with the same nonce
     * cannot both succeed. False when unknown, already used or expired.
     */
    async consumeSiweNonce(nonce: string, now: Date): Promise<boolean> {
      const { count } = await db.siweNonce.deleteMany({ where: { nonce, expiresAt: { gt: now } } });
      return count === 1;
    },
    /** Records a signed action's nonce; false when this signer already used it (replay). */
    async consumeActionNonce(row: { signer: string; nonce: string; expiresAt: Date }): Promise<boolean> {
      try {
        await db.consumedNonce.create({ data: row });
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
    /** Deletes nonces whose signatures can no longer be accepted anyway. */
    async prune(before: Date): Promise<number> {
      const a = await db.siweNonce.deleteMany({ where: { expiresAt: { lt: before } } });
      const b = await db.consumedNonce.deleteMany({ where: { expiresAt: { lt: before } } });
      return a.count + b.count;
    },
  };
}
