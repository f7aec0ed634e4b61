import type { AuditEntry } from "@/server/db/client";
import type { TDbClient } from "./types";

export type TAuditRow = AuditEntry;

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
