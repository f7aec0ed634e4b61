import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createDomainsRepository } from "@/server/db/repositories/domains-repository";
import {
  apiAs,
  closePlatformDb,
  deleteAllDeployments,
  platformDb,
  signedInput,
  uniqueName,
} from "./fixtures/platform";
import { acceptConfirms, screenshot, signInThroughUi } from "./fixtures/session";
import { shipToTestNode } from "./fixtures/ship";
import { TEST_NODE_CAPACITY, TestNode } from "./fixtures/test-node";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 19: the deployment page's "Custom domains" card — claim a domain (signed with the wallet),
// see the DNS TXT record and HTTP path that prove control, a failed verification that says what to
// set, a domain verified by another account refused (CONFLICT), and removal. A successful proof
// needs DNS for the domain, which this platform has not: server/ingress/domains-wiring.integration.test.ts
// verifies one for real.

test.afterAll(closePlatformDb);

test("a deployment's custom domains: add, proof instructions, verify errors, CONFLICT, remove", async ({
  page,
}, testInfo) => {
  acceptConfirms(page);
  const wallet = await signInThroughUi(page);
  const node = await TestNode.connect({ capacity: TEST_NODE_CAPACITY });
  const other = privateKeyToAccount(generatePrivateKey());
  const domain = `${uniqueName("shop")}.example.test`;
  try {
    const { buildId } = await shipToTestNode(page, {
      wallet,
      node,
      name: uniqueName("domains"),
      extra: "EXPOSE 8080",
    });
    const deployment = await apiAs(wallet.account).deployments.forBuild.query({ buildId });
    if (!deployment) throw new Error("no deployment after the ship");
    await page.goto(`/deployments/${deployment.deploymentId}`);
    const card = page.getByTestId("custom-domains");
    await expect(card).toContainText("No custom domain yet");

    // Claim it: the wallet signs domain.add; the row shows it pending with both proofs.
    await card.getByLabel("Domain").fill(domain);
    await card.getByTestId("add-domain").click();
    const row = card.getByTestId("domain-row").filter({ hasText: domain });
    await expect(row.getByTestId("domain-status")).toHaveText("pending");
    await expect(row.getByTestId("domain-proof")).toContainText(`_formation-challenge.${domain}`);
    await expect(row.getByTestId("domain-proof-txt")).toHaveText(/^formation-verify=[0-9a-f]{32}$/);
    await expect(row.getByTestId("domain-proof-http")).toHaveText(
      new RegExp(`^http://${domain.replace(/\./g, "\\.")}/\\.well-known/formation-challenge/[0-9a-f]{32}$`),
    );
    expect(wallet.signatures).toContain("eth_signTypedData_v4");
    const claims = await apiAs(wallet.account).ingress.domains.query({
      deploymentId: deployment.deploymentId,
    });
    expect(claims.map((c) => c.domain)).toEqual([domain]);

    // Nothing proves control here: verifying says what to set, and the row keeps the last error.
    await row.getByRole("button", { name: `Verify ${domain}` }).click();
    const alert = card.getByTestId("domain-error");
    await expect(alert).toContainText(`${domain} is not verified`);
    await expect(alert).toContainText("Set one of the two proofs shown for the domain");
    await expect(row.getByTestId("domain-last-error")).toContainText("no proof of control");

    const a11y = await new AxeBuilder({ page })
      .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
      .include('[data-testid="custom-domains"]')
      .analyze();
    expect(
      a11y.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id}: ${v.help}`),
    ).toEqual([]);
    await screenshot(page, testInfo, "deployment-custom-domains");

    // Another account verified the domain first (recorded as the console records a verification):
    // the owner's claim cannot be verified or renewed, and the page says why and what to do.
    const repo = createDomainsRepository(platformDb());
    const otherAddress = other.address.toLowerCase();
    await repo.upsertClaim({
      domain,
      owner: otherAddress,
      deploymentId: `d-${"e".repeat(20)}`,
      port: null,
      token: "1".repeat(32),
    });
    await repo.markVerified(domain, otherAddress, new Date());
    await card.getByLabel("Domain").fill(domain);
    await card.getByTestId("add-domain").click();
    await expect(alert).toContainText("already verified by another account");
    await expect(alert).toContainText("A domain belongs to the first account that verifies it");
    // The same answer over the API, by code.
    await expect(
      apiAs(wallet.account).ingress.addDomain.mutate(
        await signedInput(wallet.account, "domain.add", { domain, deploymentId: deployment.deploymentId }),
      ),
    ).rejects.toMatchObject({ data: { appCode: "CONFLICT" } });
    await apiAs(other).ingress.removeDomain.mutate(await signedInput(other, "domain.remove", { domain }));

    // Remove (confirmed, signed): the card is empty again.
    await row.getByRole("button", { name: `Remove ${domain}` }).click();
    await expect(card.getByTestId("domain-row")).toHaveCount(0);
    await expect(card).toContainText("No custom domain yet");
    expect(await apiAs(wallet.account).ingress.domains.query({})).toEqual([]);
  } finally {
    await deleteAllDeployments(wallet.account);
    await node.close();
  }
});
