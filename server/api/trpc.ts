/**
 * tRPC setup, in three sections (create-t3-app layout):
 *   1. CONTEXT     what every procedure sees (the console's services, env, session, request id, logger)
 *   2. INIT        transformer, error formatter (exposes `appCode`), meta
 *   3. PROCEDURES  publicProcedure, protectedProcedure, signedProcedure(action, params), adminProcedure
 *
 * Authentication (docs/console.md):
 * - browser: `formation_session` cookie from SIWE sign-in (auth.signIn);
 * - programs (CLI): queries carry `Authorization: Formation <signed session.read token>`;
 *   mutations are `signedProcedure`s whose input is an EIP-712 signed envelope.
 * No address or network location bypasses this: there is no localhost exception.
 */
import { randomUUID } from "node:crypto";
import { initTRPC, TRPCError } from "@trpc/server";
import type { Logger } from "pino";
import superjson from "superjson";
import { type ZodType, z } from "zod";
import type { TSignedActionName } from "@/lib/signing/actions";
import { lowerAddress } from "@/lib/signing/address";
import { signedActionSchema, type TSignedAction } from "@/lib/signing/envelope";
import { AppError, findAppError, type TAppErrorCode } from "@/server/errors";
import type { TConsoleRuntime } from "@/server/http/console-runtime";
import type { TActor, TSession } from "@/server/services/auth";
import { SESSION_COOKIE } from "@/server/services/auth/cookie";
import type { TServices } from "@/server/services/services";

// ---------------------------------------------------------------------------------------------
// 1. CONTEXT
// ---------------------------------------------------------------------------------------------

export { SESSION_COOKIE };

/** The HTTP-facing bits of a request, independent of the adapter (node-http, fetch, tests). */
export type TRequestInfo = {
  headers: { get(name: string): string | null };
  /** Appends a `Set-Cookie` header to the response. */
  setCookie(cookie: string): void;
  requestId?: string;
  /** The caller as the console server already resolved it (rate limits need it first). */
  caller?: { session: TSession | null; authError: AppError | null };
};

export type TContext = {
  /** The console's services (server/services/services.ts): procedures call these, never a repository. */
  services: TServices;
  env: TConsoleRuntime["env"];
  log: Logger;
  requestId: string;
  request: TRequestInfo;
  session: TSession | null;
  /** Why authentication failed, when credentials were sent but rejected (reported by protected procedures). */
  authError: AppError | null;
};

export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/** Resolves the caller from cookie or `Authorization`. Never throws for bad credentials. */
async function resolveCaller(
  runtime: TConsoleRuntime,
  request: TRequestInfo,
): Promise<{ session: TSession | null; authError: AppError | null }> {
  try {
    const token = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
    const { auth } = runtime.services;
    const session = token ? await auth.siwe.resolve(token) : null;
    return {
      session:
        session ?? (await auth.signedActions.resolveReadAuthorization(request.headers.get("authorization"))),
      authError: null,
    };
  } catch (error) {
    const authError =
      findAppError(error) ?? new AppError("UNAUTHORIZED", "Could not authenticate", { cause: error });
    return { session: null, authError };
  }
}

/** The context of one request: the caller the console server resolved, or resolved here. */
export async function createContext(runtime: TConsoleRuntime, request: TRequestInfo): Promise<TContext> {
  const headerId = request.headers.get("x-request-id");
  const requestId =
    request.requestId ?? (headerId && /^[\w.-]{1,64}$/.test(headerId) ? headerId : randomUUID());
  const { session, authError } = request.caller ?? (await resolveCaller(runtime, request));
  const log = runtime.logger.child({ requestId, ...(session ? { address: session.address } : {}) });
  return { services: runtime.services, env: runtime.env, log, requestId, request, session, authError };
}

// ---------------------------------------------------------------------------------------------
// 2. INIT
// ---------------------------------------------------------------------------------------------

/** Who may call a procedure. The authorization matrix test checks every procedure declares it. */
export type TAccess = "public" | "user" | "signed" | "admin";
export type TMeta = { access: TAccess; action?: TSignedActionName };

const DEFAULT_APP_CODE: Partial<Record<string, TAppErrorCode>> = {
  BAD_REQUEST: "BAD_REQUEST",
  PARSE_ERROR: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  TOO_MANY_REQUESTS: "RATE_LIMITED",
};

const t = initTRPC
  .context<TContext>()
  .meta<TMeta>()
  .create({
    transformer: superjson,
    errorFormatter({ shape, error }) {
      const app = findAppError(error);
      const zod = error.cause instanceof z.ZodError ? z.flattenError(error.cause) : null;
      return {
        ...shape,
        data: {
          ...shape.data,
          appCode: app?.code ?? DEFAULT_APP_CODE[error.code] ?? "INTERNAL",
          details: app?.details ?? null,
          zodError: zod,
        },
      };
    },
  });

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
export const mergeRouters = t.mergeRouters;

// ---------------------------------------------------------------------------------------------
// 3. PROCEDURES
// ---------------------------------------------------------------------------------------------

/** Turns AppErrors thrown anywhere below into TRPCErrors with the mapped code (errors.ts). */
const appErrors = t.middleware(async ({ next, ctx, path, type }) => {
  const result = await next();
  if (result.ok) return result;
  const app = findAppError(result.error);
  if (app) {
    if (app.code === "INTERNAL") ctx.log.error({ err: app, path, type }, "procedure failed");
    // The platform ran out of something only its operator can add: say so in the console's log.
    if (app.code === "RESOURCE_EXHAUSTED")
      ctx.log.warn({ path, reason: app.message, details: app.details }, "resource exhausted");
    throw new TRPCError({ code: app.trpcCode, message: app.message, cause: app });
  }
  if (result.error.code === "INTERNAL_SERVER_ERROR")
    ctx.log.error({ err: result.error, path, type }, "procedure failed");
  return result;
});

const base = t.procedure.use(appErrors);

/** Anyone, signed in or not. */
export const publicProcedure = base.meta({ access: "public" });

function requireSession(ctx: TContext, type: string): TSession {
  const session = ctx.session;
  if (!session) throw ctx.authError ?? new AppError("UNAUTHORIZED", "Sign in with your wallet first");
  if (session.via === "signature" && type !== "query") {
    // Read tokens are replayable within their short life, so they must never change state.
    throw new AppError("UNAUTHORIZED", "A signed read token only authorises queries: sign this action");
  }
  if (session.via === "cookie" && type === "mutation") {
    // SameSite=Lax already keeps the cookie off cross-site POSTs; this is defence in depth.
    const origin = ctx.request.headers.get("origin");
    if (origin !== null && origin !== ctx.env.consoleOrigin) {
      throw new AppError("FORBIDDEN", `Cross-origin request from ${origin} refused`);
    }
  }
  return session;
}

/** A signed-in caller (cookie session, or a signed read token for queries). Narrows `ctx.session`. */
export const protectedProcedure = base.meta({ access: "user" }).use(({ ctx, type, next }) => {
  const session = requireSession(ctx, type);
  return next({ ctx: { session, log: ctx.log.child({ address: session.address }) } });
});

/** An address listed in FORMATION_ADMINS. */
export const adminProcedure = base.meta({ access: "admin" }).use(({ ctx, type, next }) => {
  const session = requireSession(ctx, type);
  if (!session.isAdmin) throw new AppError("FORBIDDEN", "This needs a console administrator");
  return next({ ctx: { session, log: ctx.log.child({ address: session.address }) } });
});

/**
 * A mutation authorised by an EIP-712 signature of `action` over the input's `params` (the input
 * IS the signed envelope, see lib/signing). Verifies against the RAW input (so schema defaults or
 * transforms cannot change what was signed), consumes the nonce atomically, narrows `ctx.actor`, and
 * writes the audit entry once the procedure succeeded. A cookie session is neither needed nor sufficient.
 */
export function signedProcedure<TName extends TSignedActionName, TParams extends ZodType>(
  action: TName,
  params: TParams,
  options: {
    /**
     * Cheap consistency checks (e.g. `contentDigest` must match the uploaded content) that run after
     * the signature verified and BEFORE the nonce is consumed or the audit entry written, so a
     * rejected request changes nothing. Throw an AppError to reject.
     */
    precheck?: (args: {
      ctx: TContext;
      params: z.output<TParams>;
      envelope: TSignedAction;
    }) => Promise<void> | void;
  } = {},
) {
  return base
    .meta({ access: "signed", action })
    .input(signedActionSchema(action, params))
    .use(async ({ ctx, input, getRawInput, next }) => {
      const precheck = options.precheck;
      // Parsed by signedActionSchema(action, params) above; TypeScript cannot see through the
      // generic object schema, so name the type it produced.
      const parsed = input as { params: z.output<TParams> };
      const actor: TActor = await ctx.services.auth.signedActions.accept(
        await getRawInput(),
        action,
        precheck ? (envelope) => precheck({ ctx, params: parsed.params, envelope }) : undefined,
      );
      const address = lowerAddress(actor.address);
      const result = await next({
        ctx: { actor, log: ctx.log.child({ address, action, auditId: actor.auditId }) },
      });
      // The audit log records what was accepted AND done; a failed action is only counted.
      if (result.ok) await ctx.services.auth.signedActions.audit(actor);
      else ctx.services.auth.signedActions.rejected(actor, result.error.cause ?? result.error);
      return result;
    });
}
