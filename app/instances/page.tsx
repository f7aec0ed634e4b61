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
  if (instances.isLoading) return <ListSkeleton rows={4} />;
  if (instances.error) return <ErrorState error={instances.error} what="your instances" />;
  if (!instances.data?.length) {
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
      <InstancesTable instances={instances.data} showBuild />
      <section>
        <h2 className="mb-2 text-sm font-semibold">Deployments · image digest ⇄ on-chain commitment</h2>
        <DeploymentsTable />
      </section>
    </div>
  );
}

export default function InstancesPage() {
  return (
    <>
      <PageHeader
        title="Instances"
        description="Your VM replicas across the network, with their formnet addresses."
      />
      <SessionGate what="instances">
        <InstancesList />
      </SessionGate>
    </>
  );
}
