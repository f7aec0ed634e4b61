import { Badge } from "../../_components/ui";

/** Heartbeat-based health: online, offline (heartbeats lapsed) or unhealthy, with the reason. */
export function NodeHealthBadge(props: {
  status: string;
  healthy: boolean;
  connected: boolean;
  reason: string | null;
}) {
  if (props.status !== "online") {
    return (
      <span title={props.reason ?? "heartbeats lapsed"}>
        <Badge tone="red" testId="node-status">
          offline
        </Badge>
      </span>
    );
  }
  if (!props.healthy) {
    return (
      <span title={props.reason ?? undefined}>
        <Badge tone="amber" testId="node-status">
          degraded
        </Badge>
      </span>
    );
  }
  return (
    <Badge tone="green" testId="node-status">
      online
    </Badge>
  );
}
