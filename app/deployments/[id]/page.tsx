"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useState } from "react";
import { isShippableBuild } from "@/lib/status";
import type { AppRouter } from "@/server/api/root";
import { AppUrl } from "../../_components/app-url";
import { CopyValue } from "../../_components/copy-button";
import { ReplicasInput } from "../../_components/replicas-input";
import { SessionGate } from "../../_components/session-gate";
import { useToast } from "../../_components/toasts";
import { TrafficPanel } from "../../_components/traffic-panel";
import {
  buttonClass,
  Card,
  ErrorState,
  Fields,
  ListSkeleton,
  Mono,
  NotFoundState,
  PageHeader,
  StatusBadge,
} from "../../_components/ui";
import { formatAgo, shortId } from "../../_lib/format";
import { useTRPC, useTRPCClient } from "../../_lib/trpc";
import { actionErrorMessage, useSignedAction } from "../../_lib/use-signed-action";
import { replicaSummary } from "../../builds/_components/deployment-status";
import { InstancesTable } from "../../builds/_components/instances-table";
import { CustomDomains } from "../_components/custom-domains";

const DEPLOYMENT_ID = /^d-[0-9a-f]{20}$/;
const BACK = { href: "/instances", label: "Your deployments" };

/** Signed deployment actions: scale (ship the current build with N replicas), roll back, delete. */
function useDeploymentActions(deployment: { deploymentId: string; name: string; buildId: string }) {
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const sign = useSignedAction();
  const toast = useToast();
  const router = useRouter();
  const refresh = () => queryClient.invalidateQueries();
  const fail = (what: string) => (error: unknown) =>
    toast({ tone: "error", title: `Could not ${what}`, body: actionErrorMessage(error) });
  const scale = useMutation({
    mutationFn: async (replicas: number) => {
      const envelope = await sign({
        action: "instance.ship",
        params: { buildId: deployment.buildId, replicas },
      });
      return client.instances.ship.mutate(envelope);
    },
    onSuccess: (r) =>
      toast({
        tone: "success",
        title: `${r.deployment.name} wants ${r.deployment.replicas} replicas`,
        body: r.deployment.waitingReason ?? "Replicas are placed on distinct nodes.",
      }),
    onError: fail("scale the deployment"),
    onSettled: refresh,
  });
  const rollback = useMutation({
    mutationFn: async (buildId: string) => {
      if (
        !window.confirm(
          `Roll ${deployment.name} back to build ${shortId(buildId)}? Its replicas are replaced.`,
        )
      )
        return null;
      const envelope = await sign({
        action: "deployment.rollback",
        params: { name: deployment.name, buildId },
      });
      return client.instances.rollback.mutate(envelope);
    },
    onSuccess: (r) => {
      if (r)
        toast({
          tone: "success",
          title: `${r.deployment.name} rolls back to ${shortId(r.deployment.buildId)}`,
        });
    },
    onError: fail("roll back"),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: async () => {
      if (
        !window.confirm(
          `Delete the deployment ${deployment.name}? All its replicas and their disks are destroyed and none is placed again.`,
        )
      )
        return null;
      const envelope = await sign({
        action: "deployment.delete",
        params: { deploymentId: deployment.deploymentId },
      });
      const result = await client.instances.deleteDeployment.mutate(envelope);
      router.push("/instances");
      return result;
    },
    onSuccess: (r) => {
      if (r) toast({ tone: "success", title: `Deleting ${r.name} (${r.deletedInstances.length} replicas)` });
    },
    onError: fail("delete the deployment"),
    onSettled: refresh,
  });
  return { scale, rollback, remove };
}

function DeploymentDetail({ deploymentId }: { deploymentId: string }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.deployments.get.queryOptions({ deploymentId }, { refetchInterval: 3000 }));
  if (q.isLoading) return <ListSkeleton rows={6} />;
  if (q.error || !q.data) {
    return (
      <ErrorState error={q.error ?? { message: "No data" }} what={`deployment ${deploymentId}`} back={BACK} />
    );
  }
  return <DeploymentView detail={q.data} />;
}

type TDetail = inferRouterOutputs<AppRouter>["deployments"]["get"];

function DeploymentView({ detail }: { detail: TDetail }) {
  const d = detail.deployment;
  const actions = useDeploymentActions(d);
  const [replicas, setReplicas] = useState(d.replicas);
  const busy = actions.scale.isPending || actions.rollback.isPending || actions.remove.isPending;
  return (
    <>
      <PageHeader
        title={d.name}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge
              status={d.waiting > 0 ? "waiting" : d.running === d.replicas ? "running" : "booting"}
            />
            <span data-testid="deployment-summary">{replicaSummary(d)}</span>
            <CopyValue value={d.deploymentId} label="Copy deployment id" />
          </span>
        }
        actions={
          <button
            type="button"
            className={buttonClass.danger}
            disabled={busy}
            onClick={() => actions.remove.mutate()}
            data-testid="delete-deployment"
          >
            Delete deployment
          </button>
        }
      />
      <div className="space-y-6">
        <Card title="Deployment">
          <Fields
            items={[
              {
                label: "Replicas",
                value: `${d.replicas} wanted · ${d.placed} placed · ${d.running} running`,
              },
              { label: "Waiting", value: d.waitingReason ?? "nothing waits" },
              {
                label: "App URL",
                value: <AppUrl app={d.app} formnetIp={detail.instances[0]?.formnetIp ?? null} />,
              },
              {
                label: "Current build",
                value: (
                  <Link
                    href={`/builds/${d.buildId}`}
                    className="font-mono text-xs text-sky-700 hover:underline dark:text-sky-400"
                  >
                    {shortId(d.buildId)}
                  </Link>
                ),
              },
              { label: "Created", value: formatAgo(d.createdAt) },
              { label: "Updated", value: formatAgo(d.updatedAt) },
            ]}
          />
          <div className="mt-4 flex flex-wrap items-end gap-2">
            <ReplicasInput
              value={replicas}
              onChange={setReplicas}
              testId="scale-replicas"
              labelClassName="flex items-center gap-2"
              inputClassName="w-20"
            />
            <button
              type="button"
              className={buttonClass.secondary}
              disabled={busy || replicas === d.replicas}
              onClick={() => actions.scale.mutate(replicas)}
              data-testid="scale-deployment"
            >
              Scale to {replicas}
            </button>
          </div>
        </Card>
        <Card title="Replicas">
          {detail.instances.length > 0 ? (
            <InstancesTable instances={detail.instances} showBuild />
          ) : (
            <p className="text-sm text-slate-600 dark:text-slate-400">No replica is placed yet.</p>
          )}
        </Card>
        {d.app.exposedPorts.length > 0 ? (
          <Card title="Traffic through the edge">
            <TrafficPanel deploymentId={d.deploymentId} />
          </Card>
        ) : null}
        {d.app.exposedPorts.length > 0 ? (
          <Card title="Custom domains">
            <CustomDomains deploymentId={d.deploymentId} exposedPorts={d.app.exposedPorts} />
          </Card>
        ) : null}
        <Card title="Builds over time">
          <ol
            className="divide-y divide-slate-200 text-sm dark:divide-slate-800"
            data-testid="deployment-builds"
          >
            {detail.builds.map((b) => (
              <li key={b.buildId} className="flex flex-wrap items-center gap-x-3 gap-y-1 py-2">
                <span className="w-28 shrink-0 text-slate-600 dark:text-slate-400">
                  {formatAgo(b.createdAt)}
                </span>
                <Link
                  href={`/builds/${b.buildId}`}
                  className="text-sky-700 hover:underline dark:text-sky-400"
                >
                  <Mono title={b.buildId}>{shortId(b.buildId)}</Mono>
                </Link>
                <StatusBadge status={b.status} />
                {b.buildId === d.buildId ? (
                  <span className="text-xs font-medium text-emerald-700 dark:text-emerald-400">current</span>
                ) : isShippableBuild(b.status) && b.imageDigest ? (
                  <button
                    type="button"
                    className={buttonClass.secondary}
                    disabled={busy}
                    onClick={() => actions.rollback.mutate(b.buildId)}
                  >
                    Roll back to this build
                  </button>
                ) : null}
              </li>
            ))}
          </ol>
        </Card>
      </div>
    </>
  );
}

export default function DeploymentPage() {
  const params = useParams<{ id: string }>();
  const id = decodeURIComponent(params.id);
  return (
    <SessionGate what="deployment">
      {DEPLOYMENT_ID.test(id) ? (
        <DeploymentDetail deploymentId={id} />
      ) : (
        <NotFoundState title={`No deployment ${id.slice(0, 80)}`} back={BACK}>
          Deployment ids look like <code>d-</code> followed by 20 hexadecimal characters.
        </NotFoundState>
      )}
    </SessionGate>
  );
}
