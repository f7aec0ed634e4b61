import { z } from "zod";
import { ZEndpoint, ZWireguardKey } from "@/lib/formnet/schemas";
import { visiblePeers } from "@/lib/formnet/visible-peers";
import { ZFormnetPeer } from "@/lib/protocol";
import { createTRPCRouter, protectedProcedure, signedProcedure } from "@/server/api/trpc";
import { controlPlaneOf } from "./control-plane-context";

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
    .mutation(async ({ ctx, input }) => {
      const cp = controlPlaneOf(ctx);
      // The key must be new to formnet and the account under its device cap (issue #23).
      const ip = await cp.formnet.joinDevice({
        owner: ctx.actor.address,
        publicKey: input.params.publicKey,
        endpoints: input.params.endpoints,
      });
      const peers = visiblePeers(await cp.formnet.peers(), {
        address: ctx.actor.address,
        isAdmin: false,
      }).filter((p) => p.publicKey !== input.params.publicKey);
      return { ip, cidr: cp.formnet.cidr, peers };
    }),

  leave: signedProcedure("formnet.leave", z.object({ publicKey: ZWireguardKey }))
    .output(z.object({ left: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      const left = await controlPlaneOf(ctx).formnet.leaveDevice({
        owner: ctx.actor.address,
        publicKey: input.params.publicKey,
      });
      return { left };
    }),

  peers: protectedProcedure
    .output(z.array(ZFormnetPeer))
    .query(async ({ ctx }) => visiblePeers(await controlPlaneOf(ctx).formnet.peers(), ctx.session)),

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
