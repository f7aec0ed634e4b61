import type { Logger } from "@/core/log";
import type { TDomainsRepository } from "@/server/db/repositories/domains-repository";
import type { CertificateService } from "./certificates";

export type TAcmeLoopOptions = {
  certificates: Pick<CertificateService, "load" | "ensure">;
  domainsRepo: Pick<TDomainsRepository, "allVerified">;
  leases: { acquire(o: { name: string; holder: string; now: Date; ttlMs: number }): Promise<boolean> };
  holder: string;
  /** Host names of apps that need a certificate of their own (apps domain served over TLS). */
  appHosts: () => string[];
  intervalMs: number;
  log: Logger;
};

/**
 * Certificates on the `ingress-acme` lease holder: issues missing ones and renews expiring ones
 * (custom domains, and app hosts when the apps domain is served over TLS). Every edge reloads the
 * stored certificates each round, so one console's issuance serves them all.
 */
export class AcmeLoop {
  readonly #o: TAcmeLoopOptions;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> = Promise.resolve();

  constructor(options: TAcmeLoopOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running = this.tick().catch((error: unknown) =>
        this.#o.log.warn({ err: error }, "ACME round failed"),
      );
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  async tick(): Promise<void> {
    await this.#o.certificates.load();
    const leader = await this.#o.leases.acquire({
      name: "ingress-acme",
      holder: this.#o.holder,
      now: new Date(),
      ttlMs: 3 * this.#o.intervalMs,
    });
    if (!leader) return;
    const custom = (await this.#o.domainsRepo.allVerified()).map((d) => d.domain);
    await this.#o.certificates.ensure([...custom, ...this.#o.appHosts()]);
  }
}
