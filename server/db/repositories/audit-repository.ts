import type { TDbClient } from "./types";

export type TAuditRow = {
  id: string;
  signer: string;
  action: string;
  /** Canonical JSON of the params. */
  params: string;
  contentDigest: string;
  origin: string;
  chainId: number;
  nonce: string;
  expiresAt: Date;
  signature: string;
  /** JSON of the EIP-712 typed data that was verified (bigints as strings). */
  typedData: string;
  createdAt: Date;
};

export function auditRepository(db: TDbClient) {
  return {
    async insert(row: TAuditRow): Promise<TAuditRow> {
      return db.auditEntry.create({ data: row });
    },
    async listBySigner(signer: string, opts: { limit: number; before?: Date }): Promise<TAuditRow[]> {
      return db.auditEntry.findMany({
        where: { signer, ...(opts.before ? { createdAt: { lt: opts.before } } : {}) },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: opts.limit,
      });
    },
    async find(id: string): Promise<TAuditRow | null> {
      return db.auditEntry.findUnique({ where: { id } });
    },
    async count(): Promise<number> {
      return db.auditEntry.count();
    },
  };
}
