import { z } from "zod";
import { MAX_SERIAL_BYTES } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure } from "@/server/api/trpc";
import { ZSerialTail } from "@/server/services/deployments/serial-service";

const ZInstanceId = z.string().regex(/^i-[0-9a-f]{20}$/, "an instance id looks like i-<20 hex>");

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
    .query(({ ctx, input }) => ctx.services.serial.tail({ viewer: ctx.session.address, ...input })),
});
