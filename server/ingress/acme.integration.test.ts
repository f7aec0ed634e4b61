/**
 * Automatic TLS against a real ACME server: Pebble (Debian's `pebble` package) with
 * pebble-challtestsrv as its DNS (every name → 127.0.0.1). A custom domain is claimed and verified,
 * the certificate service obtains a certificate over HTTP-01 — Pebble fetches the token from the
 * edge's own HTTP listener, which answers it from the (in-memory) repository — and the edge's TLS
 * listener then serves the Pebble-issued certificate by SNI.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { eventually } from "@/server/testing/fake-agent";
import { CertificateService, KeySeal } from "./certificates";
import { DomainService } from "./domains";
import { fakeDomainsRepository } from "./fake-domains-repository";
import { startEdgeListeners, type TEdgeListeners } from "./listeners";

const PEBBLE = "/usr/bin/pebble";
const CHALLTESTSRV = "/usr/bin/pebble-challtestsrv";
const TESTDATA = join(__dirname, "testdata");
const OWNER = "0x00000000000000000000000000000000000000a1";
const log = createLogger("test");

const children: ChildProcess[] = [];
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of children) c.kill("SIGTERM");
  for (const c of cleanup.reverse()) await c();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise((r) => server.close(r));
  return port;
}

function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("exit", (code) => {
    if (code !== null && code !== 0) log.warn({ cmd, code, output }, "ACME test helper exited");
  });
  children.push(child);
  return child;
}

function getHttps(
  port: number,
  servername: string,
): Promise<{ body: string; issuer: string; names: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/",
        servername,
        headers: { host: servername },
        rejectUnauthorized: false,
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () =>
          resolve({
            body,
            issuer: [cert.issuer.CN ?? ""].flat().join(", "),
            names: cert.subjectaltname ?? "",
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe.skipIf(!existsSync(PEBBLE) || !existsSync(CHALLTESTSRV))("ACME against Pebble", () => {
  it("a verified custom domain gets a Pebble-issued certificate over HTTP-01 and is served over HTTPS", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ingress-acme-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const repo = fakeDomainsRepository();
    const [acmePort, managementPort, dnsPort, dnsManagementPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const certificates = new CertificateService({
      repo,
      seal: await KeySeal.open(dir),
      acme: {
        directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
        email: undefined,
        caFile: join(TESTDATA, "pebble-localhost.crt"),
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
      httpPort: 0,
      httpsPort: 0,
      log,
    });
    cleanup.push(() => listeners.close());

    // Pebble validates HTTP-01 on the edge's HTTP listener; its DNS answers 127.0.0.1 for every name.
    start(CHALLTESTSRV, [
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-management",
      `127.0.0.1:${dnsManagementPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
    ]);
    const config = join(dir, "pebble.json");
    await writeFile(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${managementPort}`,
          certificate: join(TESTDATA, "pebble-localhost.crt"),
          privateKey: join(TESTDATA, "pebble-localhost.key"),
          httpPort: listeners.httpPort,
          tlsPort: await freePort(),
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
        },
      }),
    );
    start(PEBBLE, ["-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`], {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: "0",
    });
    await eventually(
      async () =>
        new Promise<true | undefined>((resolve) => {
          const req = httpsRequest(
            { host: "127.0.0.1", port: acmePort, path: "/dir", rejectUnauthorized: false },
            (res) => {
              res.resume();
              resolve(res.statusCode === 200 ? true : undefined);
            },
          );
          req.on("error", () => resolve(undefined));
          req.end();
        }),
      { what: "Pebble's directory", timeoutMs: 20_000, intervalMs: 100 },
    );

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
