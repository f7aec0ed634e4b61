"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { SessionGate } from "../_components/session-gate";
import { buttonClass, EmptyState, ErrorState, ListSkeleton, PageHeader } from "../_components/ui";
import { useTRPC } from "../_lib/trpc";
import { BuildsTable } from "./_components/builds-table";

function BuildsList() {
  const trpc = useTRPC();
  const builds = useQuery(
    trpc.builds.list.queryOptions({ limit: 100, all: false }, { refetchInterval: 4000 }),
  );
  if (builds.isLoading) return <ListSkeleton rows={5} />;
  if (builds.error) return <ErrorState error={builds.error} what="your builds" />;
  if (!builds.data?.length) {
    return (
      <EmptyState
        title="No builds yet"
        action={
          <Link href="/deploy" className={buttonClass.primary}>
            Deploy a Formfile
          </Link>
        }
      >
        A build turns your Formfile and project into a bootable image on an operator&apos;s node. The CLI
        equivalent is <code>form pack build</code>.
      </EmptyState>
    );
  }
  return <BuildsTable builds={builds.data} />;
}

export default function BuildsPage() {
  return (
    <>
      <PageHeader
        title="Builds"
        description="Every image you built, newest first."
        actions={
          <Link href="/deploy" className={buttonClass.primary}>
            New deployment
          </Link>
        }
      />
      <SessionGate what="builds">
        <BuildsList />
      </SessionGate>
    </>
  );
}
