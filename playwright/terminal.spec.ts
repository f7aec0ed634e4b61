import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { expect, type Page, test } from "@playwright/test";
import { packContext } from "@/core/context";
import { parseFormfile } from "@/lib/formfile/parse";
import {
  acceptConfirms,
  deleteInstanceThroughUi,
  screenshot,
  signInThroughUi,
  typeFormfile,
} from "./fixtures/session";
import { specPrivateKey } from "./fixtures/wallet";

const EXAMPLE = join(import.meta.dirname, "..", "examples", "hello-server");

/** The visible text of the instance's xterm buffer (test hook of the terminal panel). */
function terminalText(page: Page, instanceId: string): Promise<string> {
  return page.evaluate((id) => window.formationTerminals?.[id]?.text() ?? "", instanceId);
}

async function typeInTerminal(page: Page, text: string): Promise<void> {
  await page.getByTestId("terminal-screen").click();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

async function waitForText(page: Page, instanceId: string, pattern: RegExp): Promise<RegExpExecArray> {
  let match: RegExpExecArray | null = null;
  await expect
    .poll(
      async () => {
        match = pattern.exec(await terminalText(page, instanceId));
        return match !== null;
      },
      { timeout: 60_000 },
    )
    .toBe(true);
  if (!match) throw new Error(`no ${pattern} in the terminal`);
  return match;
}

test("web terminal: deploy hello-server, run a command on the VM, resume after reload, refuse a stranger", async ({
  page,
  browser,
}, testInfo) => {
  acceptConfirms(page);
  // A fixed wallet: the owner-salted Formfile, and so its image, is a builder cache hit on a warm machine.
  await signInThroughUi(page, { path: "/nodes", privateKey: specPrivateKey("terminal") });
  await expect(page.getByTestId("node-status").first()).toHaveText("online", { timeout: 240_000 });

  // Deploy the example through the Deploy page: its folder packed as the .tar.gz a user would drop.
  // The example asks for 2 vCPU / 2048 MB; the devnet node on a 2-core CI machine offers 1 vCPU,
  // so the replica could never be placed. Same project and Formfile, smaller resources.
  const formfileText = (await readFile(join(EXAMPLE, "Formfile"), "utf8"))
    .replace(/^VCPU \d+$/m, "VCPU 1")
    .replace(/^MEM \d+$/m, "MEM 1024");
  const parsed = parseFormfile(formfileText);
  if (!parsed.ok) throw new Error(`example Formfile invalid: ${JSON.stringify(parsed.errors)}`);
  const packed = await packContext({ dir: EXAMPLE, formfile: parsed.formfile });
  await page.goto("/deploy");
  await page
    .getByTestId("context-file-input")
    .setInputFiles({ name: "hello-server.tar.gz", mimeType: "application/gzip", buffer: packed.tarGz });
  await expect(page.getByTestId("context-summary")).toContainText("hello-server.tar.gz");
  await typeFormfile(page, formfileText);
  // The example's placeholder SSH key is a warning (the web terminal needs no key).
  await expect(page.getByTestId("formfile-status")).toHaveText(/^✓ valid/);
  await page.getByTestId("replicas-input").fill("1");
  await page.getByRole("checkbox", { name: "Ship when the build succeeds" }).check();
  await page.getByTestId("submit-build").click();
  await page.waitForURL(/\/builds\/[0-9a-f]{64}/);
  await expect(page.getByTestId("build-status")).toHaveText(/running|failed/, { timeout: 900_000 });
  await screenshot(page, testInfo, "build-running");
  await expect(page.getByTestId("build-status")).toHaveText("running");

  await page.getByTestId("instances-table").getByRole("link").first().click();
  await page.waitForURL(/\/instances\/[^/]+$/);
  const instanceId = decodeURIComponent(page.url().split("/").pop() ?? "");
  const terminal = page.getByTestId("terminal");
  await expect(terminal).toHaveAttribute("data-state", "connected", { timeout: 120_000 });

  // A command whose output can only come from the VM: arithmetic by its shell and its hostname.
  await typeInTerminal(page, "echo $((6*7)); hostname");
  const out = await waitForText(page, instanceId, /^42\s*\n(\S+)\s*$/m);
  expect(out[1]).not.toBe(hostname());
  await screenshot(page, testInfo, "terminal-command");

  // The app's logs: its ENTRYPOINT unit's journal, backlog first (systemd started it), then live (a
  // request made from the terminal shows up as the web server's access log line).
  const appLogs = page.getByTestId("app-logs-text");
  await expect(page.getByTestId("app-logs")).toHaveAttribute("data-state", "live", { timeout: 60_000 });
  await expect(appLogs).toContainText("formation-entrypoint", { timeout: 60_000 });
  // The unit's "Started" line comes before the server listens (a second or two under TCG): the
  // probe retries until the server answers, or the access line would never come.
  await typeInTerminal(
    page,
    `until python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8080/formation-log-probe")' 2>/dev/null; do sleep 1; done`,
  );
  await expect(appLogs).toContainText('"GET /formation-log-probe HTTP/1.1" 200', { timeout: 60_000 });
  await screenshot(page, testInfo, "app-logs");

  await typeInTerminal(page, "echo pid=$$");
  const pid = (await waitForText(page, instanceId, /^pid=(\d+)\s*$/m))[1];
  await page.reload();
  await expect(terminal).toHaveAttribute("data-state", "connected", { timeout: 60_000 });
  await expect(page.getByTestId("terminal-status")).toContainText("Resumed");
  await typeInTerminal(page, "echo again=$$");
  await waitForText(page, instanceId, new RegExp(`^again=${pid}\\s*$`, "m"));
  await screenshot(page, testInfo, "terminal-resumed");

  // Another wallet, signed in in its own browser context, is refused with a typed reason.
  const strangerContext = await browser.newContext();
  const stranger = await strangerContext.newPage();
  await signInThroughUi(stranger);
  const refusal = await stranger.evaluate(
    (id) =>
      new Promise<string>((resolve) => {
        const url = new URL("/ws/terminal", window.location.origin);
        url.protocol = "ws:";
        url.searchParams.set("instance", id);
        const ws = new WebSocket(url);
        ws.onmessage = (e) => resolve(typeof e.data === "string" ? e.data : "binary");
        ws.onclose = () => resolve("closed without a frame");
      }),
    instanceId,
  );
  // Exactly what an id that does not exist gets: the terminal reveals no other account's instances.
  expect(JSON.parse(refusal)).toMatchObject({
    type: "error",
    reason: "not-found",
    message: `There is no instance ${instanceId} in your account.`,
  });
  await strangerContext.close();

  // Stop: the terminal ends; then delete the instance.
  await page.getByRole("button", { name: "Stop" }).click();
  await expect(page.getByTestId("instance-status")).toHaveText(/stopp/, { timeout: 180_000 });
  await screenshot(page, testInfo, "instance-stopped");
  await deleteInstanceThroughUi(page);
  await screenshot(page, testInfo, "instance-deleted");
});
