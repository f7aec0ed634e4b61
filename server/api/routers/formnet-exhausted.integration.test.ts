import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { randomWgKey } from "@/server/testing/fake-agent";
import { startTestPlatform, type TTestPlatform } from "@/server/testing/platform";

// An exhausted formnet reaches the user as RESOURCE_EXHAUSTED (503) that says what to do, not as an
// internal error. Real console over HTTP, real SQLite, a formnet block of six host addresses.

const owner = privateKeyToAccount(generatePrivateKey());
let platform: TTestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ config: { formnetCidr: "10.99.0.0/29" } });
});
afterAll(async () => {
  await platform?.close();
});

async function join(publicKey: string) {
  const input = await signAction(owner, {
    action: "formnet.join",
    params: { publicKey, endpoints: [] },
    origin: TEST_CONSOLE_ORIGIN,
    chainId: platform.env.chainId,
  });
  return callTrpc({ url: platform.url, path: "formnet.join", type: "mutation", input });
}

describe("an exhausted formnet", () => {
  it("answers RESOURCE_EXHAUSTED with what to do once every address is taken", async () => {
    // A /29 has six host addresses; the account may join up to ten devices.
    for (let i = 0; i < 6; i++) {
      const res = await join(randomWgKey());
      expect(res.status, res.message ?? "").toBe(200);
    }
    const res = await join(randomWgKey());
    expect([res.status, res.appCode]).toEqual([503, "RESOURCE_EXHAUSTED"]);
    expect(res.message).toMatch(/No formnet address is free in 10\.99\.0\.0\/29/);
    expect(res.message).toMatch(/Delete instances or formnet devices you no longer need/);
  });
});
