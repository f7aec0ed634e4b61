/**
 * Web terminal keystroke echo round trip: WebSocket client → console gateway → ssh (certificate
 * auth) → sshd → shell pty echo → back. The "browser" is a Node `ws` client speaking the browser's
 * protocol; the VM is a throwaway loopback sshd trusting the console CA (a TCG VM would measure
 * the emulator, not the terminal path). Also times opening a terminal and resuming one.
 *
 *   npx tsx bench/terminal-echo.ts [--samples 300]
 *
 * Needs root (sshd privilege separation). Prints figures; not a test.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { controlPlaneModule } from "@/server/gateway/module";
import { siweSignIn, startTestConsole, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import { terminalModule } from "@/server/terminal/module";
import { freePort, seedTerminalInstance, startTestSshd, TerminalTestClient } from "@/server/terminal/testing";

const samples = Number(process.argv[process.argv.indexOf("--samples") + 1] || 300);
const owner = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), "formation-terminal-bench-"));
  const port = await freePort();
  const console_ = await startTestConsole({
    env: { FORMATION_DATA_DIR: dataDir, LOG_LEVEL: "warn" },
    modules: [controlPlaneModule(), terminalModule({ sshPort: port })],
  });
  const ca = console_.runtime.services.terminal?.sshCaPublicKey;
  if (!ca) throw new Error("terminal module did not start");
  const sshd = await startTestSshd({ caPublicKey: ca, port });
  try {
    const { cookie } = await siweSignIn({ url: console_.url, account: owner });
    await seedTerminalInstance(console_.runtime.db, {
      id: "bench-vm",
      owner: owner.address,
      username: "root",
      ip: "127.0.0.1",
    });
    const connect = (sessionId?: string) =>
      TerminalTestClient.connect({
        consoleUrl: console_.url,
        instanceId: "bench-vm",
        cookie,
        origin: TEST_CONSOLE_ORIGIN,
        ...(sessionId ? { sessionId } : {}),
      });

    const openTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const c = await connect();
      await c.frame("ready");
      openTimes.push(performance.now() - t0);
      c.type("exit\r");
      await c.waitFor("close", () => c.closed);
    }

    const term = await connect();
    const { sessionId } = await term.frame("ready");
    // Wait for the prompt so the shell's line editor is reading keystrokes.
    await term.waitFor("prompt", () => /[#$] $/.test(term.output));
    const rtts: number[] = [];
    const alphabet = "abcdefghijklmnopqrstuvwxyz";
    for (let i = 0; i < samples; i++) {
      const ch = alphabet[i % alphabet.length] ?? "a";
      const before = term.output.length;
      const t0 = performance.now();
      term.type(ch);
      await term.waitFor("echo", () => term.output.indexOf(ch, before) >= 0);
      rtts.push(performance.now() - t0);
      // Keep the line short: erase it every 50 characters.
      if (i % 50 === 49) {
        term.type("\u0015");
        await term.waitFor("line erased", () => term.output.length > before + 1);
      }
    }
    term.ws.terminate();

    const resumeTimes: number[] = [];
    let id = sessionId;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const c = await connect(id);
      const ready = await c.frame("ready");
      if (!ready.resumed) throw new Error("resume did not re-attach");
      resumeTimes.push(performance.now() - t0);
      id = ready.sessionId;
      c.ws.terminate();
    }

    process.stdout.write(
      [
        `terminal keystroke echo round trip (${samples} samples, ws client → console → ssh → loopback sshd → pty echo → back)`,
        `  p50 ${fmt(pct(rtts, 50))}  p90 ${fmt(pct(rtts, 90))}  p99 ${fmt(pct(rtts, 99))}  max ${fmt(Math.max(...rtts))}`,
        `open terminal (certificate + ssh connect + first output), 5 runs: p50 ${fmt(pct(openTimes, 50))}  max ${fmt(Math.max(...openTimes))}`,
        `resume after drop (new WebSocket → ready, scrollback replayed), 5 runs: p50 ${fmt(pct(resumeTimes, 50))}  max ${fmt(Math.max(...resumeTimes))}`,
        "",
      ].join("\n"),
    );
  } finally {
    await console_.close();
    await sshd.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
