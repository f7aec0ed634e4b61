import { z } from "zod";
import { ZFormfile } from "@/lib/formfile/canonical";
import { ZDigest } from "@/lib/protocol";
import { ZBuildStatus } from "@/lib/status";
import { createTRPCRouter, protectedProcedure, signedProcedure } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import { ZBuildDto } from "@/server/services/builds/build-dto";

const ZBuildId = z.string().regex(/^[0-9a-f]{64}$/, "a build id is 64 hex characters");

/** Base64 of contexts sent inline; larger contexts go through PUT /api/contexts/<digest>. */
const MAX_INLINE_CONTEXT_BASE64 = 700 * 1024;

const ZCreateParams = z.object({
  formfile: ZFormfile,
  contextDigest: ZDigest,
  contextBase64: z.string().max(MAX_INLINE_CONTEXT_BASE64).optional(),
});

const ZLogLine = z.object({ id: z.number(), at: z.date(), line: z.string() });

/** Builds: create (signed), cancel (signed), status, list and log backlog/tail. */
export const buildsRouter = createTRPCRouter({
  /**
   * Queues a build. The signature's `contentDigest` must be the context's SHA-256, so the signed
   * request pins the exact context bytes. Small contexts may ride inline as base64.
   */
  create: signedProcedure("build.create", ZCreateParams)
    .output(ZBuildDto)
    .mutation(({ ctx, input }) =>
      ctx.services.builds.createSigned({
        owner: ctx.actor.address,
        signedContentDigest: ctx.actor.contentDigest,
        ...input.params,
      }),
    ),

  cancel: signedProcedure("build.cancel", z.object({ buildId: ZBuildId }))
    .output(ZBuildDto)
    .mutation(({ ctx, input }) =>
      ctx.services.builds.cancel({ buildId: input.params.buildId, owner: ctx.actor.address }),
    ),

  /** One build with its phase timeline (`form pack status --build-id`). Admins may read any. */
  get: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(ZBuildDto)
    .query(({ ctx, input }) =>
      ctx.services.builds.view({
        buildId: input.buildId,
        viewer: ctx.session.address,
        admin: ctx.session.isAdmin,
      }),
    ),

  /** The Formfile text the build was made from (from its context), to deploy it again. */
  formfileSource: protectedProcedure
    .input(z.object({ buildId: ZBuildId }))
    .output(z.object({ text: z.string().nullable() }))
    .query(async ({ ctx, input }) => ({
      text: await ctx.services.builds.formfileSource({
        buildId: input.buildId,
        viewer: ctx.session.address,
        admin: false,
      }),
    })),

  list: protectedProcedure
    .input(
      z
        .object({ limit: z.number().int().min(1).max(200).default(50), all: z.boolean().default(false) })
        .default({ limit: 50, all: false }),
    )
    .output(z.array(ZBuildDto))
    .query(({ ctx, input }) => {
      if (input.all && !ctx.session.isAdmin)
        throw new AppError("FORBIDDEN", "Only administrators may list all builds");
      return ctx.services.builds.list({ owner: input.all ? null : ctx.session.address, limit: input.limit });
    }),

  /**
   * Log lines after cursor `after` (0 = from the start). Poll with the returned `cursor` for a live
   * tail; `done` turns true once the build reached a final state and every line was returned.
   */
  logs: protectedProcedure
    .input(
      z.object({
        buildId: ZBuildId,
        after: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(5000).default(1000),
      }),
    )
    .output(
      z.object({ lines: z.array(ZLogLine), cursor: z.number(), status: ZBuildStatus, done: z.boolean() }),
    )
    .query(({ ctx, input }) =>
      ctx.services.builds.logsPage({ ...input, viewer: ctx.session.address, admin: ctx.session.isAdmin }),
    ),
});
