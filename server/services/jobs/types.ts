import type { TConsoleToAgent, TJobResult } from "@/lib/protocol";
import type { TJobRow } from "@/server/db/repositories/jobs-repository";

/** What happened to a job; builds and deployments react to these. */
export type TJobEvent =
  | { type: "leased"; job: TJobRow; nodeId: string }
  | { type: "running"; job: TJobRow; nodeId: string }
  | { type: "progress"; job: TJobRow; phase: string; message?: string }
  | { type: "log"; job: TJobRow; lines: string[] }
  | { type: "completed"; job: TJobRow; nodeId: string; result: TJobResult }
  | { type: "failed"; job: TJobRow; reason: string; line?: number }
  | { type: "cancelled"; job: TJobRow; reason: string }
  | { type: "requeued"; job: TJobRow; reason: string };

export type TJobListener = (event: TJobEvent) => Promise<void>;

/** The agent sockets this console process holds (implemented by the agent gateway). */
export interface AgentLinks {
  /** Sends to a locally connected node; false when this process does not hold its socket. */
  send(nodeId: string, message: TConsoleToAgent): boolean;
  /** Whether this process holds the node's socket. */
  isConnected(nodeId: string): boolean;
  /** Node ids connected to this process. */
  connectedNodeIds(): string[];
}

/** Timing of jobs and agents, all in milliseconds. */
export type TJobTiming = {
  /** Lease of an acknowledged job; progress, logs and heartbeats listing the job extend it. */
  leaseMs: number;
  /** How long an offered job may stay unacknowledged before it goes back to the queue. */
  ackTimeoutMs: number;
};
