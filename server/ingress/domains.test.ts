import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "@/core/log";
import { AppError } from "@/server/errors";
import { DomainService, HTTP_PROOF_PATH, normaliseDomain } from "./domains";
import { fakeDomainsRepository } from "./fake-domains-repository";

const ALICE = "0x00000000000000000000000000000000000000a1";
const BOB = "0x00000000000000000000000000000000000000b2";
const deployments = new Map([
  ["d-alice", { owner: ALICE }],
  ["d-bob", { owner: BOB }],
]);

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** DNS answers the test controls: TXT records by name and A records by domain. */
function fakeDns() {
  const txt = new Map<string, string[][]>();
  const a = new Map<string, string[]>();
  const missing = (name: string) =>
    Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  return {
    txt,
    a,
    resolver: {
      resolveTxt: async (name: string) => {
        const r = txt.get(name);
        if (!r) throw missing(name);
        return r;
      },
      resolve4: async (name: string) => {
        const r = a.get(name);
        if (!r) throw missing(name);
        return r;
      },
    },
  };
}

function service(opts: { httpProofPort?: number } = {}) {
  const repo = fakeDomainsRepository();
  const dns = fakeDns();
  const verified: string[] = [];
  const domains = new DomainService({
    repo,
    deployments: { find: async (id) => deployments.get(id) ?? null },
    exposedPorts: async () => [8080, 9090],
    appsDomain: "apps.example.com",
    consoleHosts: ["console.example.com"],
    dnsServer: undefined,
    resolver: dns.resolver,
    httpProofPort: opts.httpProofPort ?? 1,
    onVerified: (d) => verified.push(d),
    log: createLogger("test"),
  });
  return { repo, dns, domains, verified };
}

async function appCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
}

describe("custom domains", () => {
  it("normalises names and refuses what is not a domain", () => {
    expect(normaliseDomain(" Shop.Example.COM. ")).toBe("shop.example.com");
    for (const bad of ["localhost", "10.0.0.1", "shop.example.com:443", "-x.example.com", "a..b"])
      expect(() => normaliseDomain(bad)).toThrow(AppError);
  });

  it("refuses the apps domain, the console's host and other owners' deployments", async () => {
    const { domains } = service();
    expect(
      await appCode(domains.add({ owner: ALICE, domain: "x.apps.example.com", deploymentId: "d-alice" })),
    ).toBe("BAD_REQUEST");
    expect(
      await appCode(domains.add({ owner: ALICE, domain: "console.example.com", deploymentId: "d-alice" })),
    ).toBe("BAD_REQUEST");
    expect(
      await appCode(domains.add({ owner: ALICE, domain: "shop.example.com", deploymentId: "d-bob" })),
    ).toBe("NOT_FOUND");
    expect(
      await appCode(
        domains.add({ owner: ALICE, domain: "shop.example.com", deploymentId: "d-alice", port: 22 }),
      ),
    ).toBe("BAD_REQUEST");
  });

  it("a claim routes nothing until the DNS TXT proof is there; then the first verifier owns it", async () => {
    const { domains, dns, verified } = service();
    const claim = await domains.add({ owner: ALICE, domain: "Shop.Example.com", deploymentId: "d-alice" });
    expect(claim).toMatchObject({ domain: "shop.example.com", status: "pending", url: null });
    expect(claim.proof.dnsName).toBe("_formation-challenge.shop.example.com");
    // Bob may hold a pending claim of the same name for his own deployment.
    const bobs = await domains.add({
      owner: BOB,
      domain: "shop.example.com",
      deploymentId: "d-bob",
      port: 9090,
    });
    expect(bobs.proof.dnsValue).not.toBe(claim.proof.dnsValue);

    expect(await appCode(domains.verify({ owner: ALICE, domain: "shop.example.com" }))).toBe(
      "PRECONDITION_FAILED",
    );
    expect((await domains.list({ owner: ALICE }))[0]?.lastError).toMatch(/no TXT record/);
    expect(domains.lookup("shop.example.com")).toBeUndefined();

    dns.txt.set(claim.proof.dnsName, [[claim.proof.dnsValue]]);
    const done = await domains.verify({ owner: ALICE, domain: "shop.example.com" });
    expect(done).toMatchObject({ status: "verified", lastError: null, url: "http://shop.example.com/" });
    expect(domains.lookup("shop.example.com")).toEqual({ deploymentId: "d-alice", port: null });
    expect(verified).toEqual(["shop.example.com"]);

    // Bob's token in DNS too: the name is Alice's now.
    dns.txt.set(claim.proof.dnsName, [[bobs.proof.dnsValue]]);
    expect(await appCode(domains.verify({ owner: BOB, domain: "shop.example.com" }))).toBe("CONFLICT");
    expect(
      await appCode(domains.add({ owner: BOB, domain: "shop.example.com", deploymentId: "d-bob" })),
    ).toBe("CONFLICT");

    // Removing it stops the routing; the name is free again.
    await domains.remove({ owner: ALICE, domain: "shop.example.com" });
    expect(domains.lookup("shop.example.com")).toBeUndefined();
    expect(await domains.list({ owner: ALICE })).toEqual([]);
    expect((await domains.verify({ owner: BOB, domain: "shop.example.com" })).status).toBe("verified");
    expect(domains.lookup("shop.example.com")).toEqual({ deploymentId: "d-bob", port: 9090 });
  });

  it("the HTTP proof: the domain's current server answers the token", async () => {
    const tokens: string[] = [];
    const server = createServer((req, res) => {
      const token = (req.url ?? "").slice(HTTP_PROOF_PATH.length);
      res.writeHead(req.headers.host === "blog.example.org" && tokens.includes(token) ? 200 : 404);
      res.end(token);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const { domains, dns } = service({ httpProofPort: (server.address() as AddressInfo).port });
    const claim = await domains.add({ owner: ALICE, domain: "blog.example.org", deploymentId: "d-alice" });
    dns.a.set("blog.example.org", ["127.0.0.1"]);
    expect(await appCode(domains.verify({ owner: ALICE, domain: "blog.example.org" }))).toBe(
      "PRECONDITION_FAILED",
    );
    tokens.push(claim.proof.httpBody);
    expect((await domains.verify({ owner: ALICE, domain: "blog.example.org" })).status).toBe("verified");
  });
});
