import { BaseError, ContractFunctionRevertedError } from "viem";
import { orchestratorAbi } from "./abi";

/** Names of the orchestrator's custom errors. */
export type TOrchestratorErrorName = Extract<(typeof orchestratorAbi)[number], { type: "error" }>["name"];

/**
 * The custom-error name of a reverted orchestrator call (e.g. "InsufficientStake"), or undefined when
 * the failure was not a decoded revert (network error, out of gas, unknown selector).
 */
export function orchestratorErrorName(error: unknown): TOrchestratorErrorName | undefined {
  const name = revertOf(error)?.data?.errorName;
  return errorNames.find((n) => n === name);
}

const errorNames: TOrchestratorErrorName[] = orchestratorAbi.flatMap((item) =>
  item.type === "error" ? [item.name] : [],
);

/** The decoded revert arguments of an orchestrator call, when there are any. */
export function orchestratorErrorArgs(error: unknown): readonly unknown[] | undefined {
  return revertOf(error)?.data?.args;
}

function revertOf(error: unknown): ContractFunctionRevertedError | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const found = error.walk((e) => e instanceof ContractFunctionRevertedError);
  return found instanceof ContractFunctionRevertedError ? found : undefined;
}
