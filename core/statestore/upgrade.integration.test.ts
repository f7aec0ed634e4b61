import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, describe, expect, it } from "vitest";
import { StaticAuthorizer } from "../../lib/statestore/authorize";
import { waitFor } from "./replica-harness";
import { StateStore } from "./store";
import { createStoreUpgradeHandler } from "./upgrade";

const base = mkdtempSync(join(tmpdir(), "statestore-upgrade-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("store mounted on an HTTP server at /ws/store", () => {
  it("replicates through the upgrade handler and leaves other paths alone", async () => {
    const consoleAcct = privateKeyToAccount(generatePrivateKey());
    const nodeAcct = privateKeyToAccount(generatePrivateKey());
    const authorizer = new StaticAuthorizer({ console: consoleAcct.address, nodes: [nodeAcct.address] });
    const consoleStore = await StateStore.open({
      dir: join(base, "console"),
      account: consoleAcct,
      authorizer,
    });
    const agentStore = await StateStore.open({ dir: join(base, "agent"), account: nodeAcct, authorizer });
    const handle = createStoreUpgradeHandler(consoleStore);
    const others: string[] = [];
    const server = createServer((_req, res) => res.end("ok"));
    server.on("upgrade", (req, socket, head) => {
      if (!handle(req, socket, head)) {
        others.push(req.url ?? "");
        socket.destroy();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    try {
      await consoleStore.write("dns/web", (d) => Object.assign(d, { value: "10.42.0.7" }));
      const other = agentStore.connect(`ws://127.0.0.1:${port}/ws/terminal`);
      await waitFor(async () => others.length > 0, { timeoutMs: 10_000, what: "other upgrade passed on" });
      other.close();
      const dialer = agentStore.connect(`ws://127.0.0.1:${port}/ws/store`);
      await waitFor(async () => agentStore.get("dns/web") !== undefined, {
        timeoutMs: 10_000,
        what: "replication",
      });
      await agentStore.write(`nodes/${nodeAcct.address.toLowerCase()}`, (d) =>
        Object.assign(d, { heartbeat: 1 }),
      );
      await waitFor(async () => consoleStore.digest() === agentStore.digest(), {
        timeoutMs: 10_000,
        what: "convergence",
      });
      expect(others[0]).toBe("/ws/terminal");
      expect(consoleStore.list("nodes")).toHaveLength(1);
      dialer.close();
    } finally {
      await agentStore.close();
      await consoleStore.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
