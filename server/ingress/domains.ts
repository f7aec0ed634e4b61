import { randomBytes } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { request } from "node:http";
import { isIP } from "node:net";
import { z } from "zod";
import type { Logger } from "@/core/log";
import type { TAppDomainRow, TDomainsRepository } from "@/server/db/repositories/domains-repository";
import { AppError } from "@/server/errors";
import type { TDomainTarget } from "./edge";

/** TXT record proving control of a domain: `_formation-challenge.<domain>` = `formation-verify=<token>`. */
export const DNS_PROOF_PREFIX = "_formation-challenge.";
export const HTTP_PROOF_PATH = "/.well-known/formation-challenge/";
const MAX_DOMAINS_PER_OWNER = 20;
const HOSTNAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export const ZDomainDto = z.object({
  domain: z.string(),
  deploymentId: z.string(),
  /** The deployment port it serves; null: the first EXPOSEd port. */
  port: z.number().nullable(),
  status: z.enum(["pending", "verified"]),
  verifiedAt: z.date().nullable(),
  /** Why the last verification or certificate attempt failed. */
  lastError: z.string().nullable(),
  /** How to prove control: either one. */
  proof: z.object({
    dnsName: z.string(),
    dnsValue: z.string(),
    httpUrl: z.string(),
    httpBody: z.string(),
  }),
  certificate: z.object({ notAfter: z.date(), issuer: z.string() }).nullable(),
  /** The domain's URL once verified (https when it has a certificate). */
  url: z.string().nullable(),
});
export type TDomainDto = z.infer<typeof ZDomainDto>;

/** The DNS lookups the proofs make. */
export type TProofResolver = {
  resolveTxt(name: string): Promise<string[][]>;
  resolve4(name: string): Promise<string[]>;
};

export type TDomainServiceOptions = {
  repo: TDomainsRepository;
  deployments: { find(id: string): Promise<{ owner: string } | null> };
  /** EXPOSEd ports of a deployment's current build. */
  exposedPorts: (deploymentId: string) => Promise<readonly number[]>;
  appsDomain: string;
  /** Host names of the console itself (never claimable). */
  consoleHosts: readonly string[];
  /** DNS server for proofs (host:port); default: the system's resolver. */
  dnsServer: string | undefined;
  /** The DNS lookups of the proofs (tests give answers of their own); default: a node:dns Resolver. */
  resolver?: TProofResolver;
  /** Port of the HTTP proof (80; tests use another). */
  httpProofPort?: number;
  /** Called when a domain was verified (certificates are issued then). */
  onVerified?: (domain: string) => void;
  /** Public https port of the edge, when it serves TLS (for URLs). */
  httpsPort?: () => number | undefined;
  log: Logger;
  now?: () => Date;
};

/** Lowercase, no trailing dot, no port; throws BAD_REQUEST for anything that is not a DNS name. */
export function normaliseDomain(input: string): string {
  const d = input.trim().toLowerCase().replace(/\.$/, "");
  if (!HOSTNAME.test(d) || isIP(d) !== 0)
    throw new AppError("BAD_REQUEST", `"${input}" is not a domain name — e.g. shop.example.com`);
  return d;
}

/**
 * Custom domains: an owner claims a domain for one of their deployments (signed), proves control
 * of it (DNS TXT, or an HTTP answer from the domain's current server), and the edge then routes it.
 * A domain belongs to the first owner who verified it; others may hold pending claims only.
 */
export class DomainService {
  readonly #o: TDomainServiceOptions;
  #verified = new Map<string, TDomainTarget>();
  readonly #resolver: TProofResolver;

  constructor(options: TDomainServiceOptions) {
    this.#o = options;
    if (options.resolver) this.#resolver = options.resolver;
    else {
      const resolver = new Resolver({ timeout: 3_000, tries: 2 });
      if (options.dnsServer) resolver.setServers([options.dnsServer]);
      this.#resolver = resolver;
    }
  }

  /** The verified domain `host` routes to, if any (the edge asks per request). */
  lookup(host: string): TDomainTarget | undefined {
    return this.#verified.get(host);
  }

  /** Re-reads the verified domains (on start, after changes and with the routes). */
  async refresh(): Promise<void> {
    const rows = await this.#o.repo.allVerified();
    this.#verified = new Map(rows.map((r) => [r.domain, { deploymentId: r.deploymentId, port: r.port }]));
  }

  #checkClaimable(domain: string): void {
    const apps = this.#o.appsDomain;
    if (
      domain === apps ||
      domain.endsWith(`.${apps}`) ||
      domain === "localhost" ||
      domain.endsWith(".localhost")
    )
      throw new AppError(
        "BAD_REQUEST",
        `${domain} is under the apps domain ${apps}: its apps already have their URLs`,
      );
    if (this.#o.consoleHosts.includes(domain))
      throw new AppError("BAD_REQUEST", `${domain} is the console's own host name`);
  }

  async #ownDeployment(owner: string, deploymentId: string) {
    const dep = await this.#o.deployments.find(deploymentId);
    if (!dep || dep.owner !== owner)
      throw new AppError("NOT_FOUND", `No deployment ${deploymentId} of yours`);
    return dep;
  }

  /** Claims `domain` for the owner's deployment (pending until verified); returns what to prove. */
  async add(opts: {
    owner: string;
    domain: string;
    deploymentId: string;
    port?: number | undefined;
  }): Promise<TDomainDto> {
    const owner = opts.owner.toLowerCase();
    const domain = normaliseDomain(opts.domain);
    this.#checkClaimable(domain);
    await this.#ownDeployment(owner, opts.deploymentId);
    if (opts.port !== undefined && !(await this.#o.exposedPorts(opts.deploymentId)).includes(opts.port))
      throw new AppError("BAD_REQUEST", `the deployment does not EXPOSE port ${opts.port}`);
    const holder = await this.#o.repo.verified(domain);
    if (holder && holder.owner !== owner)
      throw new AppError("CONFLICT", `${domain} is already verified by another account`);
    const existing = await this.#o.repo.claim(domain, owner);
    if (!existing && (await this.#o.repo.countByOwner(owner)) >= MAX_DOMAINS_PER_OWNER)
      throw new AppError(
        "PRECONDITION_FAILED",
        `at most ${MAX_DOMAINS_PER_OWNER} custom domains per account: remove one first`,
      );
    const row = await this.#o.repo.upsertClaim({
      domain,
      owner,
      deploymentId: opts.deploymentId,
      port: opts.port ?? null,
      token: existing?.token ?? randomBytes(16).toString("hex"),
    });
    if (row.status === "verified") await this.refresh();
    this.#o.log.info({ domain, owner, deploymentId: opts.deploymentId }, "custom domain claimed");
    return this.#dto(row);
  }

  /** Checks the proof of control; on success the domain is the owner's and routes to their deployment. */
  async verify(opts: { owner: string; domain: string }): Promise<TDomainDto> {
    const owner = opts.owner.toLowerCase();
    const domain = normaliseDomain(opts.domain);
    const claim = await this.#o.repo.claim(domain, owner);
    if (!claim) throw new AppError("NOT_FOUND", `No claim of ${domain} by you: add it first`);
    if (claim.status === "verified") return this.#dto(claim);
    const holder = await this.#o.repo.verified(domain);
    if (holder) throw new AppError("CONFLICT", `${domain} is already verified by another account`);
    const [dns, http] = await Promise.all([
      this.#dnsProof(domain, claim.token),
      this.#httpProof(domain, claim.token),
    ]);
    if (!dns.ok && !http.ok) {
      const reason = `no proof of control: ${dns.detail}; ${http.detail}`;
      await this.#o.repo.setError(domain, owner, reason);
      throw new AppError(
        "PRECONDITION_FAILED",
        `${domain} is not verified — ${reason}. Add the TXT record ${DNS_PROOF_PREFIX}${domain} = formation-verify=${claim.token} (or serve the token at http://${domain}${HTTP_PROOF_PATH}${claim.token}) and verify again`,
      );
    }
    let row: TAppDomainRow;
    try {
      row = await this.#o.repo.markVerified(domain, owner, this.#o.now?.() ?? new Date());
    } catch {
      throw new AppError("CONFLICT", `${domain} was verified by another account in the meantime`);
    }
    await this.refresh();
    this.#o.log.info({ domain, owner, by: dns.ok ? "dns" : "http" }, "custom domain verified");
    this.#o.onVerified?.(domain);
    return this.#dto(row);
  }

  async remove(opts: { owner: string; domain: string }): Promise<{ domain: string }> {
    const owner = opts.owner.toLowerCase();
    const domain = normaliseDomain(opts.domain);
    const claim = await this.#o.repo.claim(domain, owner);
    if (!claim) throw new AppError("NOT_FOUND", `No claim of ${domain} by you`);
    await this.#o.repo.remove(domain, owner);
    if (claim.status === "verified") {
      await this.#o.repo.deleteCertificate(domain);
      await this.refresh();
    }
    return { domain };
  }

  async list(opts: { owner: string; deploymentId?: string | undefined }): Promise<TDomainDto[]> {
    const rows = await this.#o.repo.byOwner(opts.owner.toLowerCase());
    const mine = opts.deploymentId ? rows.filter((r) => r.deploymentId === opts.deploymentId) : rows;
    return Promise.all(mine.map((r) => this.#dto(r)));
  }

  async #dto(row: TAppDomainRow): Promise<TDomainDto> {
    const cert = row.status === "verified" ? await this.#o.repo.certificate(row.domain) : null;
    const httpsPort = this.#o.httpsPort?.();
    const url =
      row.status !== "verified"
        ? null
        : cert && httpsPort !== undefined
          ? `https://${row.domain}${httpsPort === 443 ? "" : `:${httpsPort}`}/`
          : `http://${row.domain}/`;
    return {
      domain: row.domain,
      deploymentId: row.deploymentId,
      port: row.port,
      status: row.status,
      verifiedAt: row.verifiedAt,
      lastError: row.lastError,
      proof: {
        dnsName: `${DNS_PROOF_PREFIX}${row.domain}`,
        dnsValue: `formation-verify=${row.token}`,
        httpUrl: `http://${row.domain}${HTTP_PROOF_PATH}${row.token}`,
        httpBody: row.token,
      },
      certificate: cert ? { notAfter: cert.notAfter, issuer: cert.issuer } : null,
      url,
    };
  }

  async #dnsProof(domain: string, token: string): Promise<{ ok: boolean; detail: string }> {
    const name = `${DNS_PROOF_PREFIX}${domain}`;
    try {
      const records = (await this.#resolver.resolveTxt(name)).map((chunks) => chunks.join(""));
      if (records.includes(`formation-verify=${token}`)) return { ok: true, detail: "DNS TXT found" };
      return {
        ok: false,
        detail: `TXT ${name} holds ${records.length === 0 ? "nothing" : records.map((r) => `"${r}"`).join(", ")}`,
      };
    } catch (error) {
      const code = error && typeof error === "object" && "code" in error ? String(error.code) : String(error);
      return { ok: false, detail: `no TXT record ${name} (${code})` };
    }
  }

  /**
   * The domain's current web server answers the token: fetched from the address its DNS gives
   * (the edge itself never answers this path, so pointing a domain at the edge proves nothing).
   */
  async #httpProof(domain: string, token: string): Promise<{ ok: boolean; detail: string }> {
    const port = this.#o.httpProofPort ?? 80;
    const url = `http://${domain}${HTTP_PROOF_PATH}${token}`;
    let address: string | undefined;
    try {
      address = (await this.#resolver.resolve4(domain))[0];
    } catch {
      return { ok: false, detail: `${domain} has no A record for the HTTP proof` };
    }
    if (!address) return { ok: false, detail: `${domain} has no A record for the HTTP proof` };
    const body = await new Promise<string | null>((resolve) => {
      const req = request(
        {
          host: address,
          port,
          path: `${HTTP_PROOF_PATH}${token}`,
          headers: { host: domain },
          timeout: 5_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            if (text.length < 1024) text += c;
          });
          res.on("end", () => resolve(res.statusCode === 200 ? text.trim() : null));
        },
      );
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(null));
      req.end();
    });
    return body === token
      ? { ok: true, detail: "HTTP proof found" }
      : { ok: false, detail: `${url} did not answer the token` };
  }
}
