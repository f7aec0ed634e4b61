import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import type { TConsoleModule } from "./console-runtime";
import { startTestConsole, type TTestConsole } from "./testing";

// A module like the agent gateway: mounts a WebSocket path and a plain HTTP route.
const echoModule: TConsoleModule = {
  name: "echo",
  async start(runtime) {
    const wss = new WebSocketServer({ noServer: true });
    wss.on("connection", (ws) => ws.on("message", (data) => ws.send(`echo:${data.toString()}`)));
    runtime.upgrades.register("/ws/echo", ({ req, socket, head }) => {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    });
    runtime.http.register("/api/echo", ({ res }) => {
      res.end("plain");
    });
    return () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
    };
  },
};

describe("console server (in-process, real HTTP)", () => {
  let console_: TTestConsole;
  beforeAll(async () => {
    console_ = await startTestConsole({ modules: [echoModule] });
  });
  afterAll(async () => {
    await console_?.close();
  });

  it("answers /healthz with database status", async () => {
    const res = await fetch(`${console_.url}/healthz`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: "ok", db: true, version: expect.any(String) });
  });

  it("serves tRPC and maps auth errors to 401 with appCode", async () => {
    const res = await fetch(`${console_.url}/api/trpc/account.audit`);
    expect(res.status).toBe(401);
    const body = await res.json();
    expect(body.error.json.data.appCode).toBe("UNAUTHORIZED");
  });

  it("routes registered upgrades and HTTP routes, 404s the rest", async () => {
    const ws = new WebSocket(`${console_.url.replace("http", "ws")}/ws/echo`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once("open", () => ws.send("hi"));
      ws.once("message", (data) => resolve(data.toString()));
      ws.once("error", reject);
    });
    ws.close();
    expect(reply).toBe("echo:hi");
    expect(await (await fetch(`${console_.url}/api/echo`)).text()).toBe("plain");
    expect((await fetch(`${console_.url}/nothing-here`)).status).toBe(404);
    const refused = new WebSocket(`${console_.url.replace("http", "ws")}/ws/unknown`);
    const error = await new Promise<Error>((resolve) => refused.once("error", resolve));
    expect(error.message).toMatch(/404/);
  });
});
