import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, describe, expect, it } from "vitest";
import { StaticAuthorizer } from "../../lib/statestore/authorize";
import { StateStore } from "./store";

const run = promisify(execFile);
const INSPECT = fileURLToPath(new URL("./inspect.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "statestore-inspect-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("inspect CLI", () => {
  it("shows entities, values and signed history of a replica directory", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const store = await StateStore.open({
      dir,
      account,
      authorizer: new StaticAuthorizer({ console: account.address }),
    });
    await store.write("instances/i1", (d) => Object.assign(d, { status: "Created" }));
    await store.write("instances/i1", (d) => Object.assign(d, { status: "Started" }));
    await store.write("dns/web", (d) => Object.assign(d, { value: "10.42.0.5" }));
    const history = store.history("instances/i1");
    await store.close();
    const node = ["--import", "tsx", INSPECT, dir];
    const key = JSON.parse(
      (await run("node", [...node, "--key", "instances/i1", "--verify", "--json"])).stdout,
    );
    expect(key.problems).toEqual([]);
    expect(key.result.value).toEqual({ status: "Started" });
    expect(key.result.history.map((h: { hash: string }) => h.hash)).toEqual(history.map((h) => h.hash));
    expect(key.result.history[0].signer).toBe(account.address.toLowerCase());
    const kind = JSON.parse((await run("node", [...node, "--kind", "dns", "--json"])).stdout);
    expect(kind.result).toEqual([
      { key: "dns/web", changes: 1, signers: [account.address.toLowerCase()], value: { value: "10.42.0.5" } },
    ]);
    await expect(run("node", [...node, "--key", "instances/none"])).rejects.toMatchObject({ code: 1 });
  });
});
