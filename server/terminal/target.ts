import type { DeploymentViews } from "@/server/services/deployments/deployment-views";
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
export function instanceTargetResolver(views: Pick<DeploymentViews, "terminalTarget">): TResolveTarget {
  return async (opts) => {
    const target = await views.terminalTarget(opts);
    if (!target.ok) throw new TerminalRefusal(target.code, target.message);
    return { host: target.host, username: target.username, hasEntrypoint: target.hasEntrypoint };
  };
}
