import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { AcmeLoop } from "./acme-loop";
import { CertificateService, KeySeal } from "./certificates";
import { fakeDomainsRepository } from "./fake-domains-repository";
import { startEdgeListeners, type TEdgeListeners } from "./listeners";
import { readText } from "./testing";

/** A self-signed certificate for shop.example.test (valid for a century; tests only). */
const CERT = readFileSync(join(__dirname, "testdata", "shop.example.test.crt"), "utf8");
const KEY = readFileSync(join(__dirname, "testdata", "shop.example.test.key"), "utf8");
const log = createLogger("test");

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ingress-certs-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An edge stand-in that claims `*.example.test` and answers with the protocol it was given. */
function fakeEdge() {
  const handled: string[] = [];
  return {
    handled,
    edge: {
      claims: (host: string | undefined) => (host ?? "").split(":")[0]?.endsWith(".example.test") ?? false,
      handle: (
        _req: { headers: Record<string, unknown> },
        res: { end(body: string): void },
        protocol?: string,
      ) => {
        handled.push(protocol ?? "http");
        res.end(`app via ${protocol ?? "http"}`);
      },
      upgrade: () => undefined,
    },
  };
}

function get(opts: {
  tls: boolean;
  port: number;
  host: string;
  path?: string;
}): Promise<{ status: number; body: string; location?: string | undefined }> {
  return new Promise((resolve, reject) => {
    const common = {
      host: "127.0.0.1",
      port: opts.port,
      path: opts.path ?? "/",
      headers: { host: opts.host },
    };
    const onResponse = (res: import("node:http").IncomingMessage) =>
      readText(res).then(
        (body) =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            ...(res.headers.location ? { location: res.headers.location } : {}),
          }),
        reject,
      );
    const req = opts.tls
      ? httpsRequest({ ...common, servername: opts.host, ca: CERT }, onResponse)
      : httpRequest(common, onResponse);
    req.on("error", reject);
    req.end();
  });
}

describe("certificates and the edge's own listeners", () => {
  it("seals private keys with the console's key file (the same key after a restart)", async () => {
    const dir = await dataDir();
    const seal = await KeySeal.open(dir);
    const sealed = seal.seal(KEY);
    expect(sealed).not.toContain("PRIVATE KEY");
    expect((await KeySeal.open(dir)).open(sealed)).toBe(KEY);
    // Another console's key (a different data directory) cannot open it.
    const foreign = await KeySeal.open(await dataDir());
    expect(() => foreign.open(sealed)).toThrow();
  });

  it("serves an installed certificate by SNI on the TLS listener; ACME answers on the HTTP listener", async () => {
    const dir = await dataDir();
    const repo = fakeDomainsRepository();
    const certificates = new CertificateService({
      repo,
      seal: await KeySeal.open(dir),
      acme: null,
      dataDir: dir,
      log,
    });
    await expect(certificates.install("other.example.test", CERT, KEY)).rejects.toThrow(/does not name/);
    await certificates.install("shop.example.test", CERT, KEY);
    expect((await repo.certificate("shop.example.test"))?.keyCiphertext).not.toContain("PRIVATE KEY");

    // Another edge (a console replica) loads what the first stored.
    const other = new CertificateService({
      repo,
      seal: await KeySeal.open(dir),
      acme: null,
      dataDir: dir,
      log,
    });
    expect(other.secureContext("shop.example.test")).toBeUndefined();
    await other.load();
    expect(other.secureContext("SHOP.example.test")).toBeDefined();

    const { edge, handled } = fakeEdge();
    const listeners: TEdgeListeners = await startEdgeListeners({
      edge,
      repo,
      certificates: other,
      host: "127.0.0.1",
      httpPort: 0,
      httpsPort: 0,
      log,
    });
    cleanup.push(() => listeners.close());
    const httpsPort = listeners.httpsPort ?? 0;
    const httpPort = listeners.httpPort ?? 0;

    expect(await get({ tls: true, port: httpsPort, host: "shop.example.test" })).toEqual({
      status: 200,
      body: "app via https",
    });
    // No certificate for the name: the handshake fails.
    await expect(get({ tls: true, port: httpsPort, host: "nothing.example.test" })).rejects.toThrow();

    // The host has a certificate and the edge a TLS listener: plain HTTP is sent to https.
    const redirected = await get({ tls: false, port: httpPort, host: "shop.example.test", path: "/a?b=1" });
    expect(redirected).toMatchObject({
      status: 308,
      location: `https://shop.example.test:${httpsPort}/a?b=1`,
    });
    // A host of the edge without a certificate is still served over plain HTTP.
    expect(await get({ tls: false, port: httpPort, host: "plain.example.test" })).toEqual({
      status: 200,
      body: "app via http",
    });
    expect((await get({ tls: false, port: httpPort, host: "console.example.com" })).status).toBe(404);

    await repo.putChallenge({
      token: "tok_1",
      keyAuthorization: "tok_1.thumbprint",
      domain: "shop.example.test",
      expiresAt: new Date(Date.now() + 60_000),
    });
    const path = "/.well-known/acme-challenge/tok_1";
    expect(await get({ tls: false, port: httpPort, host: "shop.example.test", path })).toEqual({
      status: 200,
      body: "tok_1.thumbprint",
    });
    expect(
      (await get({ tls: false, port: httpPort, host: "shop.example.test", path: `${path}x` })).status,
    ).toBe(404);
    expect(handled).toEqual(["https", "http"]);

    // Behind a port forward the redirect names the public https port.
    const forwarded: TEdgeListeners = await startEdgeListeners({
      edge,
      repo,
      certificates: other,
      host: "127.0.0.1",
      httpPort: 0,
      httpsPort: 0,
      publicHttpsPort: 443,
      log,
    });
    cleanup.push(() => forwarded.close());
    expect(
      (await get({ tls: false, port: forwarded.httpPort ?? 0, host: "shop.example.test:8080" })).location,
    ).toBe("https://shop.example.test/");
    // Without a TLS listener nothing is redirected.
    const plainOnly: TEdgeListeners = await startEdgeListeners({
      edge,
      repo,
      certificates: other,
      host: "127.0.0.1",
      httpPort: 0,
      httpsPort: undefined,
      log,
    });
    cleanup.push(() => plainOnly.close());
    expect((await get({ tls: false, port: plainOnly.httpPort ?? 0, host: "shop.example.test" })).status).toBe(
      200,
    );
  });

  it("without an ACME directory nothing is issued", async () => {
    const dir = await dataDir();
    const repo = fakeDomainsRepository();
    const none = new CertificateService({
      repo,
      seal: await KeySeal.open(dir),
      acme: null,
      dataDir: dir,
      log,
    });
    await none.ensure(["shop.example.test"]);
    await expect(none.issue("shop.example.test")).rejects.toThrow(/no ACME directory/);
    expect(await repo.certificate("shop.example.test")).toBeNull();
  });
});

describe("ACME loop", () => {
  it("every console reloads certificates; only the lease holder issues, for custom domains and app hosts", async () => {
    const repo = fakeDomainsRepository();
    await repo.upsertClaim({
      domain: "shop.example.test",
      owner: "0xa",
      deploymentId: "d-1",
      port: null,
      token: "t",
    });
    await repo.markVerified("shop.example.test", "0xa", new Date());
    await repo.upsertClaim({
      domain: "pending.example.test",
      owner: "0xa",
      deploymentId: "d-1",
      port: null,
      token: "u",
    });
    const calls: string[] = [];
    const certificates = {
      load: async () => {
        calls.push("load");
      },
      ensure: async (domains: readonly string[]) => {
        calls.push(`ensure ${domains.join(",")}`);
      },
    };
    let holder = "console-b";
    const loop = new AcmeLoop({
      certificates,
      domainsRepo: repo,
      leases: { acquire: async (o) => o.holder === holder },
      holder: "console-a",
      appHosts: () => ["web-abc.apps.example.test"],
      intervalMs: 60_000,
      log,
    });
    await loop.tick();
    expect(calls).toEqual(["load"]);
    holder = "console-a";
    await loop.tick();
    expect(calls).toEqual(["load", "load", "ensure shop.example.test,web-abc.apps.example.test"]);
  });
});
