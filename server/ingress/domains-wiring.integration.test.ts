/**
 * Custom domains through the console's ingress module, its real repositories (SQLite) and a real
 * ACME server (Pebble, see pebble-testing.ts): a domain claimed and verified over the API by its
 * HTTP proof (a local web server answers the token) gets a certificate at once, the edge's TLS
 * listener serves it by SNI in front of the deployment's replica, plain HTTP is redirected to
 * https, and the ACME loop on the lease holder renews a certificate with less than 30 days left.
 * Skipped where Pebble is not installed.
 */
import { randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, describe, expect, it } from "vitest";
import type { TFormfile } from "@/lib/formfile/canonical";
import { createReadAuthorization } from "@/lib/signing/client-auth";
import { signAction } from "@/lib/signing/sign-action";
import { createDomainsRepository } from "@/server/db/repositories/domains-repository";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import {
  completeBoot,
  completeBuild,
  completeInstanceJob,
  createBuildOverHttp,
} from "@/server/testing/agent-actions";
import { eventually, FakeAgent, type TOffer } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform, testFormfile } from "@/server/testing/platform";
import { ingressModule } from "./module";
import { freePort, getHttps, hasPebble, PEBBLE_CA_FILE, startPebble } from "./pebble-testing";
import { edgeGet, startReplicaApp, type TReplicaApp } from "./testing";

const DOMAIN = "shop.wiring.test";
const operator = privateKeyToAccount(generatePrivateKey());
const owner = privateKeyToAccount(generatePrivateKey());
const block = `127.${100 + randomInt(150)}`;
const apps: TReplicaApp[] = [];
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function onOffer(platform: TTestPlatform, offer: TOffer, agent: FakeAgent): Promise<void> {
  if (offer.kind === "build") await completeBuild({ url: platform.url, agent, offer });
  else if (offer.kind === "boot") {
    const ip = offer.payload.formnetIp;
    apps.push(await startReplicaApp({ instanceId: offer.payload.instanceId, ip, port: 8080 }));
    completeBoot(agent, offer);
  } else completeInstanceJob(agent, offer);
}

async function mutate<T>(platform: TTestPlatform, path: string, action: string, params: unknown) {
  const input = await signAction(owner, {
    action,
    params,
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  const r = await callTrpc({ url: platform.url, path, type: "mutation", input });
  if (!r.ok) throw new Error(`${path}: ${r.appCode ?? r.status}`);
  return r.data as T;
}

async function query<T>(platform: TTestPlatform, path: string, input?: unknown): Promise<T> {
  const authorization = await createReadAuthorization(owner, {
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  const r = await callTrpc({ url: platform.url, path, type: "query", input, headers: { authorization } });
  if (!r.ok) throw new Error(`${path}: ${r.appCode ?? r.status}`);
  return r.data as T;
}

/** Builds and ships a one-replica web app (the fake agent's "VM" is an HTTP server on loopback). */
async function deployWeb(platform: TTestPlatform): Promise<string> {
  const formfile: TFormfile = { ...testFormfile("shop"), expose: [8080] };
  const created = await createBuildOverHttp({
    url: platform.url,
    chainId: platform.env.chainId,
    account: owner,
    formfile,
    contextBytes: 64,
  });
  if (!created.ok) throw new Error(`builds.create: ${created.appCode}`);
  const { buildId } = created.data as { buildId: string };
  await eventually(
    async () => (await query<{ status: string }>(platform, "builds.get", { buildId })).status === "built",
    { timeoutMs: 20_000, what: "the build" },
  );
  await mutate(platform, "instances.ship", "instance.ship", { buildId, replicas: 1 });
  const deployment = await query<{ deploymentId: string }>(platform, "deployments.forBuild", { buildId });
  return deployment.deploymentId;
}

/** The domain's current web server for the HTTP proof: answers the token it is given. */
async function proofServer(): Promise<{ port: number; token: { value: string }; server: Server }> {
  const token = { value: "" };
  const server = createServer((req, res) => {
    const ok = token.value !== "" && req.url === `/.well-known/formation-challenge/${token.value}`;
    res.writeHead(ok ? 200 : 404, { "content-type": "text/plain" });
    res.end(ok ? token.value : "no");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  return { port: typeof address === "object" && address ? address.port : 0, token, server };
}

describe.skipIf(!hasPebble)("custom domains with the console's module, database and Pebble", () => {
  it("verify → certificate issued → served by SNI, HTTP redirected → renewed under 30 days left", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ingress-wiring-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const [edgeHttpPort, edgeHttpsPort] = [await freePort(), await freePort()];
    const pebble = await startPebble({ dir, httpPort: edgeHttpPort });
    cleanup.push(async () => pebble.stop());
    const proof = await proofServer();
    cleanup.push(() => new Promise((r) => proof.server.close(() => r())));

    const platform = await startTestPlatform({
      operators: [operator.address],
      config: { formnetCidr: `${block}.0.0/16` },
      modules: [
        ingressModule({
          config: {
            routesRefreshMs: 300,
            edgeHost: "127.0.0.1",
            edgeHttpPort,
            edgeHttpsPort,
            acme: { directoryUrl: pebble.directoryUrl, email: undefined, caFile: PEBBLE_CA_FILE },
            // pebble-challtestsrv: every name is 127.0.0.1 (where the proof server listens), no TXT.
            dnsServer: pebble.dnsServer,
          },
          httpProofPort: proof.port,
          acmeIntervalMs: 500,
        }),
      ],
    });
    cleanup.push(() => platform.close());
    const agent = await FakeAgent.connect({
      url: platform.url,
      account: operator,
      onOffer: (offer, a) => onOffer(platform, offer, a),
    });
    cleanup.push(async () => {
      await agent.close();
      for (const app of apps) await app.kill().catch(() => undefined);
    });
    const deploymentId = await deployWeb(platform);

    // Claim and verify over the API; the HTTP proof is served by the "domain's current server".
    const claim = await mutate<{ proof: { httpBody: string } }>(platform, "ingress.addDomain", "domain.add", {
      domain: DOMAIN,
      deploymentId,
    });
    proof.token.value = claim.proof.httpBody;
    const verified = await mutate<{ status: string }>(platform, "ingress.verifyDomain", "domain.verify", {
      domain: DOMAIN,
    });
    expect(verified.status).toBe("verified");

    // The verification asked for a certificate at once; it is stored (sealed) in the database.
    const repo = createDomainsRepository(platform.console.runtime.db);
    const first = await eventually(() => repo.certificate(DOMAIN), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: "the Pebble-issued certificate",
    });
    expect(first.issuer).toMatch(/Pebble/);
    expect(first.keyCiphertext).not.toContain("PRIVATE KEY");
    expect(first.notAfter.getTime() - Date.now()).toBeGreaterThan(30 * 24 * 3600_000);

    // The TLS listener serves it by SNI in front of the replica.
    const served = await eventually(
      async () => {
        const r = await getHttps(edgeHttpsPort, DOMAIN);
        return r.status === 200 ? r : null;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: "the app over HTTPS" },
    );
    expect(served.body).toContain(`host=${DOMAIN}`);
    expect(served.issuer).toMatch(/Pebble/);
    expect(served.names).toContain(`DNS:${DOMAIN}`);
    const [dto] = await query<Array<{ url: string; certificate: { notAfter: Date } | null }>>(
      platform,
      "ingress.domains",
      { deploymentId },
    );
    expect(dto?.url).toBe(`https://${DOMAIN}:${edgeHttpsPort}/`);
    expect(dto?.certificate?.notAfter).toEqual(first.notAfter);

    // Plain HTTP to the domain is sent to https (on the edge's listener and the console's own).
    for (const via of [`127.0.0.1:${edgeHttpPort}`, new URL(platform.url).host]) {
      const plain = await edgeGet(`http://${DOMAIN}/cart?x=1`, { via });
      expect(plain.status, via).toBe(308);
    }

    // The stored certificate now looks 10 days from expiry: the ACME loop renews it (over HTTP-01,
    // which the redirect leaves alone) and the listener serves the new one.
    const { createdAt: _c, updatedAt: _u, ...stored } = first;
    await repo.saveCertificate({ ...stored, notAfter: new Date(Date.now() + 10 * 24 * 3600_000) });
    const renewed = await eventually(
      async () => {
        const c = await repo.certificate(DOMAIN);
        return c && c.certificate !== first.certificate ? c : null;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "the renewed certificate" },
    );
    expect(renewed.notAfter.getTime() - Date.now()).toBeGreaterThan(30 * 24 * 3600_000);
    await eventually(async () => (await getHttps(edgeHttpsPort, DOMAIN)).serial !== served.serial, {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: "the renewed certificate on the TLS listener",
    });
  }, 90_000);
});
