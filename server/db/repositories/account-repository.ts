import type { Account } from "@/server/db/client";
import type { TDbClient } from "./types";

export type TAccountRow = Account;

export function accountRepository(db: TDbClient) {
  return {
    /** Creates the account on first sign-in, otherwise bumps lastSeenAt. */
    async touch(address: string, now: Date): Promise<TAccountRow> {
      return db.account.upsert({
        where: { address },
        create: { address, createdAt: now, lastSeenAt: now },
        update: { lastSeenAt: now },
      });
    },
    async find(address: string): Promise<TAccountRow | null> {
      return db.account.findUnique({ where: { address } });
    },
  };
}
