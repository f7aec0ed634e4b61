import { ZFormfile } from "@/lib/formfile/canonical";
import type { TDatabase } from "@/server/db/client";
import { createBuildsRepository } from "@/server/db/repositories/builds-repository";
import { createInstancesRepository } from "@/server/db/repositories/instances-repository";
import { TerminalRefusal } from "./sessions";

/**
 * Where a terminal of an instance connects: the VM's formnet address and the Formfile user; and
 * whether the Formfile has an ENTRYPOINT (whose unit the app-log view shows).
 */
export type TTerminalTarget = { host: string; username: string; hasEntrypoint: boolean };

/** Decides whether `owner` may open a terminal on `instanceId`, and where it goes. */
export type TResolveTarget = (opts: { owner: string; instanceId: string }) => Promise<TTerminalTarget>;

/**
 * The production resolver: the instance must exist, belong to the caller, run and have a formnet
 * address; the SSH user is the first USER of its build's Formfile (the certificate's principal).
 */
export function databaseTargetResolver(db: TDatabase): TResolveTarget {
  const instances = createInstancesRepository(db);
  const builds = createBuildsRepository(db);
  return async ({ owner, instanceId }) => {
    const instance = await instances.find(instanceId);
    // Another account's instance gets the very answer of a missing one (as the API's NOT_FOUND):
    // the terminal must not reveal which instance ids exist.
    if (!instance || instance.status === "deleted" || instance.owner.toLowerCase() !== owner.toLowerCase())
      throw new TerminalRefusal("not-found", `There is no instance ${instanceId} in your account.`);
    if (instance.status !== "running")
      throw new TerminalRefusal(
        "instance-not-running",
        `Instance ${instanceId} is ${instance.status}; start it to open a terminal.`,
      );
    if (!instance.formnetIp)
      throw new TerminalRefusal(
        "no-formnet-ip",
        `Instance ${instanceId} has not reported its formnet address yet.`,
      );
    const build = await builds.find(instance.buildId);
    const formfile = build ? ZFormfile.safeParse(JSON.parse(build.formfile)) : null;
    const username = formfile?.success ? formfile.data.users[0]?.username : undefined;
    if (!username)
      throw new TerminalRefusal(
        "auth-refused",
        `The Formfile of build ${instance.buildId} declares no USER, so there is no account to log in to.`,
      );
    return { host: instance.formnetIp, username, hasEntrypoint: Boolean(formfile?.data?.entrypoint) };
  };
}
