import type { PrivateKeyAccount } from "viem/accounts";
import type { Logger } from "@/core/log";
import { ensureRegistered } from "../chain/register";
import type { TAgentConfig } from "./schema";

/**
 * Keep trying to make sure the operator is registered on the orchestrator. An unreachable RPC must
 * not stop the node from serving, so failures are logged and retried every `retryMs` until one
 * attempt succeeds. Returns `cancel` (stops further retries) and `firstAttempt`, settled once the
 * first attempt has succeeded or failed, so the agent can wait for it before dialling the console
 * (which admits only registered operators) instead of being refused and backing off.
 */
export function registerOnChainInBackground(options: {
  config: TAgentConfig;
  account: PrivateKeyAccount;
  formnetPublicKey: string;
  logger: Logger;
  retryMs?: number;
}): { cancel: () => void; firstAttempt: Promise<void> } {
  const { config, logger } = options;
  const chain = config.chain;
  if (!chain) return { cancel: () => {}, firstAttempt: Promise.resolve() };
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const attempt = () =>
    ensureRegistered({
      rpcUrl: chain.rpcUrl,
      chainId: chain.chainId,
      contract: chain.contractAddress,
      account: options.account,
      region: config.node.region,
      capacity: config.node.capacity,
      metadata: JSON.stringify({ console: config.console.url, formnetPublicKey: options.formnetPublicKey }),
      stake: BigInt(chain.stakeWei),
      logger,
    }).then(
      (result) => logger.info({ result }, "operator registered on chain"),
      (error: unknown) => {
        logger.error(
          { err: error, retryMs: options.retryMs ?? 60_000 },
          "chain registration failed; will retry",
        );
        if (!cancelled) timer = setTimeout(attempt, options.retryMs ?? 60_000);
      },
    );
  const firstAttempt = attempt();
  return {
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
    },
    firstAttempt,
  };
}
