import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TReplicaStatus } from "@/lib/status";
import { controlPlaneModule } from "@/server/gateway/module";
import { siweSignIn, startTestConsole, TEST_CONSOLE_ORIGIN, type TTestConsole } from "@/server/http/testing";
import { terminalModule } from "./module";
import {
  freePort,
  pollUntil,
  seedTerminalInstance,
  startTestSshd,
  TerminalTestClient,
  type TTestSshd,
} from "./testing";

const owner = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const stranger = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("terminal gateway against a real sshd", () => {
  let consoleServer: TTestConsole;
  let sshd: TTestSshd;
  let dataDir: string;
  let ownerCookie: string;
  let strangerCookie: string;
  const GRACE_MS = 3000;

  const seedInstance = (opts: { id: string; username: string; ip: string; status?: TReplicaStatus }) =>
    seedTerminalInstance(consoleServer.runtime.db, { ...opts, owner: owner.address });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "formation-terminal-"));
    const port = await freePort();
    consoleServer = await startTestConsole({
      env: { FORMATION_DATA_DIR: dataDir },
      modules: [
        controlPlaneModule(),
        terminalModule({ sshPort: port, graceMs: GRACE_MS, connectTimeoutSeconds: 3 }),
      ],
    });
    const ca = consoleServer.runtime.services.terminal?.sshCaPublicKey;
    if (!ca) throw new Error("terminal module did not start");
    sshd = await startTestSshd({ caPublicKey: ca, port, listen: ["127.0.0.1", "127.0.0.4"] });
    ownerCookie = (await siweSignIn({ url: consoleServer.url, account: owner })).cookie;
    strangerCookie = (await siweSignIn({ url: consoleServer.url, account: stranger })).cookie;
    await seedInstance({ id: "vm-ok", username: "root", ip: "127.0.0.1" });
    await seedInstance({ id: "vm-stopped", username: "root", ip: "127.0.0.3", status: "stopped" });
    await seedInstance({ id: "vm-far", username: "root", ip: "127.0.0.2" });
    await seedInstance({ id: "vm-nouser", username: "nosuchuser", ip: "127.0.0.4" });
  }, 60_000);

  afterAll(async () => {
    await consoleServer?.close();
    await sshd?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const open = (opts: { instanceId: string; cookie?: string; sessionId?: string; origin?: string }) =>
    TerminalTestClient.connect({ consoleUrl: consoleServer.url, origin: TEST_CONSOLE_ORIGIN, ...opts });

  it("keeps the CA private key 0600 and puts the CA key into build jobs", async () => {
    const st = await stat(join(dataDir, "terminal", "ca", "user-ca"));
    expect(st.mode & 0o777).toBe(0o600);
    const pub = await readFile(join(dataDir, "terminal", "ca", "user-ca.pub"), "utf8");
    expect(consoleServer.runtime.services.builds.sshCaPublicKey).toBe(pub.trim());
  });

  it("opens a shell with a certificate, runs commands, resizes, passes UTF-8", async () => {
    const t = await open({ instanceId: "vm-ok", cookie: ownerCookie });
    const ready = await t.frame("ready");
    expect(ready).toMatchObject({ resumed: false, username: "root", host: "127.0.0.1" });
    t.type("echo $((6*7))\r");
    await t.waitFor("42", () => /[\r\n]42\r\n/.test(t.output));
    t.resize(101, 33);
    t.type("stty size\r");
    await t.waitFor("new size", () => t.output.includes("33 101"));
    // Octal escapes so only the program's output (not the echoed command) holds the characters.
    t.type("printf '\\342\\234\\223 h\\303\\251llo \\346\\227\\245\\n'\r");
    await t.waitFor("UTF-8 output", () => t.output.includes("✓ héllo 日"));
    await t.close();
  }, 30_000);

  it("resumes the same shell after the WebSocket drops, replaying the scrollback", async () => {
    const first = await open({ instanceId: "vm-ok", cookie: ownerCookie });
    const { sessionId } = await first.frame("ready");
    first.type("echo pid=$$\r");
    const pid = await first.waitFor("pid", () => /pid=(\d+)/.exec(first.output)?.[1]);
    first.ws.terminate();
    const second = await open({ instanceId: "vm-ok", cookie: ownerCookie, sessionId });
    const ready = await second.frame("ready");
    expect(ready.resumed).toBe(true);
    expect(ready.sessionId).toBe(sessionId);
    await second.waitFor("replayed scrollback", () => second.output.includes(`pid=${pid}`));
    second.type("echo again=$$\r");
    await second.waitFor("same pid", () => second.output.includes(`again=${pid}`));
    // A stranger cannot take over the session with its id.
    const thief = await open({ instanceId: "vm-ok", cookie: strangerCookie, sessionId });
    expect(await thief.frame("error")).toMatchObject({ reason: "not-found" });
    await second.close();
  }, 30_000);

  it("ends the shell after the grace period; the id then opens a new shell", async () => {
    const first = await open({ instanceId: "vm-ok", cookie: ownerCookie });
    const { sessionId } = await first.frame("ready");
    first.type("echo pid=$$\r");
    const pid = await first.waitFor("pid", () => /pid=(\d+)/.exec(first.output)?.[1]);
    await first.close();
    const sessions = consoleServer.runtime.services.terminal?.sessions;
    const key = { id: sessionId, owner: owner.address.toLowerCase(), instanceId: "vm-ok" };
    expect(sessions?.find(key)).not.toBeNull();
    await pollUntil("grace expiry", () => sessions?.find(key) === null, GRACE_MS + 5000);
    const second = await open({ instanceId: "vm-ok", cookie: ownerCookie, sessionId });
    expect((await second.frame("ready")).resumed).toBe(false);
    second.type("echo pid=$$\r");
    const pid2 = await second.waitFor("pid", () => /pid=(\d+)/.exec(second.output)?.[1]);
    expect(pid2).not.toBe(pid);
    await second.close();
  }, 30_000);

  it.each([
    { name: "no cookie", instanceId: "vm-ok", cookie: undefined, reason: "unauthenticated" },
    { name: "another user's instance", instanceId: "vm-ok", cookie: "stranger", reason: "not-found" },
    { name: "unknown instance", instanceId: "vm-none", cookie: "owner", reason: "not-found" },
    { name: "stopped instance", instanceId: "vm-stopped", cookie: "owner", reason: "instance-not-running" },
    { name: "unreachable VM", instanceId: "vm-far", cookie: "owner", reason: "formnet-unreachable" },
    { name: "certificate refused", instanceId: "vm-nouser", cookie: "owner", reason: "auth-refused" },
  ])(
    "refuses with a typed reason: $name",
    async ({ instanceId, cookie, reason }) => {
      const t = await open({
        instanceId,
        ...(cookie ? { cookie: cookie === "owner" ? ownerCookie : strangerCookie } : {}),
      });
      expect(await t.frame("error")).toMatchObject({ reason });
      await t.waitFor("close", () => t.closed);
      expect(t.closed?.code).toBe(4003);
    },
    30_000,
  );

  it("answers another account's instance exactly as an id that does not exist", async () => {
    const refusal = async (instanceId: string, cookie: string) => {
      const t = await open({ instanceId, cookie });
      const frame = await t.frame("error");
      await t.waitFor("close", () => t.closed);
      return {
        reason: frame.reason,
        message: frame.message.replace(instanceId, "<id>"),
        code: t.closed?.code,
      };
    };
    const foreign = await refusal("vm-ok", strangerCookie);
    expect(foreign).toEqual(await refusal("vm-none", ownerCookie));
    expect(foreign.reason).toBe("not-found");
  });

  it("refuses a foreign Origin", async () => {
    const t = await open({ instanceId: "vm-ok", cookie: ownerCookie, origin: "http://evil.example" });
    expect(await t.frame("error")).toMatchObject({ reason: "forbidden-origin" });
  });
});
