"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import {
  buttonClass,
  Card,
  EmptyState,
  ErrorState,
  ListSkeleton,
  PageHeader,
  Skeleton,
  Stat,
} from "./_components/ui";
import { useSession, useSignIn } from "./_components/wallet-session";
import { useTRPC } from "./_lib/trpc";
import { BuildsTable } from "./builds/_components/builds-table";

const STEPS = [
  { title: "Describe", text: "Write a Formfile: users, packages, files, resources and an entrypoint." },
  { title: "Sign", text: "Your wallet signs the request (EIP-712). No password, nothing replayable." },
  { title: "Build", text: "An operator's node builds a bootable image; watch the log live." },
  { title: "Ship", text: "Replicas boot on distinct nodes and join formnet, your private WireGuard mesh." },
];

/** The signed-out call to action: sign in right here, or look at the network first. */
function HeroActions() {
  const signIn = useSignIn();
  return (
    <div className="mt-6" data-testid="hero-cta">
      <div className="flex flex-wrap items-center gap-3">
        <button
          type="button"
          className={`${buttonClass.primary} px-4 py-2 text-base`}
          disabled={signIn.isPending}
          onClick={() => signIn.mutate()}
        >
          {signIn.isPending ? "Check your wallet…" : "Start deploying"}
        </button>
        <Link href="/nodes" className={`${buttonClass.secondary} px-4 py-2 text-base`}>
          See the network&apos;s nodes
        </Link>
      </div>
      <p className="mt-3 text-sm text-slate-600 dark:text-slate-400">
        Your browser wallet (MetaMask or any EIP-1193 wallet) signs a one-time sign-in message: no
        transaction, no gas. Prefer a shell? <code>npm install -g ./cli</code> then <code>form kit init</code>
        .
      </p>
      {signIn.error ? (
        <p role="alert" className="mt-2 text-sm text-red-700 dark:text-red-400">
          {signIn.error.message}
        </p>
      ) : null}
    </div>
  );
}

function Hero() {
  return (
    <div className="py-6 sm:py-12" data-testid="hero">
      <p className="text-sm font-medium text-sky-700 dark:text-sky-400">
        Fog compute on independent operators
      </p>
      <h1 className="mt-2 max-w-3xl text-3xl font-semibold tracking-tight sm:text-5xl">
        Redundant virtual servers from a Formfile and a wallet signature.
      </h1>
      <p className="mt-4 max-w-2xl text-slate-600 dark:text-slate-400">
        Formation places your VM on several operators&apos; machines at once, heals it when a node disappears,
        and joins every replica to formnet so you can SSH in from your laptop or right here in the browser.
      </p>
      <HeroActions />
      <ol className="mt-10 grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
        {STEPS.map((step, i) => (
          <li key={step.title} className="rounded-lg border border-slate-200 p-4 dark:border-slate-800">
            <span className="text-xs font-semibold text-sky-700 dark:text-sky-400">{i + 1}</span>
            <h2 className="mt-1 font-semibold">{step.title}</h2>
            <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{step.text}</p>
          </li>
        ))}
      </ol>
    </div>
  );
}

function Dashboard() {
  const trpc = useTRPC();
  const builds = useQuery(
    trpc.builds.list.queryOptions({ limit: 200, all: false }, { refetchInterval: 5000 }),
  );
  const instances = useQuery(trpc.instances.list.queryOptions({ all: false }, { refetchInterval: 5000 }));
  const nodes = useQuery(trpc.nodes.list.queryOptions({}, { refetchInterval: 5000 }));
  const count = (q: { data?: unknown[]; isLoading: boolean }) =>
    q.isLoading ? <Skeleton className="h-7 w-10" /> : (q.data?.length ?? "—");
  const running = instances.data?.filter((i) => i.status === "running").length ?? 0;
  const online = nodes.data?.filter((n) => n.status === "online").length ?? 0;
  return (
    <>
      <PageHeader
        title="Overview"
        description="Your builds and instances, and the nodes of the network."
        actions={
          <Link href="/deploy" className={buttonClass.primary}>
            New deployment
          </Link>
        }
      />
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-3" data-testid="overview-stats">
        <Stat label="Builds" value={count(builds)} href="/builds" />
        <Stat label="Instances" value={count(instances)} href="/instances" hint={`${running} running`} />
        <Stat label="Nodes" value={count(nodes)} href="/nodes" hint={`${online} online`} />
      </div>
      <Card title="Recent builds" className="mt-6">
        {builds.isLoading ? (
          <ListSkeleton />
        ) : builds.error ? (
          <ErrorState error={builds.error} what="your builds" />
        ) : builds.data && builds.data.length > 0 ? (
          <BuildsTable builds={builds.data.slice(0, 5)} />
        ) : (
          <EmptyState
            title="No builds yet"
            action={
              <Link href="/deploy" className={buttonClass.primary}>
                Deploy a Formfile
              </Link>
            }
          >
            Write or drop a Formfile on the Deploy page, sign it, and watch it build.
          </EmptyState>
        )}
      </Card>
    </>
  );
}

export default function OverviewPage() {
  const session = useSession();
  if (session.isLoading) return <ListSkeleton />;
  return session.data ? <Dashboard /> : <Hero />;
}
