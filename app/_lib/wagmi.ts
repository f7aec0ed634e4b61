import { defineChain } from "viem";
import { createConfig, http } from "wagmi";
import { injected } from "wagmi/connectors";

export type TChainInfo = { chainId: number; rpcUrl: string; name: string };

/** wagmi configuration for the console's chain; the console tells the browser which chain it uses. */
export function makeWagmiConfig(info: TChainInfo) {
  const chain = defineChain({
    id: info.chainId,
    name: info.name,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [info.rpcUrl] } },
  });
  return createConfig({
    chains: [chain],
    connectors: [injected()],
    transports: { [chain.id]: http(info.rpcUrl) },
    ssr: true,
  });
}
