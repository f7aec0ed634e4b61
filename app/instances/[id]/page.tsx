"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useParams } from "next/navigation";
import { useState } from "react";
import { AppUrl } from "../../_components/app-url";
import { CopyButton, CopyValue } from "../../_components/copy-button";
import { SessionGate } from "../../_components/session-gate";
import { MetricCharts } from "../../_components/sparkline";
import { TerminalPanel } from "../../_components/terminal/terminal-panel";
import {
  Card,
  ErrorState,
  Fields,
  ListSkeleton,
  Mono,
  NotFoundState,
  PageHeader,
  StatusBadge,
} from "../../_components/ui";
import { formatAgo, formatResources, shortId } from "../../_lib/format";
import { useTRPC } from "../../_lib/trpc";
import { AppLogs } from "../_components/app-logs";
import { BuildCommitmentPanel } from "../_components/build-commitment";
import { InstanceActions } from "../_components/instance-actions";
import { InstanceIngress } from "../_components/instance-ingress";
import { SerialLog } from "../_components/serial-log";

const INSTANCE_ID = /^i-[0-9a-f]{20}$/;
const BACK = { href: "/instances", label: "Your instances" };

function SshHint({ user, ip }: { user: string | null; ip: string }) {
  const command = `ssh ${user ?? "USER"}@${ip}`;
  return (
    <p className="mt-4 flex flex-wrap items-center gap-1 text-sm text-slate-600 dark:text-slate-400">
      From a laptop on formnet (<code>form manage formnet-up</code>):
      <code className="rounded bg-slate-100 px-1.5 py-0.5 dark:bg-slate-800" data-testid="ssh-command">
        {command}
      </code>
      <CopyButton value={command} label="Copy ssh command" />
      {user ? null : <span>(the Formfile has no USER: use an account you created in RUN steps)</span>}
    </p>
  );
}

function InstanceDetail({ instanceId }: { instanceId: string }) {
  const trpc = useTRPC();
  const instance = useQuery(trpc.instances.get.queryOptions({ instanceId }, { refetchInterval: 3000 }));
  const found = instance.data !== undefined;
  const metrics = useQuery(
    trpc.instances.metrics.queryOptions(
      { instanceId, sinceMinutes: 60 },
      { refetchInterval: 10_000, enabled: found },
    ),
  );
  const nodes = useQuery(trpc.nodes.list.queryOptions({}, { enabled: found }));
  // Bumped when this page starts or restarts the VM: the serial log keeps the earlier boot's output.
  const [boots, setBoots] = useState(0);
  if (instance.isLoading) return <ListSkeleton rows={6} />;
  if (instance.error || !instance.data) {
    return (
      <ErrorState
        error={instance.error ?? { message: "No data" }}
        what={`instance ${instanceId}`}
        back={BACK}
      />
    );
  }
  const i = instance.data;
  const node = nodes.data?.find((n) => n.nodeId === i.nodeId);
  return (
    <>
      <PageHeader
        title={i.app.name || i.instanceId}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge status={i.status} testId="instance-status" />
            {i.desired !== i.status &&
            i.status !== "deleting" &&
            i.status !== "stopping" &&
            !(i.status === "suspended" && i.desired === "stopped") ? (
              <span className="text-xs">→ {i.desired}</span>
            ) : null}
            <CopyValue value={i.instanceId} label="Copy instance id" />
            {i.reason ? <span className="text-xs text-amber-700 dark:text-amber-400">{i.reason}</span> : null}
            {i.placement ? (
              <span className="text-xs" data-testid="instance-placement">
                Moved here: {i.placement}
              </span>
            ) : null}
          </span>
        }
      />
      <div className="space-y-6">
        <Card title="Replica">
          <Fields
            items={[
              {
                label: "formnet IP",
                value: i.formnetIp ? (
                  <CopyValue value={i.formnetIp} label="Copy formnet IP" />
                ) : (
                  <Mono>not joined yet</Mono>
                ),
              },
              { label: "App URL", value: <AppUrl app={i.app} formnetIp={i.formnetIp} /> },
              {
                label: "Deployment",
                value: (
                  <Link
                    href={`/deployments/${i.deploymentId}`}
                    className="text-sky-700 hover:underline dark:text-sky-400"
                  >
                    {i.app.name || i.deploymentId}
                  </Link>
                ),
              },
              {
                label: "Build",
                value: (
                  <Link
                    href={`/builds/${i.buildId}`}
                    className="font-mono text-xs text-sky-700 hover:underline dark:text-sky-400"
                  >
                    {shortId(i.buildId)}
                  </Link>
                ),
              },
              {
                label: "Node",
                value: (
                  <Link
                    href={`/nodes/${i.nodeId}`}
                    className="text-sky-700 hover:underline dark:text-sky-400"
                  >
                    {shortId(i.nodeId)}
                  </Link>
                ),
              },
              { label: "Region", value: node?.region ?? "—" },
              {
                label: "Image digest",
                value: <Mono title={i.imageDigest}>{shortId(i.imageDigest, 20)}</Mono>,
              },
              { label: "Resources", value: formatResources(i.resources) },
              { label: "Created", value: formatAgo(i.createdAt) },
              { label: "Updated", value: formatAgo(i.updatedAt) },
            ]}
          />
          {i.formnetIp ? <SshHint user={i.app.sshUser} ip={i.formnetIp} /> : null}
        </Card>
        <InstanceIngress
          instanceId={i.instanceId}
          buildId={i.buildId}
          deploymentId={i.deploymentId}
          exposes={i.app.exposedPorts.length > 0}
        />
        <Card title="Actions">
          <InstanceActions
            instanceId={i.instanceId}
            buildId={i.buildId}
            status={i.status}
            desired={i.desired}
            onRebooted={() => setBoots((n) => n + 1)}
          />
        </Card>
        <Card title="Image digest ⇄ on-chain commitment">
          <BuildCommitmentPanel instanceId={i.instanceId} />
        </Card>
        <Card title="Metrics · last hour">
          <MetricCharts
            history={metrics.data ?? []}
            memoryMb={i.resources.memoryMb}
            diskGb={i.resources.diskGb}
          />
        </Card>
        <Card title="App logs">
          {i.status === "running" ? (
            <AppLogs instanceId={i.instanceId} />
          ) : (
            <p className="text-sm text-slate-500">
              The app's logs are available while the instance is running.
            </p>
          )}
        </Card>
        <Card title="Serial console">
          <SerialLog instanceId={i.instanceId} restartKey={boots} />
        </Card>
        <Card title="Terminal">
          {/* The web SSH terminal (xterm ⇄ WebSocket ⇄ SSH over formnet) mounts here; see the terminal helper's component. */}
          <div
            data-testid="terminal-slot"
            data-instance-id={i.instanceId}
            data-formnet-ip={i.formnetIp ?? ""}
            className="flex min-h-48 items-center justify-center rounded-md bg-slate-950 p-4 font-mono text-sm text-slate-400"
          >
            {i.status === "running" ? (
              <div className="w-full">
                <TerminalPanel instanceId={i.instanceId} />
              </div>
            ) : (
              "The terminal is available once the instance is running."
            )}
          </div>
        </Card>
      </div>
    </>
  );
}

export default function InstancePage() {
  const params = useParams<{ id: string }>();
  const id = decodeURIComponent(params.id);
  return (
    <SessionGate what="instance">
      {INSTANCE_ID.test(id) ? (
        <InstanceDetail instanceId={id} />
      ) : (
        <NotFoundState title={`No instance ${id.slice(0, 80)}`} back={BACK}>
          Instance ids look like <code>i-</code> followed by 20 hexadecimal characters, as the Instances page
          and <code>form manage get-ip</code> show them.
        </NotFoundState>
      )}
    </SessionGate>
  );
}
