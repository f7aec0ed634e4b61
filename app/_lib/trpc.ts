"use client";
import { createTRPCClient, httpBatchLink, httpLink, isNonJsonSerializable, splitLink } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import superjson from "superjson";
import type { AppRouter } from "@/server/api/root";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

/** The browser's tRPC client: same origin, session cookie sent automatically. */
export function makeTrpcClient() {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => isNonJsonSerializable(op.input),
        true: httpLink({ url: "/api/trpc", transformer: superjson }),
        false: httpBatchLink({
          url: "/api/trpc",
          transformer: superjson,
          maxURLLength: 4000,
          // The console refuses batches of more than 20 procedures (FORMATION_LIMIT_TRPC_BATCH).
          maxItems: 20,
        }),
      }),
    ],
  });
}
