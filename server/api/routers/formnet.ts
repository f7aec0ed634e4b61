import { z } from "zod";
import { ZEndpoint, ZWireguardKey } from "@/lib/formnet/schemas";
import { ZFormnetPeer } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure, signedProcedure } from "@/server/api/trpc";

const ZJoinResult = z.object({ ip: z.string(), cidr: z.string(), peers: z.array(ZFormnetPeer) });

/**
 * formnet membership of users' devices (`form manage join` / `formnet-up`) and the peer list. A
 * join answers CONFLICT for a key another member holds and PRECONDITION_FAILED over the device cap.
 */
export const formnetRouter = createTRPCRouter({
  /** Allocates (or returns) the device's formnet address and returns the peers to configure. */
  join: signedProcedure(
    "formnet.join",
    z.object({ publicKey: ZWireguardKey, endpoints: z.array(ZEndpoint).max(16).default([]) }),
  )
    .output(ZJoinResult)
    .mutation(({ ctx, input }) => ctx.services.formnet.join({ owner: ctx.actor.address, ...input.params })),

  leave: signedProcedure("formnet.leave", z.object({ publicKey: ZWireguardKey }))
    .output(z.object({ left: z.boolean() }))
    .mutation(async ({ ctx, input }) => ({
      left: await ctx.services.formnet.leaveDevice({ owner: ctx.actor.address, ...input.params }),
    })),

  /** What the caller may see of the mesh: every node and their own devices (admins: everything). */
  peers: protectedProcedure
    .input(z.void())
    .output(z.array(ZFormnetPeer))
    .query(({ ctx }) => ctx.services.formnet.peersVisibleTo(ctx.session)),

  /** The formnet block and the caller's device addresses. */
  status: protectedProcedure
    .input(z.void())
    .output(
      z.object({
        cidr: z.string(),
        devices: z.array(z.object({ ip: z.string(), publicKey: z.string().nullable() })),
      }),
    )
    .query(({ ctx }) => ctx.services.formnet.status(ctx.session.address)),
});
