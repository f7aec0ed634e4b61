import { expect, test } from "@playwright/test";
import {
  acceptConfirms,
  deleteInstanceThroughUi,
  deployThroughUi,
  screenshot,
  signInThroughUi,
} from "./fixtures/session";
import { specPrivateKey } from "./fixtures/wallet";

// A real VM's serial console (ttyS0, written by QEMU on the node) read by its owner
// through `serial.tail`: console → agent socket → the VM's serial.log → reply. ~2–3 min (image
// build + TCG boot).
test("the owner reads a running instance's serial console log", async ({ page }, testInfo) => {
  acceptConfirms(page);
  // A fixed wallet: the owner-salted Formfile, and so its image, is a builder cache hit on a warm machine.
  await signInThroughUi(page, { path: "/nodes", privateKey: specPrivateKey("serial-log") });
  await expect(page.getByTestId("node-status").first()).toHaveText("online", { timeout: 240_000 });
  await deployThroughUi(page, {
    formfile: "NAME serial-e2e\nUSER username:dev passwd:secret sudo:true\nVCPU 1\nMEM 512\nDISK 5\n",
    replicas: 1,
  });
  await expect(page.getByTestId("build-status")).toHaveText("running", { timeout: 900_000 });
  await page.getByTestId("instances-table").getByRole("link").first().click();
  await expect(page.getByTestId("instance-status")).toHaveText("running");
  const instanceId = /\/instances\/(i-[0-9a-f]{20})/.exec(page.url())?.[1];
  expect(instanceId).toBeTruthy();

  // The procedure the SerialLog component polls, with this page's session cookie (superjson wire).
  const tail = async (input: Record<string, unknown>) => {
    const res = await page.request.get(
      `/api/trpc/serial.tail?input=${encodeURIComponent(JSON.stringify({ json: input }))}`,
    );
    return {
      status: res.status(),
      body: (await res.json()) as {
        result?: { data: { json: { data: string; offset: number; end: number; size: number } } };
      },
    };
  };
  const first = await tail({ instanceId, maxBytes: 128 * 1024, offset: 0 });
  expect(first.status).toBe(200);
  const log = first.body.result?.data.json;
  // The guest boots with a quiet kernel: what reaches ttyS0 are printk-stamped lines from systemd.
  expect(log?.data).toMatch(/\[\s*\d+\.\d+\] systemd/);
  expect(log?.size).toBeGreaterThan(0);
  // Polling from `end` continues there: only what is new, never the whole log again.
  const next = await tail({ instanceId, maxBytes: 128 * 1024, offset: log?.end ?? 0 });
  expect(next.status).toBe(200);
  expect(next.body.result?.data.json.offset).toBe(log?.end);

  // The instance page's <SerialLog> panel shows the same log.
  await expect(page.getByTestId("serial-log")).toContainText("systemd", { timeout: 30_000 });
  await expect(page.getByTestId("serial-log-status")).toContainText("live");
  await screenshot(page, testInfo, "instance-serial");
  await deleteInstanceThroughUi(page);
});
