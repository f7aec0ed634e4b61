import { z } from "zod";
import { ZEndpoint, ZFormnetPeer, ZWgKey } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure, signedProcedure } from "@/server/api/trpc";
import { controlPlaneOf } from "./control-plane-context";

const ZJoinResult = z.object({ ip: z.string(), cidr: z.string(), peers: z.array(ZFormnetPeer) });

/** formnet membership of users' devices (`form manage join` / `formnet-up`) and the peer list. */
export const formnetRouter = createTRPCRouter({
  /** Allocates (or returns) the device's formnet address and returns the peers to configure. */
  join: signedProcedure(
    "formnet.join",
    z.object({ publicKey: ZWgKey, endpoints: z.array(ZEndpoint).max(16).default([]) }),
  )
    .output(ZJoinResult)
    .mutation(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      const ip = await cp.formnet.allocate({
        kind: "user",
        ref: `${ctx.actor.address}:${input.params.publicKey}`,
        publicKey: input.params.publicKey,
        endpoints: input.params.endpoints,
      });
      const peers = (await cp.formnet.peers()).filter((p) => p.publicKey !== input.params.publicKey);
      return { ip, cidr: cp.formnet.cidr, peers };
    }),

  leave: signedProcedure("formnet.leave", z.object({ publicKey: ZWgKey }))
    .output(z.object({ left: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      const ref = `${ctx.actor.address}:${input.params.publicKey}`;
      const existing = await cp.repos.formnet.findByRef(ref);
      if (existing) await cp.formnet.release(ref);
      return { left: existing !== null };
    }),

  peers: protectedProcedure
    .output(z.array(ZFormnetPeer))
    .query(async ({ ctx }) => controlPlaneOf(ctx).formnet.peers()),

  /** The formnet block and the caller's device addresses. */
  status: protectedProcedure
    .output(
      z.object({
        cidr: z.string(),
        devices: z.array(z.object({ ip: z.string(), publicKey: z.string().nullable() })),
      }),
    )
    .query(async ({ ctx }) => {
      const cp = controlPlaneOf(ctx);
      const rows = await cp.repos.formnet.list();
      const mine = rows.filter((r) => r.kind === "user" && r.ref.startsWith(`${ctx.session.address}:`));
      return { cidr: cp.formnet.cidr, devices: mine.map((r) => ({ ip: r.ip, publicKey: r.publicKey })) };
    }),
});
