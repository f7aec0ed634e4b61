"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { SessionGate } from "../_components/session-gate";
import { buttonClass, EmptyState, ErrorState, ListSkeleton, PageHeader } from "../_components/ui";
import { useTRPC } from "../_lib/trpc";
import { InstancesTable } from "../builds/_components/instances-table";
import { DeploymentsTable } from "./_components/deployments-table";

function InstancesList() {
  const trpc = useTRPC();
  const instances = useQuery(trpc.instances.list.queryOptions({ all: false }, { refetchInterval: 4000 }));
  const deployments = useQuery(trpc.instances.deployments.queryOptions(undefined, { refetchInterval: 4000 }));
  if (instances.isLoading || deployments.isLoading) return <ListSkeleton rows={4} />;
  if (instances.error) return <ErrorState error={instances.error} what="your instances" />;
  if (deployments.error) return <ErrorState error={deployments.error} what="your deployments" />;
  const list = instances.data ?? [];
  const deps = deployments.data ?? [];
  if (list.length === 0 && deps.length === 0) {
    return (
      <EmptyState
        title="No instances yet"
        action={
          <Link href="/builds" className={buttonClass.secondary}>
            Go to your builds
          </Link>
        }
      >
        Ship a finished build to get replicas on distinct nodes (<code>form pack ship</code> in the CLI).
      </EmptyState>
    );
  }
  return (
    <div className="space-y-6">
      {deps.length > 0 ? (
        <section>
          <h2 className="mb-2 text-sm font-semibold">Deployments · replicas wanted, placed and running</h2>
          <DeploymentsTable deployments={deps} />
        </section>
      ) : null}
      <section>
        <h2 className="mb-2 text-sm font-semibold">Replicas</h2>
        {list.length > 0 ? (
          <InstancesTable instances={list} showBuild />
        ) : (
          <p className="text-sm text-slate-600 dark:text-slate-400">
            No replica is placed yet; the deployments above say why.
          </p>
        )}
      </section>
    </div>
  );
}

export default function InstancesPage() {
  return (
    <>
      <PageHeader
        title="Instances"
        description="Your deployments and their VM replicas across the network, with formnet addresses."
      />
      <SessionGate what="instances">
        <InstancesList />
      </SessionGate>
    </>
  );
}
