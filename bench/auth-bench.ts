/**
 * Auth benchmarks: EIP-712 verification throughput, and HTTP latency of SIWE sign-in and of a
 * signed action against an in-process console (SQLite). Run: `npx tsx bench/auth-bench.ts`.
 */
import os from "node:os";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { z } from "zod";
import { signAction } from "@/lib/signing/sign-action";
import { verifyAction } from "@/lib/signing/verify-action";
import { appRouter } from "@/server/api/root";
import { createTRPCRouter, mergeRouters, signedProcedure } from "@/server/api/trpc";
import { callTrpc, siweSignIn, startTestConsole, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";

const account = privateKeyToAccount(generatePrivateKey());
const chainId = 31337;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  return `p50 ${percentile(s, 50).toFixed(1)} ms, p99 ${percentile(s, 99).toFixed(1)} ms, n=${s.length}`;
}

async function verifyThroughput(): Promise<string> {
  const envelopes = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      signAction(account, {
        action: "build.create",
        params: { name: `app-${i}`, replicas: 3 },
        origin: TEST_CONSOLE_ORIGIN,
        chainId,
      }),
    ),
  );
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < 3000) {
    await verifyAction({
      envelope: envelopes[count % envelopes.length],
      origin: TEST_CONSOLE_ORIGIN,
      chainId,
    });
    count++;
  }
  const perSecond = count / ((performance.now() - started) / 1000);
  return `EIP-712 verifyAction (parse + typed-data hash + ecrecover): ${perSecond.toFixed(0)} verifies/s (single thread)`;
}

async function httpLatency(): Promise<string[]> {
  const router = mergeRouters(
    appRouter,
    createTRPCRouter({
      bench: createTRPCRouter({
        stop: signedProcedure("instance.stop", z.object({ instanceId: z.string() }))
          .output(z.object({ ok: z.boolean() }))
          .mutation(() => ({ ok: true })),
      }),
    }),
  );
  const c = await startTestConsole({ router });
  try {
    const signIn: number[] = [];
    for (let i = 0; i < 120; i++) {
      const started = performance.now();
      const { result } = await siweSignIn({ url: c.url, account });
      if (!result.ok) throw new Error(`sign-in failed: ${result.message}`);
      if (i >= 20) signIn.push(performance.now() - started);
    }
    const action: number[] = [];
    for (let i = 0; i < 120; i++) {
      const envelope = await signAction(account, {
        action: "instance.stop",
        params: { instanceId: `i-${i}` },
        origin: TEST_CONSOLE_ORIGIN,
        chainId,
      });
      const started = performance.now();
      const res = await callTrpc({ url: c.url, path: "bench.stop", type: "mutation", input: envelope });
      if (!res.ok) throw new Error(`signed action failed: ${res.message}`);
      if (i >= 20) action.push(performance.now() - started);
    }
    return [
      `SIWE sign-in over HTTP (auth.nonce → sign → auth.signIn, client signing included): ${summary(signIn)}`,
      `signed action over HTTP (verify + consume nonce + audit, one transaction): ${summary(action)}`,
    ];
  } finally {
    await c.close();
  }
}

const lines = [
  `host: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, load ${os.loadavg()[0]?.toFixed(1)}, node ${process.version}`,
  await verifyThroughput(),
  ...(await httpLatency()),
];
process.stdout.write(`${lines.join("\n")}\n`);
