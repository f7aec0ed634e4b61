import { resolve } from "node:path";
import type { Command } from "commander";
import { buildCommitmentTypedData } from "../../lib/chain/build-commitment";
import { draftMessage, type TSignedCommitment } from "../../lib/chain/commitment";
import { readBuildsState } from "../config";
import { CliError } from "../errors";
import { type Output, runAction, type TCommonOptions, withCommonOptions } from "../output";
import { loadProject } from "../project";
import { openSession, type TSession } from "../session";
import { healthOfBuild } from "./health";
import {
  renderAppUrl,
  renderInstances,
  requireBuildId,
  type TInstance,
  unreachableNotice,
  waitUntil,
} from "./pack-status";

/** `form pack ship [PATH]` and `form pack rollback [PATH]`: place replicas of a build. */

type TShipOptions = TCommonOptions & {
  buildId?: string;
  replicas?: string;
  wait?: boolean;
  timeout?: string;
};
type TShipResult = Awaited<ReturnType<TSession["api"]["instances"]["ship"]["mutate"]>>;

/** Waits until every replica of `buildId` runs (or one failed). */
async function waitRunning(opts: { session: TSession; out: Output; buildId: string; timeoutMs: number }) {
  const started = Date.now();
  return waitUntil<TInstance[]>({
    what: "the instances to run",
    timeoutMs: opts.timeoutMs,
    intervalMs: 1000,
    check: async () => {
      const list = await opts.session.call((api) => api.instances.list.query({ buildId: opts.buildId }));
      const live = list.filter((i) => i.desired !== "deleted");
      const failed = live.find((i) => i.status === "failed");
      if (failed)
        throw new CliError(
          "remote",
          `instance ${failed.instanceId} failed: ${failed.reason ?? "unknown reason"}`,
        );
      const running = live.filter((i) => i.status === "running").length;
      opts.out.progress(`${running}/${live.length} running · ${Math.round((Date.now() - started) / 1000)} s`);
      return live.length > 0 && running === live.length ? live : undefined;
    },
    onUnreachable: (ms) => opts.out.progress(unreachableNotice(ms)),
  });
}

type TCommitment = TShipResult["commitment"];

/**
 * Signs the owner's EIP-712 BuildCommitment of the build's image digest with the keystore key (no
 * gas: the console relays it on chain). Undefined when the console has no chain configured.
 */
async function signCommitment(opts: {
  session: TSession;
  out: Output;
  buildId: string;
}): Promise<TSignedCommitment | undefined> {
  const { session } = opts;
  let draft: Awaited<ReturnType<TSession["api"]["instances"]["commitmentDraft"]["query"]>>;
  try {
    draft = await session.call((api) => api.instances.commitmentDraft.query({ buildId: opts.buildId }));
  } catch (error) {
    // An unreachable chain must not stop the ship: it goes out uncommitted and says so.
    if (error instanceof CliError && error.appCode === "UNAVAILABLE") {
      opts.out.note(`note: shipping without a build commitment — ${error.message}`);
      return undefined;
    }
    throw error;
  }
  if (!draft) return undefined;
  if (draft.owner.toLowerCase() !== session.account.address.toLowerCase())
    throw new CliError("remote", `the console offered a commitment for ${draft.owner}, not your key`);
  const typed = buildCommitmentTypedData({
    chainId: draft.chainId,
    contract: draft.contract,
    message: draftMessage(draft),
  });
  const signature = await session.account.signTypedData(typed);
  return { imageDigest: draft.imageDigest, nonce: draft.nonce, deadline: draft.deadline, signature };
}

/** Waits until the console's relay of the commitment is mined or failed. */
async function waitCommitment(opts: {
  session: TSession;
  out: Output;
  instanceId: string;
  timeoutMs: number;
}) {
  return waitUntil<TCommitment>({
    what: "the build commitment to be mined",
    timeoutMs: opts.timeoutMs,
    intervalMs: 500,
    check: async () => {
      const c = await opts.session.call((api) =>
        api.instances.commitment.query({ instanceId: opts.instanceId }),
      );
      return c.commitment.state === "pending" ? undefined : c.commitment;
    },
  });
}

/** One line on the build commitment: digest ⇄ transaction. */
export function renderCommitment(c: TCommitment): string {
  switch (c.state) {
    case "no-chain":
      return "commitment: no chain configured on this console";
    case "not-committed":
      return "commitment: none (shipped without a signed commitment)";
    case "failed":
      return `commitment: FAILED — ${c.reason ?? "unknown reason"}`;
    default: {
      const tx = c.txHash
        ? ` tx ${c.txHash}${c.blockNumber === null ? "" : ` (block ${c.blockNumber})`}`
        : "";
      const linked = c.existing ? ", already on chain" : "";
      return `commitment: ${c.state}${linked} — ${c.imageDigest ?? "?"} on chain ${c.chainId ?? "?"}${tx}`;
    }
  }
}

async function report(opts: { out: Output; session: TSession; result: TShipResult; options: TShipOptions }) {
  const { out, session, result, options } = opts;
  if (result.notice) out.note(`note: ${result.notice}`);
  const buildId = result.deployment.buildId;
  const timeoutMs = Number(options.timeout ?? "900") * 1000;
  const instances = options.wait ? await waitRunning({ session, out, buildId, timeoutMs }) : result.instances;
  const first = instances[0]?.instanceId;
  const commitment =
    options.wait && result.commitment.state === "pending" && first
      ? await waitCommitment({ session, out, instanceId: first, timeoutMs })
      : result.commitment;
  const health = options.wait ? await healthOfBuild(session, buildId) : new Map();
  out.result(
    {
      deployment: result.deployment,
      urls: result.deployment.app.urls,
      instances,
      notice: result.notice,
      commitment,
    },
    [
      `deployment ${result.deployment.name}: build ${buildId}, ${result.deployment.replicas} replica(s)`,
      `url: ${renderAppUrl(result.deployment.app)}`,
      renderCommitment(commitment),
      renderInstances(instances, health),
      options.wait ? "" : `watch: form pack status --build-id ${buildId}`,
      `addresses: form manage get-ip --build-id ${buildId}`,
    ]
      .filter(Boolean)
      .join("\n"),
  );
}

async function ship(out: Output, path: string, opts: TShipOptions): Promise<void> {
  const session = await openSession(opts);
  let buildId: string;
  if (opts.buildId !== undefined) buildId = requireBuildId(opts.buildId);
  else {
    const last = (await readBuildsState(session.dir))[path];
    if (!last)
      throw new CliError(
        "user",
        `no build was made from ${path} — run \`form pack build\` there, or pass --build-id`,
      );
    buildId = last.buildId;
    // As the original says: ship from the directory of the build, with the Formfile it was made from.
    const project = await loadProject(path);
    if (last.formfileDigest !== undefined && last.formfileDigest !== project.digest)
      throw new CliError(
        "user",
        `the Formfile in ${path} changed since build ${buildId.slice(0, 12)} was made from it — run \`form pack build\` again, or pass --build-id to ship that build anyway`,
      );
  }
  const replicas = opts.replicas === undefined ? undefined : Number(opts.replicas);
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > 64))
    throw new CliError("user", "--replicas must be a whole number from 1 to 64");
  out.progress(`shipping build ${buildId.slice(0, 12)}…`);
  const commitment = await signCommitment({ session, out, buildId });
  const input = await session.sign("instance.ship", {
    buildId,
    ...(replicas === undefined ? {} : { replicas }),
    ...(commitment ? { commitment } : {}),
  });
  const result = await session.call((api) => api.instances.ship.mutate(input));
  await report({ out, session, result, options: opts });
}

/** The newest built build of `name` other than the one deployed now. */
async function previousBuild(session: TSession, name: string): Promise<string> {
  const deployments = await session.call((api) => api.instances.deployments.query());
  const current = deployments.find((d) => d.name === name)?.buildId;
  const builds = await session.call((api) => api.builds.list.query({ limit: 200, all: false }));
  const candidates = builds
    .filter((b) => b.name === name && b.imageDigest !== null && b.buildId !== current)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const pick = candidates[0];
  if (!pick) throw new CliError("user", `no earlier build of ${name} to roll back to — pass --build-id`);
  return pick.buildId;
}

async function rollback(out: Output, path: string, opts: TShipOptions & { name?: string }): Promise<void> {
  const name = opts.name ?? (await loadProject(path)).formfile.name;
  const session = await openSession(opts);
  const buildId =
    opts.buildId !== undefined ? requireBuildId(opts.buildId) : await previousBuild(session, name);
  out.progress(`rolling ${name} back to ${buildId.slice(0, 12)}…`);
  const input = await session.sign("deployment.rollback", { name, buildId });
  const result = await session.call((api) => api.instances.rollback.mutate(input));
  await report({ out, session, result, options: opts });
}

function waitOptions(command: Command): Command {
  return command
    .option("--wait", "wait until every replica runs")
    .option("--timeout <seconds>", "with --wait: give up after this long", "900");
}

/** Adds `ship` and `rollback` to the `pack` command group. */
export function registerPackShip(pack: Command): void {
  const shipCommand = pack
    .command("ship")
    .description("deploy the latest build made from PATH (or --build-id) as redundant instances")
    .argument("[path]", "the project directory the build was made from", ".")
    .option("--build-id <id>", "ship this build instead of the directory's latest")
    .option("--replicas <n>", "number of instances on distinct nodes (default 3, fewer if fewer nodes)");
  withCommonOptions(waitOptions(shipCommand))
    .addHelpText(
      "after",
      `
Examples:
  $ form pack ship                          # latest build of the current directory
  $ form pack ship --build-id 3f9c…e1 --replicas 1 --wait`,
    )
    .action(runAction(async (out, path: string, opts: TShipOptions) => ship(out, resolve(path), opts)));

  const rollbackCommand = pack
    .command("rollback")
    .description("redeploy an earlier build of the same NAME (default: the newest one not running now)")
    .argument("[path]", "the project directory (its Formfile gives NAME)", ".")
    .option("--build-id <id>", "the earlier build to deploy")
    .option("--name <name>", "the deployment's NAME (instead of reading PATH's Formfile)");
  withCommonOptions(waitOptions(rollbackCommand))
    .addHelpText("after", "\nExample:\n  $ form pack rollback --build-id 77ab…90 --wait")
    .action(
      runAction(async (out, path: string, opts: TShipOptions & { name?: string }) =>
        rollback(out, resolve(path), opts),
      ),
    );
}
