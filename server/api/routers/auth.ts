import { z } from "zod";
import { MAX_ACTION_TTL_SECONDS } from "@/lib/signing/actions";
import { ZSignature } from "@/lib/signing/envelope";
import { createTRPCRouter, protectedProcedure, publicProcedure } from "@/server/api/trpc";
import { clearedSessionCookie, sessionCookie } from "@/server/services/auth/cookie";

const ZSessionDto = z.object({
  address: z.string(),
  via: z.enum(["cookie", "signature"]),
  expiresAt: z.date(),
  isAdmin: z.boolean(),
});

/** SIWE sign-in (EIP-4361) for browsers; see docs/console.md. */
export const authRouter = createTRPCRouter({
  /** What a client must bind its signatures to (the CLI reads this before signing). */
  config: publicProcedure
    .input(z.object({}).optional())
    .output(z.object({ origin: z.string(), chainId: z.number(), actionTtlMaxSeconds: z.number() }))
    .query(({ ctx }) => ({
      origin: ctx.env.consoleOrigin,
      chainId: ctx.env.chainId,
      actionTtlMaxSeconds: MAX_ACTION_TTL_SECONDS,
    })),

  /** A one-time nonce plus the fields the client must put in its SIWE message. */
  nonce: publicProcedure
    .input(z.object({}).optional())
    .output(
      z.object({
        nonce: z.string(),
        expiresAt: z.date(),
        domain: z.string(),
        uri: z.string(),
        chainId: z.number(),
        version: z.literal("1"),
      }),
    )
    .mutation(async ({ ctx }) => {
      const { nonce, expiresAt } = await ctx.services.auth.siwe.issueNonce();
      const origin = new URL(ctx.env.consoleOrigin);
      return {
        nonce,
        expiresAt,
        domain: origin.host,
        uri: origin.origin,
        chainId: ctx.env.chainId,
        version: "1",
      };
    }),

  signIn: publicProcedure
    .input(z.object({ message: z.string().min(1).max(4096), signature: ZSignature }))
    .output(ZSessionDto)
    .mutation(async ({ ctx, input }) => {
      const { token, session } = await ctx.services.auth.siwe.signIn({
        message: input.message,
        signature: input.signature,
        userAgent: ctx.request.headers.get("user-agent"),
      });
      ctx.request.setCookie(
        sessionCookie({ token, expiresAt: session.expiresAt, origin: ctx.env.consoleOrigin }),
      );
      return {
        address: session.address,
        via: session.via,
        expiresAt: session.expiresAt,
        isAdmin: session.isAdmin,
      };
    }),

  /** The caller's session, or null when not signed in. */
  me: publicProcedure
    .input(z.object({}).optional())
    .output(ZSessionDto.nullable())
    .query(({ ctx }) => {
      const s = ctx.session;
      return s ? { address: s.address, via: s.via, expiresAt: s.expiresAt, isAdmin: s.isAdmin } : null;
    }),

  /** Revokes the cookie session server-side and clears the cookie. */
  signOut: protectedProcedure
    .input(z.object({}).optional())
    .output(z.object({ revoked: z.boolean() }))
    .mutation(async ({ ctx }) => {
      const id = ctx.session.sessionId;
      if (id) await ctx.services.auth.siwe.signOut(id);
      ctx.request.setCookie(clearedSessionCookie(ctx.env.consoleOrigin));
      return { revoked: id !== null };
    }),
});
