import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type Command, Option } from "commander";
import { startRelayedPaths, type TRelayedPaths } from "../../core/formnet/relayed-paths";
import {
  prepareUserKey,
  readUserTunnelConfig,
  readUserTunnelState,
  runUserTunnel,
  stopUserTunnel,
  userTunnelPaths,
  writeUserTunnelConfig,
} from "../../core/formnet/user-tunnel";
import { formnetInterfaceName } from "../../lib/formnet/naming";
import { configPaths } from "../config";
import { cliEnv } from "../env";
import { CliError } from "../errors";
import { laptopPeersFrom } from "../formnet-peers";
import { type Output, runAction, type TCommonOptions, withCommonOptions } from "../output";
import { openSession, resolvePassword, type TSession } from "../session";
import {
  formatPaths,
  pathsStatusFile,
  readPathsStatus,
  registerManageFormnetPaths,
  shimCommandIn,
} from "./manage-formnet-paths";
import { waitUntil } from "./pack-status";

/**
 * `form manage join|formnet-up|leave`: this machine as a formnet member. The WireGuard private key
 * is created in the config dir's `formnet/` and never sent; the console sees the public key only.
 */

type TTunnelOptions = TCommonOptions & {
  foreground?: boolean;
  passwordStdin?: boolean;
  netns?: string;
  routingTable?: string;
  intervalMs?: string;
  relayRetryMs?: string;
  relaySilenceMs?: string;
};

/** The running CLI entry (sources or bundle), to start `formnet-up --foreground` in the background. */
const cliEntry = () => cliEnv().FORM_CLI_ENTRY ?? fileURLToPath(new URL("../bin.mjs", import.meta.url));

async function peersFromConsole(session: TSession, selfPublicKey: string) {
  const peers = await session.call((api) => api.formnet.peers.query());
  const instances = await session.call((api) => api.instances.list.query({ all: false }));
  return laptopPeersFrom({ peers, selfPublicKey, instances });
}

async function join(out: Output, opts: TCommonOptions): Promise<void> {
  const session = await openSession(opts);
  const stateDir = configPaths(session.dir).formnet;
  const { publicKey } = await prepareUserKey(stateDir);
  out.progress("joining formnet…");
  const input = await session.sign("formnet.join", { publicKey, endpoints: [] });
  const joined = await session.call((api) => api.formnet.join.mutate(input));
  const interfaceName = formnetInterfaceName({ role: "user", id: publicKey });
  const instances = await session.call((api) => api.instances.list.query({ all: false }));
  const peers = laptopPeersFrom({ peers: joined.peers, selfPublicKey: publicKey, instances });
  await writeUserTunnelConfig(stateDir, {
    interfaceName,
    address: joined.ip,
    cidr: joined.cidr,
    listenPort: 0,
    peers,
  });
  // A running tunnel re-reads its peers on SIGHUP.
  const running = await readUserTunnelState(stateDir);
  if (running) process.kill(running.pid, "SIGHUP");
  out.result(
    { address: joined.ip, cidr: joined.cidr, publicKey, interfaceName, peers: peers.length },
    `✓ joined formnet as ${joined.ip} (${joined.cidr}), ${peers.length} peer(s)\nnext: form manage formnet-up`,
  );
}

/** Reads the keystore password from stdin (the background tunnel gets it from its parent). */
async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8").replace(/\n$/, "");
}

async function foreground(out: Output, opts: TTunnelOptions): Promise<void> {
  const password = opts.passwordStdin ? await passwordFromStdin() : opts.password;
  const session = await openSession({ ...opts, ...(password === undefined ? {} : { password }) });
  const stateDir = configPaths(session.dir).formnet;
  const config = await readUserTunnelConfig(stateDir).catch(() => {
    throw new CliError("user", "this machine has not joined formnet — run `form manage join` first");
  });
  const { publicKey } = await prepareUserKey(stateDir);
  let paths: TRelayedPaths | undefined;
  // Pull from the console; keep the file current too, so a restart starts from the latest list.
  const fetchPeers = async () => {
    const peers = await peersFromConsole(session, publicKey);
    await writeUserTunnelConfig(stateDir, { ...config, peers });
    paths?.setPlan(peers);
    return peers;
  };
  const tunnel = await runUserTunnel({
    stateDir,
    fetchPeers,
    ...(opts.netns ? { netns: opts.netns } : {}),
    ...(opts.routingTable ? { routingTable: Number(opts.routingTable) } : {}),
    ...(opts.intervalMs ? { intervalMs: Number(opts.intervalMs) } : {}),
  });
  // Direct first; through the console's relay when a peer has no direct path (NAT on both sides).
  paths = await startRelayedPaths({
    iface: tunnel.iface,
    consoleUrl: session.host,
    headers: session.readHeaders,
    statusPath: pathsStatusFile(stateDir),
    ...(opts.netns ? { shimCommand: shimCommandIn(opts.netns, cliEntry()) } : {}),
    selector: {
      ...(opts.relayRetryMs
        ? { retryMs: Number(opts.relayRetryMs), retryMaxMs: 4 * Number(opts.relayRetryMs) }
        : {}),
      ...(opts.relaySilenceMs ? { silenceMs: Number(opts.relaySilenceMs) } : {}),
    },
  });
  paths.setPlan((await readUserTunnelConfig(stateDir)).peers);
  out.note(`formnet up: ${tunnel.iface.name} ${config.address} (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      const done = () => tunnel.stop().then(resolve, resolve);
      (paths?.stop() ?? Promise.resolve()).then(done, done);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    process.on("SIGHUP", () => {
      tunnel.sync.refreshNow().catch(() => undefined);
    });
  });
}

async function background(out: Output, opts: TTunnelOptions): Promise<void> {
  const password = await resolvePassword(opts, "your key");
  const session = await openSession({ ...opts, password });
  const stateDir = configPaths(session.dir).formnet;
  await readUserTunnelConfig(stateDir).catch(() => {
    throw new CliError("user", "this machine has not joined formnet — run `form manage join` first");
  });
  const existing = await readUserTunnelState(stateDir);
  if (existing) {
    const peers = await readPathsStatus(stateDir);
    out.result(
      { ...existing, paths: peers },
      `formnet is already up: ${existing.interfaceName} ${existing.address} (pid ${existing.pid})${peers ? `\n${formatPaths(peers)}` : ""}`,
    );
    return;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const paths = userTunnelPaths(stateDir);
  const fd = openSync(paths.log, "a", 0o600);
  const args = [
    cliEntry(),
    "manage",
    "formnet-up",
    "--foreground",
    "--password-stdin",
    "--host",
    session.host,
  ];
  if (opts.netns) args.push("--netns", opts.netns);
  if (opts.routingTable) args.push("--routing-table", opts.routingTable);
  if (opts.intervalMs) args.push("--interval-ms", opts.intervalMs);
  if (opts.relayRetryMs) args.push("--relay-retry-ms", opts.relayRetryMs);
  if (opts.relaySilenceMs) args.push("--relay-silence-ms", opts.relaySilenceMs);
  // The key stays encrypted on disk: the child gets the password over a pipe, never in argv or env.
  const child = spawn(process.execPath, args, { detached: true, stdio: ["pipe", fd, fd], cwd: "/" });
  closeSync(fd);
  child.stdin?.end(password);
  child.unref();
  out.progress("bringing formnet up…");
  const state = await waitUntil({
    what: `the formnet tunnel to come up (see ${paths.log})`,
    timeoutMs: 60_000,
    intervalMs: 200,
    check: async () => {
      if (child.exitCode !== null)
        throw new CliError(
          "remote",
          `the formnet tunnel exited with code ${child.exitCode} — see ${paths.log}`,
        );
      const s = await readUserTunnelState(stateDir);
      return s?.pid === child.pid ? s : undefined;
    },
  });
  out.result(
    { ...state, log: paths.log },
    `✓ formnet up: ${state.interfaceName} ${state.address} (pid ${state.pid}, log ${paths.log})`,
  );
}

async function leave(out: Output, opts: TCommonOptions): Promise<void> {
  const session = await openSession(opts);
  const stateDir = configPaths(session.dir).formnet;
  await stopUserTunnel({ stateDir });
  const { publicKey } = await prepareUserKey(stateDir);
  const input = await session.sign("formnet.leave", { publicKey });
  const result = await session.call((api) => api.formnet.leave.mutate(input));
  await rm(userTunnelPaths(stateDir).config, { force: true });
  out.result(
    { left: result.left, publicKey },
    result.left
      ? "✓ left formnet (tunnel stopped, address released)"
      : "this machine was not a formnet member",
  );
}

/** Adds join, formnet-up and leave to the `manage` command group. */
export function registerManageFormnet(manage: Command): void {
  withCommonOptions(
    manage
      .command("join")
      .description("join formnet: register this machine's WireGuard key, get an address + peers"),
  )
    .addHelpText("after", "\nExample:\n  $ sudo form manage join && sudo form manage formnet-up")
    .action(runAction(async (out, opts: TCommonOptions) => join(out, opts)));

  const up = manage
    .command("formnet-up")
    .description(
      "bring the formnet tunnel up in the background (peers refreshed from the console every 60 s)",
    )
    .option("--foreground", "stay attached (Ctrl-C stops the tunnel)")
    .addOption(new Option("--password-stdin", "read the keystore password from stdin").hideHelp())
    .addOption(new Option("--netns <name>", "run the interface in this network namespace").hideHelp())
    .addOption(
      new Option("--routing-table <n>", "route formnet in this table (hosts shared with a node)").hideHelp(),
    )
    .addOption(new Option("--interval-ms <ms>", "peer refresh period").hideHelp())
    .addOption(
      new Option(
        "--relay-retry-ms <ms>",
        "first wait before a relayed peer is tried direct again (doubling up to 4×)",
      ).hideHelp(),
    )
    .addOption(
      new Option(
        "--relay-silence-ms <ms>",
        "a direct peer heard nothing from for this long is moved to the relay",
      ).hideHelp(),
    );
  withCommonOptions(up)
    .addHelpText(
      "after",
      "\nNeeds root (WireGuard). The log is formnet/formnet.log in the config dir.\n\nExample:\n  $ sudo form manage formnet-up",
    )
    .action(
      runAction(async (out, opts: TTunnelOptions) =>
        opts.foreground ? foreground(out, opts) : background(out, opts),
      ),
    );

  withCommonOptions(
    manage.command("leave").description("stop the formnet tunnel and release this machine's address"),
  )
    .addHelpText("after", "\nExample:\n  $ sudo form manage leave")
    .action(runAction(async (out, opts: TCommonOptions) => leave(out, opts)));
  registerManageFormnetPaths(manage);
}
