import type { Command } from "commander";
import { CliError } from "../errors";
import { type Output, runAction, type TCommonOptions, withCommonOptions } from "../output";
import { openSession } from "../session";
import { healthOfBuild, renderHealth, renderHealthDetail } from "./health";
import { requireBuildId } from "./pack-status";

/**
 * `form manage get-ip` and `form manage start|stop|restart|delete --build-id ID [--instance ID]`;
 * `stop --suspend` keeps the guest's memory and a later `start` resumes it.
 */

type TInstanceOptions = TCommonOptions & { buildId?: string; instance?: string; suspend?: boolean };
type TAction = "start" | "stop" | "restart" | "delete";

/** The word a request is shown with: a stop with `--suspend` is a suspend. */
export function actionVerb(action: TAction, opts: Pick<TInstanceOptions, "suspend">): string {
  return action === "stop" && opts.suspend ? "suspend" : action;
}

/**
 * The instances a verb acts on: the one named by `--instance`, else every instance of the build
 * not being deleted — and for a suspend only the running ones (a stopped or suspended VM has no
 * memory to keep; the console refuses those).
 */
export function actionTargets<T extends { instanceId: string; desired: string; status: string }>(
  all: readonly T[],
  action: TAction,
  opts: Pick<TInstanceOptions, "instance" | "suspend">,
): T[] {
  const live = all.filter((i) => i.desired !== "deleted");
  if (opts.instance !== undefined) return live.filter((i) => i.instanceId === opts.instance);
  return actionVerb(action, opts) === "suspend" ? live.filter((i) => i.status === "running") : live;
}

async function getIp(out: Output, opts: TInstanceOptions): Promise<void> {
  const buildId = requireBuildId(opts.buildId);
  const session = await openSession(opts);
  const rows = await session.call((api) => api.instances.getIp.query({ buildId }));
  const health = await healthOfBuild(session, buildId);
  const live = rows
    .filter((r) => r.status !== "deleted")
    .map((r) => ({ ...r, health: health.get(r.instanceId) ?? null }));
  const urls = live[0]?.urls ?? [];
  out.result(
    live,
    live.length === 0
      ? `no instances of build ${buildId.slice(0, 12)} — ship it with \`form pack ship --build-id ${buildId}\``
      : [
          ...(urls.length > 0 ? [`url  ${urls.map((u) => u.url).join("  ")}`] : []),
          ...live.map((r) => {
            const state = renderHealth(r.health ?? undefined);
            const line = `${r.formnetIp ?? "(no address yet)"}  ${r.instanceId}  ${r.status}  node ${r.nodeId.slice(0, 12)}${state ? `  ${state}` : ""}`;
            const why = [r.placement, r.status === "running" ? null : r.reason].filter(Boolean);
            const detail = renderHealthDetail(r.health ?? undefined);
            return [line, ...(why.length > 0 ? [`    ${why.join("; ")}`] : []), ...detail].join("\n");
          }),
        ].join("\n"),
  );
}

async function act(out: Output, action: TAction, opts: TInstanceOptions): Promise<void> {
  const buildId = requireBuildId(opts.buildId);
  const session = await openSession(opts);
  const all = await session.call((api) => api.instances.list.query({ buildId }));
  const verb = actionVerb(action, opts);
  const targets = actionTargets(all, action, opts);
  if (targets.length === 0)
    throw new CliError(
      "user",
      opts.instance !== undefined
        ? `no instance ${opts.instance} in build ${buildId.slice(0, 12)} — list them with \`form manage get-ip --build-id ${buildId}\``
        : verb === "suspend" && all.some((i) => i.desired !== "deleted")
          ? `build ${buildId.slice(0, 12)} has no running instances to suspend — see \`form manage get-ip --build-id ${buildId}\``
          : `build ${buildId.slice(0, 12)} has no instances — ship it first`,
    );
  if (action === "delete" && opts.instance === undefined) {
    await deleteDeployments(out, session, buildId, targets);
    return;
  }
  const results = [];
  for (const target of targets) {
    out.progress(`${verb} ${target.instanceId}…`);
    const params = { instanceId: target.instanceId };
    results.push(
      await session.call(async (api) => {
        switch (action) {
          case "start":
            return api.instances.start.mutate(await session.sign("instance.start", params));
          case "stop":
            return api.instances.stop.mutate(
              await session.sign("instance.stop", opts.suspend ? { ...params, suspend: true } : params),
            );
          case "restart":
            return api.instances.restart.mutate(await session.sign("instance.restart", params));
          case "delete":
            return api.instances.delete.mutate(await session.sign("instance.delete", params));
        }
      }),
    );
  }
  out.result(
    results,
    results
      .map((r) =>
        verb === "suspend"
          ? `suspend requested: ${r.instanceId} (now ${r.status}; suspended once its node has saved the guest's memory — \`form manage start\` resumes it)`
          : `${action} requested: ${r.instanceId} (now ${r.status}, wanted ${r.desired})`,
      )
      .join("\n"),
  );
}

/**
 * `delete --build-id B` without `--instance`: ends the deployment(s) running B in one signed call
 * each, so no replica is placed again on the capacity the deleted ones free.
 */
async function deleteDeployments(
  out: Output,
  session: Awaited<ReturnType<typeof openSession>>,
  buildId: string,
  targets: { deploymentId: string }[],
): Promise<void> {
  const results = [];
  for (const deploymentId of new Set(targets.map((t) => t.deploymentId))) {
    out.progress(`delete deployment ${deploymentId}…`);
    const params = { deploymentId };
    results.push(
      await session.call(async (api) =>
        api.instances.deleteDeployment.mutate(await session.sign("deployment.delete", params)),
      ),
    );
  }
  out.result(
    results,
    results
      .map(
        (r) =>
          `deleted deployment ${r.name} (build ${buildId.slice(0, 12)}): ${r.deletedInstances.length} instance(s) being removed, none will be placed again`,
      )
      .join("\n"),
  );
}

/** Adds get-ip and the instance lifecycle verbs to the `manage` command group. */
export function registerManageInstances(manage: Command): void {
  const getIpCommand = manage
    .command("get-ip")
    .description("list the formnet IP addresses of a build's instances")
    .option("--build-id <id>", "the build (printed by `form pack build`)");
  withCommonOptions(getIpCommand)
    .addHelpText(
      "after",
      "\nExample:\n  $ form manage get-ip --build-id 3f9c…e1\n  $ ssh webdev@$(form manage get-ip --build-id 3f9c…e1 --json | jq -r '.[0].formnetIp')",
    )
    .action(runAction(async (out, opts: TInstanceOptions) => getIp(out, opts)));

  const verbs: Array<[TAction, string]> = [
    ["start", "start stopped instances of a build"],
    ["stop", "stop a build's instances (the VM is shut down, its disk kept; --suspend keeps its memory too)"],
    ["restart", "restart a build's instances"],
    ["delete", "delete a build's deployment: all its instances and their disks (--instance: just that one)"],
  ];
  for (const [action, description] of verbs) {
    const command = manage
      .command(action)
      .description(description)
      .option("--build-id <id>", "the build whose instances to act on")
      .option("--instance <id>", "only this instance (i-…); default: all of the build's instances");
    if (action === "stop") {
      command.option(
        "--suspend",
        "suspend a build's instances: the guest's memory is saved and `start` resumes it",
      );
    }
    const suspendExample =
      action === "stop"
        ? "\n  $ form manage stop --suspend --build-id 3f9c…e1   # later: form manage start"
        : "";
    withCommonOptions(command)
      .addHelpText(
        "after",
        `\nExample:\n  $ form manage ${action} --build-id 3f9c…e1 --instance i-0123456789abcdef0123${suspendExample}`,
      )
      .action(runAction(async (out, opts: TInstanceOptions) => act(out, action, opts)));
  }
}
