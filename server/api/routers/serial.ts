import { z } from "zod";
import { MAX_SERIAL_BYTES } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure } from "@/server/api/trpc";
import { AppError, type TAppErrorCode } from "@/server/errors";
import { SerialLogError, type TSerialLogErrorCode } from "@/server/gateway/serial-log";
import { controlPlaneOf } from "./control-plane-context";

const ZInstanceId = z.string().regex(/^i-[0-9a-f]{20}$/, "an instance id looks like i-<20 hex>");

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

/** Serial console logs, read live from the agent hosting the instance. Owner only. */
export const serialRouter = createTRPCRouter({
  tail: protectedProcedure
    .input(
      z.object({
        instanceId: ZInstanceId,
        maxBytes: z
          .number()
          .int()
          .min(1)
          .max(MAX_SERIAL_BYTES)
          .default(64 * 1024),
        /** Read from this byte on (a previous answer's `end`) instead of the tail. */
        offset: z.number().int().min(0).optional(),
      }),
    )
    .output(ZSerialTail)
    .query(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      const row = await cp.repos.instances.find(input.instanceId);
      // Boot logs can hold secrets the guest printed: owners only, admins included in "others".
      if (!row || row.status === "deleted" || row.owner !== ctx.session.address.toLowerCase()) {
        throw new AppError("NOT_FOUND", `No instance ${input.instanceId} of yours`);
      }
      try {
        const slice = await cp.serial.request({
          nodeId: row.nodeId,
          instanceId: row.id,
          maxBytes: input.maxBytes,
          offset: input.offset,
        });
        return { instanceId: row.id, nodeId: row.nodeId, ...slice, fetchedAt: new Date() };
      } catch (error) {
        if (!(error instanceof SerialLogError)) throw error;
        throw new AppError(ERROR_CODES[error.code], error.message, {
          details: { reason: error.code, nodeId: row.nodeId, instanceStatus: row.status },
          cause: error,
        });
      }
    }),
});
