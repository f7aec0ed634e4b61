import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { runShimChild } from "../../core/formnet/relay-shims";
import type { TPathsStatus } from "../../core/formnet/relayed-paths";
import { configPaths } from "../config";
import { CliError } from "../errors";
import { type Output, runAction, type TCommonOptions, withCommonOptions } from "../output";
import { openSession } from "../session";

/** Where the running tunnel writes its per-peer paths (relay link, direct or relayed, RTT). */
export function pathsStatusFile(stateDir: string): string {
  return join(stateDir, "paths.json");
}

/** The command that runs the relay shims in the tunnel's namespace (`--netns`), given WireGuard's port. */
export function shimCommandIn(netns: string, cliEntry: string): (port: number) => [string, string[]] {
  return (port) => [
    "ip",
    [
      "netns",
      "exec",
      netns,
      process.execPath,
      cliEntry,
      "manage",
      "formnet-relay-shim",
      "--wg-port",
      String(port),
    ],
  ];
}

function age(iso: string | null): string {
  if (!iso) return "never";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

/** The per-peer table `formnet-up` and `formnet-status` print. */
export function formatPaths(status: TPathsStatus): string {
  const relay = status.relay.up
    ? `relay: connected (${status.relay.rttMs ?? "?"} ms to the console)`
    : `relay: not connected${status.relay.lastError ? ` (${status.relay.lastError})` : ""}`;
  const rows = status.peers.map(
    (p) =>
      `  ${(p.address ?? "?").padEnd(15)} ${p.path.padEnd(13)} ${(p.endpoint ?? "-").padEnd(21)} handshake ${age(p.lastHandshake).padEnd(11)} rtt ${p.rttMs === null ? "-" : `${p.rttMs.toFixed(1)} ms`}`,
  );
  return [relay, ...rows].join("\n");
}

/** The last status the running tunnel wrote, or null when it has written none yet. */
export async function readPathsStatus(stateDir: string): Promise<TPathsStatus | null> {
  const text = await readFile(pathsStatusFile(stateDir), "utf8").catch(() => null);
  return text ? (JSON.parse(text) as TPathsStatus) : null;
}

async function status(out: Output, opts: TCommonOptions): Promise<void> {
  const session = await openSession(opts);
  const paths = await readPathsStatus(configPaths(session.dir).formnet);
  if (!paths) throw new CliError("user", "formnet is not up on this machine — run `form manage formnet-up`");
  out.result(paths, formatPaths(paths));
}

/** Adds `formnet-status` and the hidden relay shim entry to the `manage` command group. */
export function registerManageFormnetPaths(manage: Command): void {
  withCommonOptions(
    manage
      .command("formnet-status")
      .description("per peer: direct or relayed, endpoint, last handshake, round-trip time"),
  )
    .addHelpText("after", "\nExample:\n  $ form manage formnet-status")
    .action(runAction(async (out, opts: TCommonOptions) => status(out, opts)));
  manage
    .command("formnet-relay-shim", { hidden: true })
    .requiredOption("--wg-port <port>", "the local WireGuard port")
    .action(async (opts: { wgPort: string }) => {
      await runShimChild({
        wireguardPort: Number(opts.wgPort),
        input: process.stdin,
        output: process.stdout,
      });
      // Its parent is gone: nothing else may keep this process (an open stdin would).
      process.exit(0);
    });
}
