import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { createLogger } from "@/core/log";
import { AGENT_VERSION, NodeAgent } from "./agent";
import { agentEnv } from "./config/env";
import { ConfigError } from "./config/errors";
import { runInit } from "./config/init";
import { loadConfig } from "./config/load";
import { resolvePassword, unlockOperatorKey } from "./config/operator-key";
import { dataPaths } from "./config/paths";
import { formatPreflight, PreflightError } from "./config/preflight-report";
import { createTerminalPrompter } from "./config/prompt";
import { DEFAULT_DATA_DIR } from "./config/schema";
import { processAlive, readStatusFile } from "./config/status-file";

/** Exit codes: scripts and systemd can tell "fix the config" from "fix the host" from a crash. */
const EXIT = { ok: 0, crash: 1, config: 2, preflight: 3 } as const;

const out = (text: string) => process.stdout.write(text);
const err = (text: string) => process.stderr.write(text);

function int(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("expected a whole number");
  return Number(value);
}

function onOff(value: string): boolean {
  if (value !== "on" && value !== "off") throw new InvalidArgumentError("expected on or off");
  return value === "on";
}

function defaultConfigPath(): string {
  return agentEnv().NODE_AGENT_CONFIG ?? join(DEFAULT_DATA_DIR, "agent.json");
}

function program(): Command {
  const cli = new Command("node-agent")
    .description("Formation node agent: runs build and VM jobs for the Formation console")
    .version(AGENT_VERSION);

  cli
    .command("init")
    .description("create or update the agent config and operator keystore, then check the host")
    .option("-y, --yes", "do not ask; use flags and defaults")
    .option("--force", "replace an existing operator keystore")
    .option("--private-key <hex>", "import this operator private key")
    .option("--generate-key", "generate a new operator key")
    .option("--password <password>", "keystore password (prefer NODE_AGENT_PASSWORD)")
    .option("--password-file <path>", "read the keystore password from a file")
    .option("--console-url <url>", "console base URL, e.g. https://console.example.org")
    .option("--chain-rpc-url <url>", "EVM JSON-RPC URL of the orchestrator's chain")
    .option("--chain-id <id>", "chain id (default 31337, the devnet)", int)
    .option("--contract-address <address>", "orchestrator contract address")
    .option("--region <slug>", "region label, e.g. eu-west")
    .option("--vcpu <n>", "vCPUs offered to the network", int)
    .option("--memory-mb <n>", "memory offered (MB)", int)
    .option("--disk-gb <n>", "disk offered (GB)", int)
    .option("--data-dir <path>", `data directory (default ${DEFAULT_DATA_DIR})`)
    .option("--cache-dir <path>", "builder cache directory (default /var/cache/formation)")
    .option("--formnet-port <port>", "formnet WireGuard UDP port (default 51820)", int)
    .option("--formnet-endpoint <host:port...>", "public formnet endpoint(s) peers may dial")
    .option("--bridge-name <name>", "Linux bridge for this agent's VMs")
    .option("--images-keep-recent <n>", "unused images the image GC keeps (default 5)", int)
    .option("--images-min-age-minutes <n>", "the image GC keeps images used this recently (default 30)", int)
    .option(
      "--vm-snapshots <on|off>",
      "launch new VMs from a snapshot of their image's first boot (default on)",
      onOff,
    )
    .option("--skip-preflight", "do not check the host after writing the config")
    .action(async (flags: Record<string, unknown>) => {
      const passwordFromFile = await resolvePassword({
        ...(typeof flags.passwordFile === "string" ? { passwordFile: flags.passwordFile } : {}),
        env: {},
      });
      const interactive = !flags.yes && process.stdin.isTTY === true;
      const prompter = interactive ? createTerminalPrompter() : undefined;
      try {
        const { ready } = await runInit({
          flags: {
            ...flags,
            ...(passwordFromFile === undefined ? {} : { password: passwordFromFile }),
            yes: !interactive,
          },
          ...(prompter ? { prompter } : {}),
          out: process.stdout,
          skipPreflight: flags.skipPreflight === true,
        });
        process.exitCode = ready ? EXIT.ok : EXIT.preflight;
      } finally {
        prompter?.close();
      }
    });

  cli
    .command("run")
    .description("run the agent in the foreground (systemd runs this)")
    .option("-c, --config <path>", "agent config", defaultConfigPath())
    .option("--password-file <path>", "read the keystore password from a file")
    .addOption(new Option("--skip-preflight", "do not check the host (tests only)").hideHelp())
    .action(async (flags: { config: string; passwordFile?: string; skipPreflight?: boolean }) => {
      await runAgent(flags);
    });

  cli
    .command("status")
    .description("show what the local agent last reported")
    .option("-c, --config <path>", "agent config", defaultConfigPath())
    .option("--json", "print the raw status JSON")
    .action(async (flags: { config: string; json?: boolean }) => {
      const config = await loadConfig(flags.config);
      const status = await readStatusFile(dataPaths(config.dataDir, config).status);
      if (flags.json) {
        out(`${JSON.stringify(status ?? null, null, 2)}\n`);
        return;
      }
      out(`operator   ${config.operator.address}\nconsole    ${config.console.url}\n`);
      if (!status) {
        out("agent      never ran with this data directory\n");
        return;
      }
      const alive = !status.stopped && processAlive(status.pid);
      out(
        `agent      ${alive ? `running (pid ${status.pid})` : "not running"}, v${status.agentVersion}, since ${status.startedAt}\n`,
      );
      out(`connection ${alive ? status.connection : "-"}${status.nodeId ? `, node ${status.nodeId}` : ""}\n`);
      if (alive && status.connectionProblem) out(`problem    ${status.connectionProblem}\n`);
      out(
        `formnet    ${status.formnet.address ?? "-"} on ${status.formnet.interface ?? "-"} (key ${status.formnet.publicKey})\n`,
      );
      out(`accel      ${status.accel}\nheartbeat  ${status.lastHeartbeatAt ?? "-"}\n`);
      out(`instances  ${status.instances.length}\n`);
      for (const vm of status.instances) out(`  ${vm.instanceId}  ${vm.status}  ${vm.ipv4}\n`);
      out(`jobs       ${status.jobs.length}\n`);
      for (const job of status.jobs)
        out(`  ${job.jobId}  ${job.kind}  ${job.state}${job.phase ? ` (${job.phase})` : ""}\n`);
    });
  return cli;
}

async function runAgent(flags: {
  config: string;
  passwordFile?: string;
  skipPreflight?: boolean;
}): Promise<void> {
  const config = await loadConfig(flags.config);
  const paths = dataPaths(config.dataDir, config);
  let password = await resolvePassword(
    flags.passwordFile === undefined ? {} : { passwordFile: flags.passwordFile },
  );
  if (password === undefined && process.stdin.isTTY) {
    const prompter = createTerminalPrompter();
    password = await prompter.secret(`Password for ${paths.keystore}`);
    prompter.close();
  }
  if (password === undefined) {
    throw new ConfigError({
      code: "noPassword",
      message: "no keystore password",
      hint: "set NODE_AGENT_PASSWORD or NODE_AGENT_PASSWORD_FILE, or pass --password-file",
    });
  }
  const account = await unlockOperatorKey({ path: paths.keystore, password });
  const logger = createLogger("node-agent", { operator: account.address });
  const agent = new NodeAgent({ config, account, logger, skipPreflight: flags.skipPreflight === true });
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting without waiting for jobs");
      process.exit(EXIT.crash);
    }
    logger.info({ signal }, "shutdown requested");
    stopping = true;
    agent.stop().then(
      () => process.exit(EXIT.ok),
      (error: unknown) => {
        logger.error({ err: error }, "error during shutdown");
        process.exit(EXIT.crash);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  await agent.start();
}

/** Entry point of `node-agent`; prints errors for people and sets a meaningful exit code. */
export async function main(argv: string[] = process.argv): Promise<void> {
  // `node-agent status | head` closes the pipe early; that is not an error worth a stack trace.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(EXIT.ok);
  });
  try {
    await program().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      err(`error: ${error.message}\n  → ${error.hint}\n`);
      process.exitCode = EXIT.config;
    } else if (error instanceof PreflightError) {
      err(formatPreflight(error.report));
      process.exitCode = EXIT.preflight;
    } else {
      createLogger("node-agent").fatal({ err: error }, "node agent failed");
      err(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = EXIT.crash;
    }
  }
}

await main();
