import { expect, type Page, test } from "@playwright/test";
import { signInThroughUi } from "./fixtures/session";

// The console's security headers (server/http/security-headers.ts, proxy.ts) against real Chromium:
// present on every kind of response, and the page CSP lets the app work while blocking injected
// inline script.

const PAGES = ["/", "/deploy", "/builds", "/instances", "/nodes", "/network", "/account"] as const;

/**
 * Collects every CSP complaint of `page` from now on: Chromium's console messages and the
 * `securitypolicyviolation` events (reported to Node, so none is lost across navigations).
 */
async function watchCsp(page: Page): Promise<string[]> {
  const problems: string[] = [];
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`console: ${text}`);
  });
  await page.exposeBinding("__formationCspViolation", (_source, report: string) => {
    problems.push(`event: ${report}`);
  });
  await page.addInitScript(() => {
    const report = (window as unknown as { __formationCspViolation: (r: string) => Promise<void> })
      .__formationCspViolation;
    document.addEventListener(
      "securitypolicyviolation",
      (e) => {
        void report(
          `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`,
        );
      },
      true,
    );
  });
  return problems;
}

/** True once React has hydrated the page (its fiber is attached to the top bar's buttons). */
function hydrated(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const button = document.querySelector("header button");
    return button !== null && Object.keys(button).some((k) => k.startsWith("__reactFiber"));
  });
}

function expectFixedHeaders(headers: Record<string, string>): void {
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["referrer-policy"]).toBe("strict-origin-when-cross-origin");
  expect(headers["permissions-policy"]).toContain("camera=()");
  expect(headers["cross-origin-opener-policy"]).toBe("same-origin");
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
}

test.describe("security headers", () => {
  test("pages, /healthz, the API and static files carry them; each page has its own nonce", async ({
    page,
    request,
  }) => {
    const first = await page.goto("/");
    if (!first) throw new Error("no response for /");
    const headers = first.headers();
    expectFixedHeaders(headers);
    const csp = headers["content-security-policy"] ?? "";
    const nonce = /script-src 'self' 'nonce-([A-Za-z0-9+/=]+)'(?:;|$)/.exec(csp)?.[1];
    expect(nonce, csp).toBeTruthy();
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).not.toContain("strict-dynamic");
    expect(csp).toContain("object-src 'none'");
    const host = new URL(page.url()).host;
    expect(csp).toContain(`connect-src 'self' ws://${host} wss://${host}`);
    // Next put the nonce on every inline script it rendered (the DOM hides it from attributes).
    const inline = await page.evaluate(() => [...document.scripts].filter((s) => !s.src).map((s) => s.nonce));
    expect(inline.length).toBeGreaterThan(0);
    expect(new Set(inline)).toEqual(new Set([nonce]));

    const second = await request.get("/nodes");
    const secondCsp = second.headers()["content-security-policy"] ?? "";
    expect(secondCsp).toMatch(/'nonce-[A-Za-z0-9+/=]+'/);
    expect(secondCsp).not.toContain(`'nonce-${nonce}'`);

    const staticUrl = await page.evaluate(
      () => [...document.scripts].find((s) => s.src.includes("/_next/static/"))?.src ?? "",
    );
    expect(staticUrl).not.toBe("");
    for (const path of ["/healthz", "/api/trpc/auth.me?input=%7B%22json%22%3A%7B%7D%7D", staticUrl]) {
      const response = await request.get(path);
      expect(response.ok(), path).toBe(true);
      expectFixedHeaders(response.headers());
      expect(response.headers()["content-security-policy"], path).toContain("default-src 'none'");
    }
  });

  test("the main pages load and hydrate without a CSP violation", async ({ page }) => {
    const problems = await watchCsp(page);
    for (const path of PAGES) {
      await page.goto(path);
      await expect.poll(() => hydrated(page), { message: `${path} hydrates` }).toBe(true);
      await expect(page.getByRole("button", { name: "Sign in with wallet" })).toBeVisible();
    }
    expect(problems).toEqual([]);
  });

  test("wallet sign-in and client-side navigation work without a CSP violation", async ({ page }) => {
    const problems = await watchCsp(page);
    await signInThroughUi(page);
    for (const item of ["Deploy", "Builds", "Instances", "Nodes", "Network", "Account", "Overview"]) {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: item }).click();
      await expect(
        page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: item }),
      ).toHaveClass(/font-medium/);
    }
    await page.reload();
    await expect(page.getByTestId("session-address")).toBeVisible();
    expect(problems).toEqual([]);
  });

  test("the terminal's WebSocket to the console's own origin is allowed", async ({ page }) => {
    const problems = await watchCsp(page);
    await signInThroughUi(page);
    // The panel's own URL (lib/protocol/terminal.ts builds it from window.location.origin). With no
    // such instance the gateway answers with a typed refusal, which proves the socket was opened.
    const frame = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const url = new URL("/ws/terminal", window.location.origin);
          url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
          url.searchParams.set("instance", "csp-probe");
          const ws = new WebSocket(url);
          ws.onmessage = (e) => resolve(typeof e.data === "string" ? e.data : "binary");
          ws.onclose = () => resolve("closed without a frame");
        }),
    );
    expect(JSON.parse(frame)).toMatchObject({ type: "error", reason: "not-found" });
    expect(problems).toEqual([]);
  });

  test("inline script without the nonce is blocked, created or injected as markup", async ({ page }) => {
    const problems = await watchCsp(page);
    await page.goto("/");
    await expect.poll(() => hydrated(page)).toBe(true);
    const flags = await page.evaluate(async () => {
      const w = window as unknown as { __injectedA?: number; __injectedB?: number };
      const script = document.createElement("script");
      script.textContent = "window.__injectedA = 1";
      document.head.append(script);
      // An image that fails to decode fires `error`: its inline handler must not run, ours does.
      document.body.insertAdjacentHTML(
        "beforeend",
        `<img id="csp-probe" src="data:," onerror="window.__injectedB = 1">`,
      );
      const img = document.getElementById("csp-probe");
      await new Promise((resolve) => img?.addEventListener("error", resolve, { once: true }));
      return { a: w.__injectedA ?? "unset", b: w.__injectedB ?? "unset" };
    });
    expect(flags).toEqual({ a: "unset", b: "unset" });
    await expect.poll(() => problems.filter((p) => p.startsWith("event: script-src")).length).toBe(2);
  });
});
