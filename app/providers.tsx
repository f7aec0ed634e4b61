"use client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { type ReactNode, useState } from "react";
import { WagmiProvider } from "wagmi";
import { makeTrpcClient, TRPCProvider } from "./_lib/trpc";
import { makeWagmiConfig, type TChainInfo } from "./_lib/wagmi";

/** Client-side providers: wagmi (wallet), React Query (data) and tRPC (typed API). */
export function Providers({ chain, children }: { chain: TChainInfo; children: ReactNode }) {
  const [wagmiConfig] = useState(() => makeWagmiConfig(chain));
  const [queryClient] = useState(
    () => new QueryClient({ defaultOptions: { queries: { staleTime: 2_000, retry: 1 } } }),
  );
  const [trpcClient] = useState(() => makeTrpcClient());
  return (
    <WagmiProvider config={wagmiConfig}>
      <QueryClientProvider client={queryClient}>
        <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
          {children}
        </TRPCProvider>
      </QueryClientProvider>
    </WagmiProvider>
  );
}
