import { z } from "zod";
import { createTRPCRouter, protectedProcedure, publicProcedure } from "@/server/api/trpc";
import { ZSinceMinutes } from "@/server/services/metrics/metrics-dto";
import { ZNodeDetailDto, ZNodeDto, ZPublicNodeDto } from "@/server/services/nodes/node-dto";

/** Nodes of the network: capacity, allocation, health, heartbeats and metrics history. */
export const nodesRouter = createTRPCRouter({
  list: protectedProcedure
    .input(z.object({ operator: z.string().optional() }).default({}))
    .output(z.array(ZNodeDto))
    .query(({ ctx, input }) => ctx.services.nodes.list(input)),

  /** The public view of every node (the signed-out nodes page). */
  publicList: publicProcedure
    .input(z.void())
    .output(z.array(ZPublicNodeDto))
    .query(({ ctx }) => ctx.services.nodes.publicList()),

  get: protectedProcedure
    .input(z.object({ nodeId: z.string().min(1).max(64), sinceMinutes: ZSinceMinutes }))
    .output(ZNodeDetailDto)
    .query(({ ctx, input }) => ctx.services.nodes.get(input)),
});
