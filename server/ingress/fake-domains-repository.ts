import type {
  TAppDomainRow,
  TDomainsRepository,
  TTlsCertificateRow,
} from "@/server/db/repositories/domains-repository";

/** In-memory custom domains, certificates and ACME answers with the repository's semantics (tests). */
export function fakeDomainsRepository(): TDomainsRepository {
  const claims = new Map<string, TAppDomainRow>();
  const certs = new Map<string, TTlsCertificateRow>();
  const challenges = new Map<string, { keyAuthorization: string; expiresAt: Date; domain: string }>();
  const key = (domain: string, owner: string) => `${domain} ${owner}`;
  const verified = (domain: string) => [...claims.values()].find((c) => c.verifiedDomain === domain) ?? null;
  return {
    claim: async (domain, owner) => claims.get(key(domain, owner)) ?? null,
    verified: async (domain) => verified(domain),
    allVerified: async () => [...claims.values()].filter((c) => c.status === "verified"),
    byOwner: async (owner) => [...claims.values()].filter((c) => c.owner === owner),
    countByOwner: async (owner) => [...claims.values()].filter((c) => c.owner === owner).length,
    upsertClaim: async (c) => {
      const existing = claims.get(key(c.domain, c.owner));
      const now = new Date();
      const row: TAppDomainRow = existing
        ? { ...existing, deploymentId: c.deploymentId, port: c.port, updatedAt: now }
        : {
            ...c,
            status: "pending",
            verifiedAt: null,
            verifiedDomain: null,
            lastError: null,
            createdAt: now,
            updatedAt: now,
          };
      claims.set(key(c.domain, c.owner), row);
      return row;
    },
    markVerified: async (domain, owner, at) => {
      const row = claims.get(key(domain, owner));
      if (!row) throw new Error("no such claim");
      if (verified(domain)) throw new Error("unique constraint: verifiedDomain");
      const next = {
        ...row,
        status: "verified" as const,
        verifiedAt: at,
        verifiedDomain: domain,
        lastError: null,
      };
      claims.set(key(domain, owner), next);
      return next;
    },
    setError: async (domain, owner, lastError) => {
      const row = claims.get(key(domain, owner));
      if (row) claims.set(key(domain, owner), { ...row, lastError });
      return undefined;
    },
    remove: async (domain, owner) => claims.delete(key(domain, owner)),
    certificate: async (domain) => certs.get(domain) ?? null,
    certificates: async () => [...certs.values()],
    saveCertificate: async (c) => {
      const now = new Date();
      const row = { ...c, createdAt: certs.get(c.domain)?.createdAt ?? now, updatedAt: now };
      certs.set(c.domain, row);
      return row;
    },
    deleteCertificate: async (domain) => {
      certs.delete(domain);
    },
    putChallenge: async (c) => {
      challenges.set(c.token, c);
    },
    challenge: async (token) => {
      const c = challenges.get(token);
      return c ? { keyAuthorization: c.keyAuthorization, expiresAt: c.expiresAt } : null;
    },
    deleteChallenge: async (token) => {
      challenges.delete(token);
    },
  };
}
