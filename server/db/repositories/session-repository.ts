import type { Session } from "@/server/db/client";
import type { TDbClient } from "./types";

export type TSessionRow = Session;

export function sessionRepository(db: TDbClient) {
  return {
    async create(row: Omit<TSessionRow, "revokedAt">): Promise<TSessionRow> {
      return db.session.create({ data: row });
    },
    /** The session for a token hash if it is neither revoked nor expired at `now`. */
    async findActive(tokenHash: string, now: Date): Promise<TSessionRow | null> {
      return db.session.findFirst({ where: { tokenHash, revokedAt: null, expiresAt: { gt: now } } });
    },
    async revoke(id: string, now: Date): Promise<void> {
      await db.session.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: now } });
    },
    async revokeAllFor(address: string, now: Date): Promise<number> {
      const { count } = await db.session.updateMany({
        where: { address, revokedAt: null },
        data: { revokedAt: now },
      });
      return count;
    },
  };
}
