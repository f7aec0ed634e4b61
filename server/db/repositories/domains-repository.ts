import { type TDomainStatus, ZDomainStatus } from "@/lib/status";
import type { AppDomain, TDatabase, TlsCertificate } from "@/server/db/client";

export type TAppDomainRow = Omit<AppDomain, "status"> & { status: TDomainStatus };

export type TTlsCertificateRow = TlsCertificate;

/** The status is parsed at the boundary: an unknown value is an error, never a silent "pending". */
function toDomainRow(row: AppDomain): TAppDomainRow {
  return { ...row, status: ZDomainStatus.parse(row.status) };
}

function toDomainRowOrNull(row: AppDomain | null): TAppDomainRow | null {
  return row ? toDomainRow(row) : null;
}

/** Custom domains (claims per owner), their certificates and pending ACME HTTP-01 answers. */
export function createDomainsRepository(db: TDatabase) {
  return {
    async claim(domain: string, owner: string): Promise<TAppDomainRow | null> {
      return toDomainRowOrNull(await db.appDomain.findUnique({ where: { domain_owner: { domain, owner } } }));
    },

    /** The verified claim of a domain, if any (at most one: `verifiedDomain` is unique). */
    async verified(domain: string): Promise<TAppDomainRow | null> {
      return toDomainRowOrNull(await db.appDomain.findUnique({ where: { verifiedDomain: domain } }));
    },

    async allVerified(): Promise<TAppDomainRow[]> {
      return (await db.appDomain.findMany({ where: { status: "verified" } })).map(toDomainRow);
    },

    async byOwner(owner: string): Promise<TAppDomainRow[]> {
      return (await db.appDomain.findMany({ where: { owner }, orderBy: { createdAt: "asc" } })).map(
        toDomainRow,
      );
    },

    countByOwner(owner: string): Promise<number> {
      return db.appDomain.count({ where: { owner } });
    },

    async upsertClaim(c: {
      domain: string;
      owner: string;
      deploymentId: string;
      port: number | null;
      token: string;
    }): Promise<TAppDomainRow> {
      return toDomainRow(
        await db.appDomain.upsert({
          where: { domain_owner: { domain: c.domain, owner: c.owner } },
          create: { ...c, status: "pending" satisfies TDomainStatus },
          update: { deploymentId: c.deploymentId, port: c.port },
        }),
      );
    },

    /** Marks the claim verified; throws on the unique index when another claimant got there first. */
    async markVerified(domain: string, owner: string, at: Date): Promise<TAppDomainRow> {
      return toDomainRow(
        await db.appDomain.update({
          where: { domain_owner: { domain, owner } },
          data: {
            status: "verified" satisfies TDomainStatus,
            verifiedAt: at,
            verifiedDomain: domain,
            lastError: null,
          },
        }),
      );
    },

    setError(domain: string, owner: string, lastError: string | null): Promise<unknown> {
      return db.appDomain.updateMany({ where: { domain, owner }, data: { lastError } });
    },

    async remove(domain: string, owner: string): Promise<boolean> {
      const r = await db.appDomain.deleteMany({ where: { domain, owner } });
      return r.count > 0;
    },

    certificate(domain: string): Promise<TTlsCertificateRow | null> {
      return db.tlsCertificate.findUnique({ where: { domain } });
    },

    certificates(): Promise<TTlsCertificateRow[]> {
      return db.tlsCertificate.findMany();
    },

    saveCertificate(c: Omit<TTlsCertificateRow, "createdAt" | "updatedAt">): Promise<TTlsCertificateRow> {
      const { domain, ...data } = c;
      return db.tlsCertificate.upsert({ where: { domain }, create: c, update: data });
    },

    async deleteCertificate(domain: string): Promise<void> {
      await db.tlsCertificate.deleteMany({ where: { domain } });
    },

    async putChallenge(c: {
      token: string;
      keyAuthorization: string;
      domain: string;
      expiresAt: Date;
    }): Promise<void> {
      await db.acmeChallenge.upsert({ where: { token: c.token }, create: c, update: c });
    },

    challenge(token: string): Promise<{ keyAuthorization: string; expiresAt: Date } | null> {
      return db.acmeChallenge.findUnique({
        where: { token },
        select: { keyAuthorization: true, expiresAt: true },
      });
    },

    async deleteChallenge(token: string): Promise<void> {
      await db.acmeChallenge.deleteMany({ where: { token } });
    },
  };
}

export type TDomainsRepository = ReturnType<typeof createDomainsRepository>;
