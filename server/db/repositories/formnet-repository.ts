import { type TFormnetPeerKind, ZFormnetPeerKind } from "@/lib/protocol";
import type { FormnetAddress, TDatabase } from "@/server/db/client";
import { isUniqueViolation } from "./types";

/** Who holds a formnet address: the protocol's peer kinds. */
export type TFormnetKind = TFormnetPeerKind;

/** An allocation as stored, its kind parsed. */
export type TFormnetRow = Omit<FormnetAddress, "kind"> & { kind: TFormnetKind };

function toRow(row: FormnetAddress): TFormnetRow {
  return { ...row, kind: ZFormnetPeerKind.parse(row.kind) };
}

/** formnet address book; the primary key on `ip` and unique `ref` make allocation race-safe. */
export function createFormnetRepository(db: TDatabase) {
  return {
    async findByRef(ref: string): Promise<TFormnetRow | null> {
      const row = await db.formnetAddress.findUnique({ where: { ref } });
      return row ? toRow(row) : null;
    },

    /** The member holding a WireGuard key (keys are unique across all kinds). */
    async findByPublicKey(publicKey: string): Promise<TFormnetRow | null> {
      const row = await db.formnetAddress.findUnique({ where: { publicKey } });
      return row ? toRow(row) : null;
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

    async listByRefs(refs: string[]): Promise<TFormnetRow[]> {
      return (await db.formnetAddress.findMany({ where: { ref: { in: refs } } })).map(toRow);
    },

    async list(): Promise<TFormnetRow[]> {
      return (await db.formnetAddress.findMany({ orderBy: { createdAt: "asc" } })).map(toRow);
    },

    /** The devices (user allocations) of one account. */
    async devicesOf(owner: string): Promise<TFormnetRow[]> {
      const rows = await db.formnetAddress.findMany({
        where: { kind: "user", ref: { startsWith: `${owner.toLowerCase()}:` } },
        orderBy: { createdAt: "asc" },
      });
      return rows.map(toRow);
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

export type TControlLeaseRepository = ReturnType<typeof createControlLeaseRepository>;
