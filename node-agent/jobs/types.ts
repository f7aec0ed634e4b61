import type { Logger } from "@/core/log";
import type {
  TAgentToConsole,
  TConsoleToAgent,
  TInstanceStatus,
  TJobKind,
  TJobResult,
  TJobSpec,
  TMessageOf,
} from "@/lib/protocol";

export type TJobOffer = TMessageOf<TConsoleToAgent, "job.offer">;
export type TSpecOf<K extends TJobKind> = Extract<TJobSpec, { kind: K }>;

/** Where the runner sends its frames; returns false when no console connection is open. */
export interface TMessageSink {
  send(message: TAgentToConsole): boolean;
}

/** What an executor may do while it runs. Everything it reports is tagged with its job id. */
export interface TJobContext {
  jobId: string;
  /** Fires on `job.cancel` and on agent shutdown; pass it to every child process and fetch. */
  signal: AbortSignal;
  logger: Logger;
  progress(phase: string, message?: string): void;
  log(line: string): void;
  instanceStatus(report: {
    instanceId: string;
    status: TInstanceStatus;
    formnetIp?: string;
    reason?: string;
  }): void;
}

export type TJobExecutor<K extends TJobKind> = (
  ctx: TJobContext,
  payload: TSpecOf<K>["payload"],
) => Promise<TJobResult>;

/** One executor per job kind; the runner dispatches offers to them. */
export type TJobExecutors = { [K in TJobKind]: TJobExecutor<K> };
