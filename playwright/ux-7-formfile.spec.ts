import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { packContext } from "@/core/context";
import { parseFormfile } from "@/lib/formfile/parse";
import { closePlatformDb, formfileText, seedBuild, uniqueName } from "./fixtures/platform";
import { screenshot, signInThroughUi, typeFormfile } from "./fixtures/session";

// Bounded waits: a missing element or navigation fails in seconds, not at the 15-minute test timeout.
test.use({ actionTimeout: 30_000, navigationTimeout: 60_000 });

// Issue 24, item 7: the editor's verdict matches what will happen — COPY of a path the context does
// not have, limits the network refuses and placeholder SSH keys are flagged before signing — and
// "deploy again" after a failed build opens the same Formfile.

test.afterAll(closePlatformDb);

test("the editor flags COPY without a project, over-limit resources and a placeholder SSH key", async ({
  page,
}, testInfo) => {
  await signInThroughUi(page, { path: "/deploy" });
  const status = page.getByTestId("formfile-status");

  await typeFormfile(page, formfileText({ name: uniqueName("copy"), extra: "COPY ./app /app" }));
  await expect(status).not.toHaveText("✓ valid");
  await expect(page.getByTestId("formfile-error").first()).toContainText("./app");
  await expect(page.getByTestId("formfile-error").first()).toContainText(/no project/i);
  await expect(page.getByTestId("submit-build")).toBeDisabled();
  await screenshot(page, testInfo, "deploy-copy-without-project");

  await typeFormfile(page, formfileText({ name: uniqueName("big"), vcpu: 8 }));
  await expect(status).not.toHaveText("✓ valid");
  await expect(status).toContainText(/limit/i);
  await expect(page.getByTestId("submit-build")).toBeDisabled();

  await typeFormfile(
    page,
    formfileText({ name: uniqueName("key") }).replace(
      "sudo:true",
      'sudo:true ssh_authorized_keys:"ssh-rsa ..."',
    ),
  );
  await expect(page.getByTestId("formfile-warning").first()).toContainText(/placeholder/i);
  await expect(status).toContainText("warning");
  await screenshot(page, testInfo, "deploy-placeholder-key");
});

test("a failed build names context paths as the user wrote them and 'deploy again' opens its Formfile", async ({
  page,
}, testInfo) => {
  const wallet = await signInThroughUi(page);
  const text = `${formfileText({ name: uniqueName("again") })}\nRUN false\n`;
  const parsed = parseFormfile(text);
  if (!parsed.ok) throw new Error("test Formfile invalid");
  const dir = await mkdtemp(join(tmpdir(), "ctx-"));
  let context: { digest: string; sizeBytes: number };
  try {
    await writeFile(join(dir, "Formfile"), text);
    const packed = await packContext({ dir, formfile: parsed.formfile });
    const put = await page.request.put(`/api/contexts/${packed.digest}`, {
      data: packed.tarGz,
      headers: { "content-type": "application/gzip" },
    });
    expect(put.ok(), await put.text()).toBe(true);
    context = { digest: packed.digest, sizeBytes: packed.tarGz.length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const buildId = await seedBuild({
    owner: wallet.account.address,
    formfile: text,
    status: "failed",
    failure: {
      reason: `RUN false exited 1 (cp /var/lib/formation/agent/builds/${"b".repeat(64)}/context/app: no such file)`,
      line: 7,
    },
    context,
  });
  await page.goto(`/builds/${buildId}`);
  const failure = page.getByTestId("build-failure");
  await expect(failure).toContainText("line 7");
  await expect(failure).not.toContainText("/builds/");
  await expect(failure).toContainText("./app");
  await failure.getByRole("link", { name: /deploy again/i }).click();
  await page.waitForURL(/\/deploy/);
  await expect(page.getByTestId("formfile-editor")).toHaveValue(text);
  await screenshot(page, testInfo, "deploy-again-prefilled");
});
