/**
 * Automatic TLS against a real ACME server: Pebble (Debian's `pebble` package) with
 * pebble-challtestsrv as its DNS (every name → 127.0.0.1). A custom domain is claimed and verified,
 * the certificate service obtains a certificate over HTTP-01 — Pebble fetches the token from the
 * edge's own HTTP listener, which answers it from the (in-memory) repository — and the edge's TLS
 * listener then serves the Pebble-issued certificate by SNI. The same with the console's module and
 * its database: domains-wiring.integration.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { CertificateService, KeySeal } from "./certificates";
import { DomainService } from "./domains";
import { fakeDomainsRepository } from "./fake-domains-repository";
import { startEdgeListeners, type TEdgeListeners } from "./listeners";
import { freePort, getHttps, hasPebble, PEBBLE_CA_FILE, startPebble } from "./pebble-testing";

const OWNER = "0x00000000000000000000000000000000000000a1";
const log = createLogger("test");

const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

describe.skipIf(!hasPebble)("ACME against Pebble", () => {
  it("a verified custom domain gets a Pebble-issued certificate over HTTP-01 and is served over HTTPS", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ingress-acme-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const repo = fakeDomainsRepository();
    // Pebble validates HTTP-01 on the edge's HTTP listener; its DNS answers 127.0.0.1 for every name.
    const httpPort = await freePort();
    const pebble = await startPebble({ dir, httpPort });
    cleanup.push(async () => pebble.stop());
    const certificates = new CertificateService({
      repo,
      seal: await KeySeal.open(dir),
      acme: {
        directoryUrl: pebble.directoryUrl,
        email: undefined,
        caFile: PEBBLE_CA_FILE,
      },
      dataDir: dir,
      log,
    });
    const handled: string[] = [];
    const listeners: TEdgeListeners = await startEdgeListeners({
      edge: {
        claims: (host) => (host ?? "").split(":")[0] === "shop.example.test",
        handle: (_req, res, protocol) => {
          handled.push(protocol ?? "http");
          res.end("the app");
        },
        upgrade: () => undefined,
      },
      repo,
      certificates,
      host: "127.0.0.1",
      httpPort,
      httpsPort: 0,
      log,
    });
    cleanup.push(() => listeners.close());

    const domains = new DomainService({
      repo,
      deployments: { find: async () => ({ owner: OWNER }) },
      exposedPorts: async () => [8080],
      appsDomain: "apps.example.test",
      consoleHosts: [],
      dnsServer: undefined,
      resolver: {
        resolveTxt: async () => [
          [`formation-verify=${(await repo.claim("shop.example.test", OWNER))?.token}`],
        ],
        resolve4: async () => ["127.0.0.1"],
      },
      httpProofPort: 1,
      httpsPort: () => listeners.httpsPort,
      log,
    });
    await domains.add({ owner: OWNER, domain: "shop.example.test", deploymentId: "d-1" });
    expect((await domains.verify({ owner: OWNER, domain: "shop.example.test" })).status).toBe("verified");

    await certificates.issue("shop.example.test");
    const stored = await repo.certificate("shop.example.test");
    expect(stored?.issuer).toMatch(/Pebble/);
    expect(stored?.keyCiphertext).not.toContain("PRIVATE KEY");
    const [dto] = await domains.list({ owner: OWNER });
    expect(dto?.url).toBe(`https://shop.example.test:${listeners.httpsPort}/`);

    const res = await getHttps(listeners.httpsPort ?? 0, "shop.example.test");
    expect(res.body).toBe("the app");
    expect(res.issuer).toMatch(/Pebble/);
    expect(res.names).toContain("DNS:shop.example.test");
    expect(handled).toEqual(["https"]);
    // The ACME loop would not issue it again: it has ~90 days left.
    await certificates.ensure(["shop.example.test"]);
    expect((await repo.certificate("shop.example.test"))?.notAfter).toEqual(stored?.notAfter);
  }, 90_000);
});
