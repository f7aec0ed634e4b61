import type { TConsoleModule, TConsoleRuntime } from "@/server/http/console-runtime";
import { createBuildCommitments, type TBuildCommitments } from "./build-commitments";

declare module "@/server/http/console-runtime" {
  interface ConsoleServices {
    buildCommitments: TBuildCommitments;
  }
}

/**
 * The console's build-commitment service, created on first use from the environment (chain =
 * CHAIN_RPC_URL + CHAIN_ID + ORCHESTRATOR_ADDRESS; relayer = CHAIN_RELAYER_PRIVATE_KEY, devnet
 * default) and closed with the console.
 */
export function buildCommitmentsOf(runtime: TConsoleRuntime): TBuildCommitments {
  const existing = runtime.services.buildCommitments;
  if (existing) return existing;
  const env = runtime.env;
  const service = createBuildCommitments({
    db: runtime.db,
    chain: env.orchestratorAddress
      ? { rpcUrl: env.chainRpcUrl, chainId: env.chainId, contract: env.orchestratorAddress }
      : null,
    relayerPrivateKey: env.relayerPrivateKey,
    log: runtime.logger.child({ component: "build-commitments" }),
  });
  runtime.services.buildCommitments = service;
  runtime.onClose(() => service.close());
  return service;
}

/**
 * Optional console module: creates the service at start and resumes relays a previous process
 * left pending (without it, the service starts on the first ship or commitment query).
 */
export function buildCommitmentsModule(): TConsoleModule {
  return {
    name: "build-commitments",
    async start(runtime) {
      const service = buildCommitmentsOf(runtime);
      const resumed = await service.resumePending();
      if (resumed > 0) runtime.logger.info({ resumed }, "resuming pending build commitment relays");
    },
  };
}
