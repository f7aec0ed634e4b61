"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { TRPCClientError } from "@trpc/client";
import { useEffect, useRef, useState } from "react";
import { ReplicasInput } from "../../_components/replicas-input";
import { buttonClass } from "../../_components/ui";
import { useTRPC, useTRPCClient } from "../../_lib/trpc";
import { actionErrorMessage, useSignBuildCommitment, useSignedAction } from "../../_lib/use-signed-action";

/** The console's `appCode` of a failed tRPC call, if any. */
function appCodeOf(error: unknown): string | null {
  if (!(error instanceof TRPCClientError)) return null;
  const data: unknown = error.data;
  return typeof data === "object" && data !== null && "appCode" in data && typeof data.appCode === "string"
    ? data.appCode
    : null;
}

const CANCELLABLE = new Set(["queued", "claimed", "building"]);
const SHIPPABLE = new Set(["built", "distributing", "booting", "running"]);

/** Cancel and Ship, both signed by the wallet; optionally ships once when the build is done. */
export function BuildActions(props: {
  buildId: string;
  status: string;
  initialReplicas: number;
  autoShip: boolean;
}) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const sign = useSignedAction();
  const signCommitment = useSignBuildCommitment();
  const [replicas, setReplicas] = useState(props.initialReplicas);
  const [notice, setNotice] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.builds.pathKey() });

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
        params: { buildId: props.buildId, replicas, ...(commitment ? { commitment } : {}) },
      });
      const result = await client.instances.ship.mutate(envelope);
      const committing =
        result.commitment.state === "no-chain"
          ? " (no chain configured: not committed)"
          : draft === "unavailable"
            ? " (chain unreachable: shipped without a build commitment)"
            : "";
      setNotice(`${result.notice ?? `Shipping ${result.instances.length} replica(s).`}${committing}`);
      return result;
    },
    onSettled: async () => {
      await refresh();
      await queryClient.invalidateQueries({ queryKey: trpc.instances.pathKey() });
    },
  });

  // Ship once when the build reaches `built`, if the user asked for it on the deploy page.
  const shipped = useRef(false);
  useEffect(() => {
    if (!props.autoShip || props.status !== "built" || shipped.current) return;
    const key = `formation:autoship:${props.buildId}`;
    if (sessionStorage.getItem(key)) return;
    shipped.current = true;
    sessionStorage.setItem(key, "1");
    ship.mutate();
  }, [props.autoShip, props.status, props.buildId, ship]);

  const error = cancel.error ?? ship.error;
  return (
    <div className="flex flex-wrap items-center gap-2">
      {CANCELLABLE.has(props.status) ? (
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
      {SHIPPABLE.has(props.status) ? (
        <>
          <ReplicasInput
            value={replicas}
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
      {notice ? (
        <span className="text-sm text-slate-600 dark:text-slate-400" data-testid="ship-notice">
          {notice}
        </span>
      ) : null}
      {error ? (
        <span role="alert" className="text-sm text-red-600 dark:text-red-400">
          {actionErrorMessage(error)}
        </span>
      ) : null}
    </div>
  );
}
