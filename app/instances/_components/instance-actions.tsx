"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { useToast } from "../../_components/toasts";
import { buttonClass } from "../../_components/ui";
import { shortId } from "../../_lib/format";
import { useTRPC, useTRPCClient } from "../../_lib/trpc";
import { actionErrorMessage, useSignedAction } from "../../_lib/use-signed-action";

/** `suspend` is a stop that keeps the guest's memory (signed `instance.stop` with `suspend`). */
type TAction = "start" | "stop" | "suspend" | "restart" | "delete";

const DONE: Record<TAction, string> = {
  start: "Starting",
  stop: "Stopping",
  suspend: "Suspending",
  restart: "Restarting",
  delete: "Deleting",
};

const CONFIRM: Partial<Record<TAction, string>> = {
  stop: "Stop this instance? Its VM shuts down until you start it again.",
  suspend:
    "Suspend this instance? Its VM pauses and its memory is saved on its node; Start resumes it with its processes as they were.",
  restart: "Restart this instance? Open SSH sessions will drop.",
  delete:
    "Delete this replica? Its VM and disk are destroyed and the deployment keeps one replica fewer; this cannot be undone.",
};

/** Start / stop / restart / delete (each signed; destructive ones confirmed) and rollback. */
export function InstanceActions(props: {
  instanceId: string;
  buildId: string;
  status: string;
  desired: string;
  /** Called once a start or restart was carried out (the VM booted again). */
  onRebooted?: () => void;
}) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const router = useRouter();
  const sign = useSignedAction();
  const toast = useToast();
  const [rollbackTo, setRollbackTo] = useState("");
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.instances.pathKey() });

  // The serial log marks a new boot once the node has carried out a start or restart.
  const pendingBoot = useRef<string | null>(null);
  const act = useMutation({
    mutationFn: async (action: TAction) => {
      const question = CONFIRM[action];
      if (question && !window.confirm(question)) return null;
      // A suspend is a signed `instance.stop` whose params say so.
      const suspend = action === "suspend";
      const envelope = await sign({
        action: `instance.${suspend ? "stop" : action}`,
        params: suspend ? { instanceId: props.instanceId, suspend } : { instanceId: props.instanceId },
      });
      const procedures = {
        start: () => client.instances.start.mutate({ ...envelope, action: "instance.start" }),
        stop: () => client.instances.stop.mutate({ ...envelope, action: "instance.stop" }),
        suspend: () => client.instances.stop.mutate({ ...envelope, action: "instance.stop" }),
        restart: () => client.instances.restart.mutate({ ...envelope, action: "instance.restart" }),
        delete: () => client.instances.delete.mutate({ ...envelope, action: "instance.delete" }),
      };
      const result = await procedures[action]();
      if (action === "delete") router.push("/instances");
      return result;
    },
    onMutate: (action) => {
      if (action === "start" || action === "restart") pendingBoot.current = action;
    },
    onSuccess: (result, action) => {
      if (result === null) return;
      toast({ tone: "success", title: `${DONE[action]} ${shortId(props.instanceId, 14)}` });
    },
    onError: (error, action) =>
      toast({ tone: "error", title: `Could not ${action} the instance`, body: actionErrorMessage(error) }),
    onSettled: refresh,
  });

  useEffect(() => {
    if (pendingBoot.current && props.status === "running" && !act.isPending) {
      pendingBoot.current = null;
      props.onRebooted?.();
    }
  }, [props.status, act.isPending, props.onRebooted]);

  // Rollback targets: the deployment of this build and the owner's other builds of the same name.
  const deployments = useQuery(trpc.instances.deployments.queryOptions());
  const builds = useQuery(trpc.builds.list.queryOptions({ limit: 200, all: false }));
  const deployment = deployments.data?.find((d) => d.buildId === props.buildId);
  const candidates =
    builds.data?.filter(
      (b) =>
        deployment && b.name === deployment.name && b.buildId !== props.buildId && b.imageDigest !== null,
    ) ?? [];
  const rollback = useMutation({
    mutationFn: async () => {
      if (!deployment || !rollbackTo) return null;
      if (
        !window.confirm(
          `Roll ${deployment.name} back to build ${shortId(rollbackTo)}? Replicas are replaced.`,
        )
      )
        return null;
      const envelope = await sign({
        action: "deployment.rollback",
        params: { name: deployment.name, buildId: rollbackTo },
      });
      return client.instances.rollback.mutate(envelope);
    },
    onSettled: refresh,
  });

  const removeDeployment = useMutation({
    mutationFn: async () => {
      if (!deployment) return null;
      const question = `Delete the deployment ${deployment.name}? All its replicas and their disks are destroyed and none is placed again; ship the build to start over.`;
      if (!window.confirm(question)) return null;
      const envelope = await sign({
        action: "deployment.delete",
        params: { deploymentId: deployment.deploymentId },
      });
      const result = await client.instances.deleteDeployment.mutate(envelope);
      router.push("/instances");
      return result;
    },
    onSettled: refresh,
  });

  const stopped = props.desired === "stopped" || props.status === "stopped" || props.status === "suspended";
  const pending = act.isPending || rollback.isPending || removeDeployment.isPending;
  const error = act.error ?? rollback.error ?? removeDeployment.error;
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap gap-2">
        {stopped ? (
          <button
            type="button"
            className={buttonClass.secondary}
            disabled={act.isPending}
            onClick={() => act.mutate("start")}
          >
            Start
          </button>
        ) : (
          <>
            <button
              type="button"
              className={buttonClass.secondary}
              disabled={act.isPending}
              onClick={() => act.mutate("stop")}
            >
              Stop
            </button>
            <button
              type="button"
              className={buttonClass.secondary}
              title="Pause the VM and save its memory; Start resumes it"
              disabled={act.isPending}
              onClick={() => act.mutate("suspend")}
            >
              Suspend
            </button>
          </>
        )}
        <button
          type="button"
          className={buttonClass.secondary}
          disabled={act.isPending}
          onClick={() => act.mutate("restart")}
        >
          Restart
        </button>
        <button
          type="button"
          className={buttonClass.danger}
          data-testid="delete-instance"
          disabled={act.isPending}
          onClick={() => act.mutate("delete")}
        >
          Delete replica
        </button>
        {deployment ? (
          <button
            type="button"
            className={buttonClass.danger}
            data-testid="delete-deployment"
            disabled={removeDeployment.isPending}
            onClick={() => removeDeployment.mutate()}
          >
            Delete deployment
          </button>
        ) : null}
      </div>
      {candidates.length > 0 ? (
        <div className="flex flex-wrap items-center gap-2 text-sm">
          <select
            aria-label="Build to roll back to"
            value={rollbackTo}
            onChange={(e) => setRollbackTo(e.target.value)}
            className="rounded-md border border-slate-300 bg-transparent px-2 py-1.5 dark:border-slate-700"
          >
            <option value="">Roll back to…</option>
            {candidates.map((b) => (
              <option key={b.buildId} value={b.buildId}>
                {shortId(b.buildId)} · {b.createdAt.toLocaleString()}
              </option>
            ))}
          </select>
          <button
            type="button"
            className={buttonClass.secondary}
            disabled={!rollbackTo || rollback.isPending}
            onClick={() => rollback.mutate()}
          >
            Roll back
          </button>
        </div>
      ) : null}
      {pending ? <p className="text-sm text-slate-500">Confirm in your wallet…</p> : null}
      {error ? (
        <p role="alert" className="text-sm text-red-600 dark:text-red-400">
          {actionErrorMessage(error)}
        </p>
      ) : null}
    </div>
  );
}
