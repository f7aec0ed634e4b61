import { expect, test } from "@playwright/test";
import { deployThroughUi, screenshot, signInThroughUi } from "./fixtures/session";

// A real VM's serial console (kernel on ttyS0, written by QEMU on the node) read by its owner
// through `serial.tail`: console → agent socket → the VM's serial.log → reply. ~2–3 min (image
// build + TCG boot).
test("the owner reads a running instance's serial console log", async ({ page }, testInfo) => {
  await signInThroughUi(page, { path: "/nodes" });
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
        result?: { data: { json: { data: string; end: number; size: number } } };
      },
    };
  };
  const first = await tail({ instanceId, maxBytes: 128 * 1024, offset: 0 });
  expect(first.status).toBe(200);
  const log = first.body.result?.data.json;
  expect(log?.data).toContain("Linux version");
  expect(log?.size).toBeGreaterThan(0);
  // Polling from `end` returns only what is new (nothing or a few lines), never the whole log again.
  const next = await tail({ instanceId, maxBytes: 128 * 1024, offset: log?.end ?? 0 });
  expect(next.status).toBe(200);
  expect(next.body.result?.data.json.data).not.toContain("Linux version");

  // Once the instance page mounts <SerialLog> (app/instances/_components/serial-log.tsx), it shows
  // the same log; until then this part is not reached.
  if ((await page.getByTestId("serial-log-panel").count()) > 0) {
    await expect(page.getByTestId("serial-log")).toContainText("Linux version", { timeout: 30_000 });
  }
  await screenshot(page, testInfo, "instance-serial");
});
