import type { TDatabase } from "@/server/db/client";
import { isUniqueViolation } from "./types";

export type TFormnetKind = "node" | "instance" | "user" | "console";

export type TFormnetRow = {
  ip: string;
  kind: string;
  ref: string;
  publicKey: string | null;
  endpoints: string | null;
  createdAt: Date;
};

/** formnet address book; the primary key on `ip` and unique `ref` make allocation race-safe. */
export function createFormnetRepository(db: TDatabase) {
  return {
    findByRef(ref: string): Promise<TFormnetRow | null> {
      return db.formnetAddress.findUnique({ where: { ref } });
    },

    /** The member holding a WireGuard key (keys are unique across all kinds). */
    findByPublicKey(publicKey: string): Promise<TFormnetRow | null> {
      return db.formnetAddress.findUnique({ where: { publicKey } });
    },

    /** How many devices a user has joined (device refs are `<address>:<key>`). */
    countUserDevices(owner: string): Promise<number> {
      return db.formnetAddress.count({ where: { kind: "user", ref: { startsWith: `${owner}:` } } });
    },

    /** Every allocated address and the ref holding it. */
    addressBook(): Promise<{ ip: string; ref: string }[]> {
      return db.formnetAddress.findMany({ select: { ip: true, ref: true } });
    },

    /**
     * Inserts; returns false on a unique conflict (another allocation won the address or the ref,
     * or another member holds the key: the caller tells which by looking the key up).
     */
    async tryInsert(row: Omit<TFormnetRow, "createdAt">): Promise<boolean> {
      try {
        await db.formnetAddress.create({ data: row });
        return true;
      } catch {
        return false;
      }
    },

    /** Updates a member's key and endpoints; false when another member holds the key. */
    async updatePeer(opts: { ref: string; publicKey: string | null; endpoints: string[] }): Promise<boolean> {
      try {
        await db.formnetAddress.updateMany({
          where: { ref: opts.ref },
          data: { publicKey: opts.publicKey, endpoints: JSON.stringify(opts.endpoints) },
        });
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },

    async release(ref: string): Promise<void> {
      await db.formnetAddress.deleteMany({ where: { ref } });
    },

    listByRefs(refs: string[]): Promise<TFormnetRow[]> {
      return db.formnetAddress.findMany({ where: { ref: { in: refs } } });
    },

    list(): Promise<TFormnetRow[]> {
      return db.formnetAddress.findMany({ orderBy: { createdAt: "asc" } });
    },
  };
}

export type TFormnetRepository = ReturnType<typeof createFormnetRepository>;

/** Cluster-wide loop ownership (see ControlLease in control-plane.prisma). */
export function createControlLeaseRepository(db: TDatabase) {
  return {
    /** Takes or renews the named lease for `holder`; true when `holder` holds it afterwards. */
    async acquire(opts: { name: string; holder: string; now: Date; ttlMs: number }): Promise<boolean> {
      const expiresAt = new Date(opts.now.getTime() + opts.ttlMs);
      const r = await db.controlLease.updateMany({
        where: { name: opts.name, OR: [{ holder: opts.holder }, { expiresAt: { lt: opts.now } }] },
        data: { holder: opts.holder, expiresAt },
      });
      if (r.count === 1) return true;
      try {
        await db.controlLease.create({ data: { name: opts.name, holder: opts.holder, expiresAt } });
        return true;
      } catch {
        return false;
      }
    },

    async release(opts: { name: string; holder: string }): Promise<void> {
      await db.controlLease.deleteMany({ where: { name: opts.name, holder: opts.holder } });
    },
  };
}
