import { accountRouter } from "@/server/api/routers/account";
import { authRouter } from "@/server/api/routers/auth";
import { buildsRouter } from "@/server/api/routers/builds";
import { deploymentsRouter } from "@/server/api/routers/deployments";
import { formnetRouter } from "@/server/api/routers/formnet";
import { ingressRouter } from "@/server/api/routers/ingress";
import { instancesRouter } from "@/server/api/routers/instances";
import { nodesRouter } from "@/server/api/routers/nodes";
import { serialRouter } from "@/server/api/routers/serial";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";
import { stateRouter } from "@/server/statestore/router";

/**
 * The console API. One router per domain; add yours here (and its procedures to the
 * authorization matrix in server/api/authorization.integration.test.ts).
 */
export const appRouter = createTRPCRouter({
  auth: authRouter,
  account: accountRouter,
  builds: buildsRouter,
  instances: instancesRouter,
  deployments: deploymentsRouter,
  nodes: nodesRouter,
  serial: serialRouter,
  formnet: formnetRouter,
  ingress: ingressRouter,
  state: stateRouter,
});

export type AppRouter = typeof appRouter;

/** Server-side caller (tests, scripts): `createCaller(await createContext(runtime, request))`. */
export const createCaller = createCallerFactory(appRouter);
