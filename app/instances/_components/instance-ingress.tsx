"use client";
import { useQuery } from "@tanstack/react-query";
import { ReplicaHealthDetail } from "../../_components/replica-health";
import { TrafficPanel } from "../../_components/traffic-panel";
import { Card } from "../../_components/ui";
import { useTRPC } from "../../_lib/trpc";

/** The instance page's ingress cards: this replica's health, and its deployment's traffic through the edge. */
export function InstanceIngress(props: {
  instanceId: string;
  buildId: string;
  deploymentId: string;
  exposes: boolean;
}) {
  const trpc = useTRPC();
  const health = useQuery(
    trpc.ingress.health.queryOptions(
      { buildId: props.buildId },
      { refetchInterval: 3000, enabled: props.exposes },
    ),
  );
  if (!props.exposes) return null;
  return (
    <>
      <Card title="Health">
        <ReplicaHealthDetail health={health.data?.find((h) => h.instanceId === props.instanceId)} />
      </Card>
      <Card title="Traffic through the edge">
        <TrafficPanel deploymentId={props.deploymentId} />
      </Card>
    </>
  );
}
