import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDomainsRepository } from "../server/db/repositories/domains-repository";
import { ingressModule } from "../server/ingress/module";
import { completeEveryJob } from "../server/testing/agent-actions";
import { FakeAgent } from "../server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform } from "../server/testing/platform";
import { EXAMPLE_DIR, jsonOf, runForm } from "./testing";

/**
 * `form domain add|verify|ls|rm` as child processes against a real console with the ingress (SQLite,
 * HTTP, the signed `domain.*` actions) and a protocol-speaking fake agent that builds and boots the
 * example. Proofs of control need DNS, so verification is checked where it fails (with the proofs
 * to set; server/ingress/domains-wiring.integration.test.ts verifies for real); a domain verified by
 * another account is written through the repository, as the console records a verification, to
 * check the CONFLICT path.
 */

const PASSWORD = "correct horse battery";
const ownerKey = generatePrivateKey();
const otherKey = generatePrivateKey();
const operator = privateKeyToAccount(generatePrivateKey());
const DOMAIN = "shop.cli-domains.test";

let platform: TTestPlatform;
let agent: FakeAgent;
let dir = "";
let buildId = "";

const kit = (who: "owner" | "other") => ({ FORMKIT: join(dir, who), FORM_PASSWORD: PASSWORD });
const form = (args: string[], who: "owner" | "other" = "owner") => runForm({ args, env: kit(who) });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "form-domain-"));
  platform = await startTestPlatform({
    operators: [operator.address],
    // Nothing answers DNS or the HTTP proof here: fail fast (port 9 is discard, closed on loopback).
    modules: [ingressModule({ config: { dnsServer: "127.0.0.1:9" }, httpProofPort: 9 })],
  });
  agent = await FakeAgent.connect({
    url: platform.url,
    account: operator,
    onOffer: completeEveryJob(platform.url),
  });
  for (const [who, key] of [
    ["owner", ownerKey],
    ["other", otherKey],
  ] as const) {
    const init = await form(
      ["kit", "init", "--yes", "--private-key", key, "--host", platform.url, "--scrypt-n", "1024"],
      who,
    );
    expect(init.code, init.stderr).toBe(0);
  }
  const build = await form(["pack", "build", EXAMPLE_DIR, "--json"]);
  expect(build.code, build.stderr).toBe(0);
  buildId = jsonOf<{ buildId: string }>(build).buildId;
  const ship = await form(["pack", "ship", EXAMPLE_DIR, "--replicas", "1", "--wait"]);
  expect(ship.code, ship.stderr).toBe(0);
}, 90_000);

afterAll(async () => {
  await agent?.close();
  await platform?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("form domain against a real console", () => {
  it("add claims a domain for the build's deployment and prints both proofs", async () => {
    const run = await form(["domain", "add", DOMAIN, "--build-id", buildId]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^claimed shop\.cli-domains\.test for deployment d-[0-9a-f]{20} \(pending\)/);
    expect(run.stdout).toContain(`TXT record  _formation-challenge.${DOMAIN}`);
    expect(run.stdout).toMatch(/value "formation-verify=[0-9a-f]{32}"/);
    expect(run.stdout).toMatch(
      new RegExp(
        `HTTP  http://${DOMAIN.replace(/\./g, "\\.")}/\\.well-known/formation-challenge/[0-9a-f]{32}`,
      ),
    );
    expect(run.stdout).toContain(`then run: form domain verify ${DOMAIN}`);

    const ls = await form(["domain", "ls", "--json"]);
    expect(ls.code, ls.stderr).toBe(0);
    const rows = jsonOf<Array<{ domain: string; status: string; proof: { dnsValue: string } }>>(ls);
    expect(rows).toEqual([expect.objectContaining({ domain: DOMAIN, status: "pending" })]);
    expect(run.stdout).toContain(rows[0]?.proof.dnsValue ?? "none");
    const byBuild = await form(["domain", "ls", "--build-id", buildId]);
    expect(byBuild.stdout).toContain(`${DOMAIN}  pending`);
  });

  it("verify without a proof fails with what to set, and ls shows the last error", async () => {
    const run = await form(["domain", "verify", DOMAIN, "--json"]);
    expect(run.code).toBe(1);
    const { error } = jsonOf<{ error: { appCode: string; message: string } }>(run);
    expect(error.appCode).toBe("PRECONDITION_FAILED");
    expect(error.message).toContain(`Add the TXT record _formation-challenge.${DOMAIN}`);
    expect(error.message).toContain(`then run \`form domain verify ${DOMAIN}\` again`);
    const ls = await form(["domain", "ls"]);
    expect(ls.stdout).toMatch(/last error: no proof of control/);
  });

  it("refuses what is not a domain, another account's deployment and a domain verified by someone else", async () => {
    const url = await form(["domain", "add", `https://${DOMAIN}/`, "--build-id", buildId]);
    expect(url.code).toBe(1);
    expect(url.stderr).toContain("pass the name only");
    const invalid = await form(["domain", "add", "not_a_domain", "--build-id", buildId, "--json"]);
    expect(invalid.code).toBe(1);
    expect(jsonOf<{ error: { appCode: string } }>(invalid).error.appCode).toBe("BAD_REQUEST");
    expect(invalid.stderr).toContain("is not a domain name");
    const appHost = await form(["domain", "add", "x.localhost", "--build-id", buildId]);
    expect(appHost.code).toBe(1);
    expect(appHost.stderr).toContain("apps domain");

    const notYours = await form(["domain", "add", "other.cli-domains.test", "--build-id", buildId], "other");
    expect(notYours.code).toBe(1);
    expect(notYours.stderr).toContain("the deployment must be yours");

    // Another account verified the domain first, recorded as the console records a verification
    // (the CONFLICT check looks only at who verified the domain, not at its deployment).
    const repo = createDomainsRepository(platform.console.runtime.db);
    const otherAddress = privateKeyToAccount(otherKey).address.toLowerCase();
    await repo.upsertClaim({
      domain: DOMAIN,
      owner: otherAddress,
      deploymentId: `d-${"f".repeat(20)}`,
      port: null,
      token: "0".repeat(32),
    });
    await repo.markVerified(DOMAIN, otherAddress, new Date());

    const conflict = await form(["domain", "add", DOMAIN, "--build-id", buildId, "--json"]);
    expect(conflict.code).toBe(1);
    expect(jsonOf<{ error: { appCode: string } }>(conflict).error.appCode).toBe("CONFLICT");
    expect(conflict.stderr).toContain("already verified by another account");
    expect(conflict.stderr).toContain("use a domain you control");
    const verifyConflict = await form(["domain", "verify", DOMAIN]);
    expect(verifyConflict.code).toBe(1);
    expect(verifyConflict.stderr).toContain("already verified by another account");

    // The other account sees it verified, with its URL.
    const theirs = jsonOf<Array<{ status: string; url: string }>>(
      await form(["domain", "ls", "--json"], "other"),
    );
    expect(theirs[0]).toMatchObject({ status: "verified", url: `http://${DOMAIN}/` });
    expect((await form(["domain", "rm", DOMAIN], "other")).code).toBe(0);
  });

  it("rm drops the claim; removing it again says how to list yours", async () => {
    const run = await form(["domain", "rm", DOMAIN]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`removed ${DOMAIN}`);
    expect(jsonOf<unknown[]>(await form(["domain", "ls", "--json"]))).toEqual([]);
    const again = await form(["domain", "rm", DOMAIN]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("form domain ls");
    const help = await form(["domain", "--help"]);
    for (const verb of ["add", "verify", "ls", "rm"]) expect(help.stdout).toContain(verb);
  });
});
