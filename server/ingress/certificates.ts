import { createCipheriv, createDecipheriv, randomBytes, X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { Agent as HttpsAgent } from "node:https";
import { dirname, join } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import * as acme from "acme-client";
import type { Logger } from "@/core/log";
import type { TDomainsRepository } from "@/server/db/repositories/domains-repository";

export type TAcmeConfig = { directoryUrl: string; email: string | undefined; caFile: string | undefined };

/** Certificates are renewed when they have less than this left. */
const RENEW_BEFORE_MS = 30 * 24 * 3600_000;
/** A failed issuance is retried after this long (ACME servers rate-limit failures). */
const RETRY_AFTER_FAILURE_MS = 10 * 60_000;

/** AES-256-GCM sealing of private keys with the console's TLS key file (shared by its replicas). */
export class KeySeal {
  private constructor(private readonly key: Buffer) {}

  /** Opens `<dataDir>/ingress/tls-seal.key` (32 random bytes, 0600), creating it on first use. */
  static async open(dataDir: string): Promise<KeySeal> {
    const path = join(dataDir, "ingress", "tls-seal.key");
    try {
      const key = await readFile(path);
      if (key.length === 32) return new KeySeal(key);
    } catch {
      // Created below.
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    await writeFile(path, key, { mode: 0o600, flag: "wx" }).catch(async () => undefined);
    return new KeySeal(await readFile(path));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return [
      "v1",
      iv.toString("base64"),
      cipher.getAuthTag().toString("base64"),
      data.toString("base64"),
    ].join(":");
  }

  open(sealed: string): string {
    const [v, iv, tag, data] = sealed.split(":");
    if (v !== "v1" || !iv || !tag || !data) throw new Error("not a sealed key");
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(data, "base64")), decipher.final()]).toString("utf8");
  }
}

export type TCertificateServiceOptions = {
  repo: TDomainsRepository;
  seal: KeySeal;
  acme: TAcmeConfig | null;
  dataDir: string;
  log: Logger;
  now?: () => Date;
};

/**
 * TLS certificates of custom domains: obtained over ACME (HTTP-01, answered by every edge from the
 * database), stored with the private key sealed, served by SNI and renewed 30 days before expiry.
 */
export class CertificateService {
  readonly #o: TCertificateServiceOptions;
  readonly #contexts = new Map<string, { context: SecureContext; notAfter: Date }>();
  readonly #failedAt = new Map<string, number>();
  readonly #issuing = new Map<string, Promise<void>>();
  #client: acme.Client | null = null;

  constructor(options: TCertificateServiceOptions) {
    this.#o = options;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  /** The certificate for an SNI server name, if this edge has one. */
  secureContext(servername: string): SecureContext | undefined {
    return this.#contexts.get(servername.toLowerCase())?.context;
  }

  /** Loads every stored certificate (every edge calls it; they are issued by one). */
  async load(): Promise<void> {
    for (const row of await this.#o.repo.certificates()) {
      const cached = this.#contexts.get(row.domain);
      if (cached && cached.notAfter.getTime() === row.notAfter.getTime()) continue;
      try {
        const key = this.#o.seal.open(row.keyCiphertext);
        this.#contexts.set(row.domain, {
          context: createSecureContext({ cert: row.certificate, key }),
          notAfter: row.notAfter,
        });
      } catch (error) {
        this.#o.log.warn({ err: error, domain: row.domain }, "stored certificate cannot be used");
      }
    }
  }

  /** Issues or renews the certificates of `domains` that need it (the lease holder calls this). */
  async ensure(domains: readonly string[]): Promise<void> {
    if (!this.#o.acme) return;
    const now = this.#now().getTime();
    for (const domain of domains) {
      const have = this.#contexts.get(domain) ?? (await this.#o.repo.certificate(domain));
      if (have && have.notAfter.getTime() - now > RENEW_BEFORE_MS) continue;
      const failed = this.#failedAt.get(domain);
      if (failed !== undefined && now - failed < RETRY_AFTER_FAILURE_MS) continue;
      await this.issue(domain).catch(() => undefined);
    }
  }

  /**
   * Stores a certificate obtained elsewhere (an operator's, or a self-signed one in tests) for
   * `domain`, key sealed, and serves it at once; every other edge picks it up on its next load.
   */
  async install(domain: string, certificate: string, key: string): Promise<void> {
    const leaf = new X509Certificate(certificate);
    if (!leaf.checkHost(domain)) throw new Error(`the certificate does not name ${domain}`);
    const context = createSecureContext({ cert: certificate, key });
    const notAfter = new Date(leaf.validTo);
    await this.#o.repo.saveCertificate({
      domain,
      certificate,
      keyCiphertext: this.#o.seal.seal(key),
      notAfter,
      issuer: leaf.issuer.replace(/\n/g, ", "),
    });
    this.#contexts.set(domain, { context, notAfter });
  }

  /** Obtains a certificate for `domain` now (one issuance per domain at a time). */
  issue(domain: string): Promise<void> {
    const running = this.#issuing.get(domain);
    if (running !== undefined) return running;
    const job = this.#issue(domain).finally(() => this.#issuing.delete(domain));
    this.#issuing.set(domain, job);
    return job;
  }

  async #issue(domain: string): Promise<void> {
    const acmeConfig = this.#o.acme;
    if (!acmeConfig) throw new Error("no ACME directory configured (FORMATION_ACME_DIRECTORY_URL)");
    const log = this.#o.log.child({ domain });
    try {
      const client = await this.#acmeClient(acmeConfig);
      const [key, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] });
      const pem = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        ...(acmeConfig.email ? { email: acmeConfig.email } : {}),
        challengePriority: ["http-01"],
        // The ACME server checks the answer itself; a local pre-check would need this host's DNS view.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          await this.#o.repo.putChallenge({
            token: challenge.token,
            keyAuthorization,
            domain,
            expiresAt: new Date(Date.now() + 3600_000),
          });
        },
        challengeRemoveFn: async (_authz, challenge) => {
          await this.#o.repo.deleteChallenge(challenge.token);
        },
      });
      const leaf = new X509Certificate(pem);
      const notAfter = new Date(leaf.validTo);
      await this.#o.repo.saveCertificate({
        domain,
        certificate: pem,
        keyCiphertext: this.#o.seal.seal(key.toString()),
        notAfter,
        issuer: leaf.issuer.replace(/\n/g, ", "),
      });
      this.#contexts.set(domain, { context: createSecureContext({ cert: pem, key }), notAfter });
      this.#failedAt.delete(domain);
      log.info({ notAfter }, "certificate issued");
    } catch (error) {
      this.#failedAt.set(domain, this.#now().getTime());
      log.warn({ err: error }, "certificate issuance failed");
      throw error;
    }
  }

  async #acmeClient(config: TAcmeConfig): Promise<acme.Client> {
    if (this.#client) return this.#client;
    if (config.caFile) {
      // The ACME server's own HTTPS certificate chains to this CA (Pebble's test CA in tests).
      acme.axios.defaults.httpsAgent = new HttpsAgent({ ca: await readFile(config.caFile) });
    }
    const keyPath = join(this.#o.dataDir, "ingress", "acme-account.pem");
    let accountKey: Buffer;
    try {
      accountKey = await readFile(keyPath);
    } catch {
      await mkdir(dirname(keyPath), { recursive: true, mode: 0o700 });
      accountKey = await acme.crypto.createPrivateEcdsaKey("P-256");
      await writeFile(keyPath, accountKey, { mode: 0o600 });
    }
    this.#client = new acme.Client({ directoryUrl: config.directoryUrl, accountKey });
    return this.#client;
  }
}
