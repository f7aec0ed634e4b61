import { z } from "zod";
import { ZEntityKey, ZEntityKind } from "@/lib/statestore/entities";
import { createTRPCRouter, protectedProcedure, type TContext } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import type { TConsoleStateStore } from "./module";

const ZValue = z.record(z.string(), z.unknown());
const ZHistoryEntry = z.object({
  hash: z.string(),
  /** Address that signed the change; `role` is what the console's authorizer knows it as. */
  signer: z.string(),
  role: z.array(z.string()),
  /** Writer's clock, seconds. */
  time: z.number(),
  deps: z.array(z.string()),
  actor: z.string(),
  seq: z.number(),
});

/** Administrators and admitted node operators may read the replicated state; other wallets may not. */
const stateProcedure = protectedProcedure.use(async ({ ctx, next }) => {
  const state = stateOf(ctx);
  if (!ctx.session.isAdmin && !(await state.isOperator(ctx.session.address)))
    throw new AppError("FORBIDDEN", "The state store is readable by administrators and node operators");
  return next({ ctx: { state } });
});

function stateOf(ctx: Pick<TContext, "services">): TConsoleStateStore {
  const state = ctx.services.stateStore;
  if (!state) throw new AppError("UNAVAILABLE", "The state store is not running on this console");
  return state;
}

/** Read API of the console's state-store replica (operators and debugging). */
export const stateRouter = createTRPCRouter({
  list: stateProcedure
    .input(z.object({ kind: ZEntityKind.optional() }).default({}))
    .output(z.array(z.object({ key: z.string(), value: ZValue })))
    .query(({ ctx, input }) => ctx.state.store.list(input.kind)),

  get: stateProcedure
    .input(z.object({ key: ZEntityKey }))
    .output(z.object({ key: z.string(), value: ZValue.nullable(), changes: z.number() }))
    .query(({ ctx, input }) => ({
      key: input.key,
      value: ctx.state.store.get(input.key) ?? null,
      changes: ctx.state.store.history(input.key).length,
    })),

  history: stateProcedure
    .input(z.object({ key: ZEntityKey }))
    .output(z.array(ZHistoryEntry))
    .query(({ ctx, input }) =>
      ctx.state.store.history(input.key).map((h) => ({
        ...h,
        deps: [...h.deps],
        role: [...ctx.state.authorizer.rolesOf(h.signer)],
      })),
    ),

  stats: stateProcedure
    .output(
      z.object({
        address: z.string(),
        dir: z.string(),
        docs: z.number(),
        changes: z.number(),
        pending: z.number(),
        rejected: z.record(z.string(), z.number()),
      }),
    )
    .query(({ ctx }) => {
      const s = ctx.state.store.stats();
      return {
        address: ctx.state.store.address,
        dir: ctx.state.dir,
        docs: s.docs,
        changes: s.changes,
        pending: s.pending,
        rejected: s.rejected,
      };
    }),
});
