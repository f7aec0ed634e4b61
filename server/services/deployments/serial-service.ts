import { z } from "zod";
import type { TSerialReply } from "@/lib/protocol";
import type { TInstancesRepository } from "@/server/db/repositories/instances-repository";
import { AppError, type TAppErrorCode } from "@/server/errors";
import {
  SerialLogError,
  type SerialLogRequests,
  type TSerialLogErrorCode,
} from "@/server/gateway/serial-log";

/** Each gateway failure once as an API code; `details.reason` keeps the precise cause for clients. */
const ERROR_CODES: Record<TSerialLogErrorCode, TAppErrorCode> = {
  nodeOffline: "UNAVAILABLE",
  timeout: "UNAVAILABLE",
  unreadable: "UNAVAILABLE",
  notOnNode: "PRECONDITION_FAILED",
  agentTooOld: "PRECONDITION_FAILED",
  busy: "RATE_LIMITED",
};

export const ZSerialTail = z.object({
  instanceId: z.string(),
  nodeId: z.string(),
  /** Serial output as the VM wrote it (escape sequences included; `serialLogText` cleans it). */
  data: z.string(),
  /** Byte range of `data` in the log, and the log's size: pass `end` as the next `offset`. */
  offset: z.number(),
  end: z.number(),
  size: z.number(),
  fetchedAt: z.date(),
});
export type TSerialTail = z.infer<typeof ZSerialTail>;

/**
 * Serial console logs of instances, read live from the agent hosting each one (over its socket on
 * this console: `SerialLogRequests`). Boot logs can hold secrets the guest printed: owners only.
 */
export class SerialService {
  readonly requests: SerialLogRequests;
  readonly #instances: TInstancesRepository;

  constructor(options: { requests: SerialLogRequests; instances: TInstancesRepository }) {
    this.requests = options.requests;
    this.#instances = options.instances;
  }

  async tail(opts: {
    viewer: string;
    instanceId: string;
    maxBytes: number;
    offset?: number | undefined;
  }): Promise<TSerialTail> {
    const row = await this.#instances.find(opts.instanceId);
    // Admins are "others" here too.
    if (!row || row.status === "deleted" || row.owner !== opts.viewer.toLowerCase()) {
      throw new AppError("NOT_FOUND", `No instance ${opts.instanceId} of yours`);
    }
    try {
      const slice = await this.requests.request({
        nodeId: row.nodeId,
        instanceId: row.id,
        maxBytes: opts.maxBytes,
        offset: opts.offset,
      });
      return { instanceId: row.id, nodeId: row.nodeId, ...slice, fetchedAt: new Date() };
    } catch (error) {
      if (!(error instanceof SerialLogError)) throw error;
      throw new AppError(ERROR_CODES[error.code], error.message, {
        details: { reason: error.code, nodeId: row.nodeId, instanceStatus: row.status },
        cause: error,
      });
    }
  }

  /** A reply from node `nodeId` (the agent gateway); false when it answers no request of that node. */
  onReply(nodeId: string, reply: TSerialReply): boolean {
    return this.requests.onReply(nodeId, reply);
  }

  /** The node's socket closed: its requests fail now. */
  nodeGone(nodeId: string): void {
    this.requests.nodeGone(nodeId);
  }
}
