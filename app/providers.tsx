"use client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { type ReactNode, useState } from "react";
import { WagmiProvider } from "wagmi";
import { ToastProvider } from "./_components/toasts";
import { ConsoleConfigProvider, type TConsoleConfig } from "./_lib/console-config";
import { shouldRetry } from "./_lib/errors";
import { makeTrpcClient, TRPCProvider } from "./_lib/trpc";
import { makeWagmiConfig, type TChainInfo } from "./_lib/wagmi";

/** Client-side providers: console config, wagmi (wallet), React Query (data), tRPC (typed API), toasts. */
export function Providers({
  chain,
  config,
  children,
}: {
  chain: TChainInfo;
  config: TConsoleConfig;
  children: ReactNode;
}) {
  const [wagmiConfig] = useState(() => makeWagmiConfig(chain));
  // A definite answer (not found, bad input, signed out) is not asked again; network trouble once.
  const [queryClient] = useState(
    () => new QueryClient({ defaultOptions: { queries: { staleTime: 2_000, retry: shouldRetry } } }),
  );
  const [trpcClient] = useState(() => makeTrpcClient());
  return (
    <ConsoleConfigProvider value={config}>
      <WagmiProvider config={wagmiConfig}>
        <QueryClientProvider client={queryClient}>
          <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
            <ToastProvider>{children}</ToastProvider>
          </TRPCProvider>
        </QueryClientProvider>
      </WagmiProvider>
    </ConsoleConfigProvider>
  );
}
