import { describe, expect, it } from "vitest";
import { CliError } from "../errors";
import { renderAppUrl, renderDeployment, type TDeployment, waitUntil } from "./pack-status";

const app = { name: "web", sshUser: "dev", exposedPorts: [8080], url: null, urls: [] };
const deployment = (over: Partial<NonNullable<TDeployment>>): NonNullable<TDeployment> => ({
  deploymentId: "d-00000000000000000000",
  owner: "0xabc",
  name: "web",
  buildId: "b".repeat(64),
  replicas: 1,
  placed: 0,
  running: 0,
  waiting: 1,
  waitingReason: "waiting for capacity: needs 2 vCPU, largest free 1",
  waitingSince: new Date(0),
  notice: null,
  app,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  ...over,
});

describe("pack status rendering", () => {
  it("shows desired vs placed replicas and why the rest wait, as the console's pages do", () => {
    expect(renderDeployment("b".repeat(64), deployment({}))).toBe(
      "  web  0 of 1 replicas placed\n  1 waiting: waiting for capacity: needs 2 vCPU, largest free 1",
    );
    expect(
      renderDeployment(
        "b".repeat(64),
        deployment({ placed: 1, running: 1, waiting: 0, waitingReason: null }),
      ),
    ).toBe("  web  1 of 1 replicas running");
    expect(renderDeployment("b".repeat(64), null)).toContain("not shipped");
    expect(renderAppUrl(app)).toBe("— (this console has no ingress; EXPOSE 8080 over formnet)");
    const urls = [
      { port: 8080, url: "http://web-0a1b2c3d.localhost:3000/" },
      { port: 9090, url: "http://web-0a1b2c3d-p9090.localhost:3000/" },
    ];
    expect(renderAppUrl({ ...app, url: urls[0]?.url ?? null, urls: urls.slice(0, 1) })).toBe(
      "http://web-0a1b2c3d.localhost:3000/",
    );
    expect(renderAppUrl({ ...app, exposedPorts: [8080, 9090], url: urls[0]?.url ?? null, urls })).toBe(
      "http://web-0a1b2c3d.localhost:3000/ (port 8080), http://web-0a1b2c3d-p9090.localhost:3000/ (port 9090)",
    );
  });
});

describe("waitUntil", () => {
  const unreachable = () =>
    new CliError("remote", "cannot reach the console at http://c: fetch failed", {
      code: "CONSOLE_UNREACHABLE",
    });

  it("rides out a console that cannot be reached for a while (a restart) and says so", async () => {
    let calls = 0;
    const notices: number[] = [];
    const value = await waitUntil({
      what: "x",
      timeoutMs: 5_000,
      intervalMs: 1,
      check: async () => {
        calls += 1;
        if (calls <= 3) throw unreachable();
        return calls === 5 ? "done" : undefined;
      },
      onUnreachable: (ms) => notices.push(ms),
    });
    expect(value).toBe("done");
    expect(notices).toHaveLength(3);
  });

  it("gives up once the console stays unreachable past the grace, and at once on any other error", async () => {
    await expect(
      waitUntil({
        what: "x",
        timeoutMs: 5_000,
        intervalMs: 1,
        unreachableGraceMs: 20,
        check: async () => Promise.reject(unreachable()),
      }),
    ).rejects.toThrow(/cannot reach the console/);
    let calls = 0;
    await expect(
      waitUntil({
        what: "x",
        timeoutMs: 5_000,
        intervalMs: 1,
        check: async () => {
          calls += 1;
          throw new CliError("remote", "instance i-1 failed: boom");
        },
      }),
    ).rejects.toThrow(/boom/);
    expect(calls).toBe(1);
  });
});
