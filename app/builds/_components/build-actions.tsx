"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { isActiveBuild, isShippableBuild, type TBuildStatus } from "@/lib/status";
import { ReplicasInput } from "../../_components/replicas-input";
import { useToast } from "../../_components/toasts";
import { buttonClass } from "../../_components/ui";
import { appCodeOf } from "../../_lib/errors";
import { peekShipIntent, takeShipIntent } from "../../_lib/ship-intent";
import { useTRPC, useTRPCClient } from "../../_lib/trpc";
import { actionErrorMessage, useSignBuildCommitment, useSignedAction } from "../../_lib/use-signed-action";

/**
 * Cancel and Ship, both signed by the wallet. Ships once by itself when the build is done if this
 * tab's deploy asked for it (ship intent, never the URL). The outcome of a ship shows as a toast;
 * the page's deployment status shows the live state.
 */
export function BuildActions(props: { buildId: string; status: TBuildStatus; defaultReplicas: number }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const sign = useSignedAction();
  const signCommitment = useSignBuildCommitment();
  const toast = useToast();
  const [intent] = useState(() => peekShipIntent(props.buildId));
  const [replicas, setReplicas] = useState<number | null>(intent?.replicas ?? null);
  const shipReplicas = replicas ?? props.defaultReplicas;
  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: trpc.builds.pathKey() });
    await queryClient.invalidateQueries({ queryKey: trpc.deployments.pathKey() });
  };

  const cancel = useMutation({
    mutationFn: async () => {
      if (!window.confirm("Cancel this build? The node stops working on it.")) return null;
      return client.builds.cancel.mutate(
        await sign({ action: "build.cancel", params: { buildId: props.buildId } }),
      );
    },
    onSettled: refresh,
  });
  const ship = useMutation({
    mutationFn: async () => {
      // First the owner's on-chain approval of the image digest (relayed by the console), then the ship.
      const draft = await client.instances.commitmentDraft
        .query({ buildId: props.buildId })
        .catch((error: unknown) => {
          // An unreachable chain must not stop the ship: it goes out uncommitted and the page says so.
          if (appCodeOf(error) === "UNAVAILABLE") return "unavailable" as const;
          throw error;
        });
      const commitment = draft === "unavailable" ? null : await signCommitment(draft);
      const envelope = await sign({
        action: "instance.ship",
        params: { buildId: props.buildId, replicas: shipReplicas, ...(commitment ? { commitment } : {}) },
      });
      const result = await client.instances.ship.mutate(envelope);
      const committing =
        result.commitment.state === "no-chain"
          ? " (no chain configured: not committed)"
          : draft === "unavailable"
            ? " (chain unreachable: shipped without a build commitment)"
            : "";
      const d = result.deployment;
      toast({
        tone: d.waiting > 0 ? "info" : "success",
        title: `Shipped ${d.name}: ${d.placed} of ${d.replicas} replicas placed`,
        body: `${d.waitingReason ?? "Replicas are booting on their nodes."}${committing}`,
      });
      return result;
    },
    onError: (error) => toast({ tone: "error", title: "Ship failed", body: actionErrorMessage(error) }),
    onSettled: async () => {
      await refresh();
      await queryClient.invalidateQueries({ queryKey: trpc.instances.pathKey() });
    },
  });

  // Ship once when the build reaches `built`, if this tab's deploy asked for it.
  const shipped = useRef(false);
  useEffect(() => {
    if (props.status !== "built" || shipped.current) return;
    if (!takeShipIntent(props.buildId)) return;
    shipped.current = true;
    ship.mutate();
  }, [props.status, props.buildId, ship]);

  const error = cancel.error ?? ship.error;
  return (
    <div className="flex flex-wrap items-center gap-2">
      {isActiveBuild(props.status) ? (
        <button
          type="button"
          className={buttonClass.danger}
          data-testid="cancel-build"
          disabled={cancel.isPending}
          onClick={() => cancel.mutate()}
        >
          {cancel.isPending ? "Cancelling…" : "Cancel build"}
        </button>
      ) : null}
      {isShippableBuild(props.status) ? (
        <>
          <ReplicasInput
            value={shipReplicas}
            onChange={setReplicas}
            testId="ship-replicas"
            labelClassName="flex items-center gap-1"
            inputClassName="w-16"
          />
          <button
            type="button"
            className={buttonClass.primary}
            data-testid="ship-build"
            disabled={ship.isPending}
            onClick={() => ship.mutate()}
          >
            {ship.isPending ? "Confirm in your wallet…" : "Ship"}
          </button>
        </>
      ) : null}
      {error ? (
        <span role="alert" className="text-sm text-red-600 dark:text-red-400">
          {actionErrorMessage(error)}
        </span>
      ) : null}
    </div>
  );
}
