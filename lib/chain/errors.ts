import { BaseError, ContractFunctionRevertedError, decodeErrorResult, type Hex, isHex } from "viem";
import { orchestratorAbi } from "./abi";

/** Names of the orchestrator's custom errors. */
export type TOrchestratorErrorName = Extract<(typeof orchestratorAbi)[number], { type: "error" }>["name"];

const errorNames: TOrchestratorErrorName[] = orchestratorAbi.flatMap((item) =>
  item.type === "error" ? [item.name] : [],
);

/**
 * The decoded custom error of a reverted orchestrator call (e.g. "InsufficientStake" and its
 * arguments), or undefined when the failure was not an orchestrator revert (network error, out of gas).
 * Handles contract calls (viem's ContractFunctionRevertedError) and raw calls such as a deployment,
 * where only the RPC error carries the revert data.
 */
export function decodeOrchestratorRevert(
  error: unknown,
): { errorName: TOrchestratorErrorName; args: readonly unknown[] } | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError && reverted.data !== undefined) {
    const name = errorNames.find((n) => n === reverted.data?.errorName);
    return name === undefined ? undefined : { errorName: name, args: reverted.data.args ?? [] };
  }
  const data = revertData(error.walk());
  if (data === undefined) return undefined;
  try {
    const decoded = decodeErrorResult({ abi: orchestratorAbi, data });
    const name = errorNames.find((n) => n === decoded.errorName);
    return name === undefined ? undefined : { errorName: name, args: decoded.args ?? [] };
  } catch {
    return undefined;
  }
}

/** The custom-error name of a reverted orchestrator call, or undefined. */
export function orchestratorErrorName(error: unknown): TOrchestratorErrorName | undefined {
  return decodeOrchestratorRevert(error)?.errorName;
}

// Nodes put revert data either directly on the RPC error (`data: "0x…"`) or one level down
// (`data: { data: "0x…" }`, Hardhat and some providers).
function revertData(error: unknown): Hex | undefined {
  if (typeof error !== "object" || error === null || !("data" in error)) return undefined;
  const data: unknown = error.data;
  const hex = typeof data === "object" && data !== null && "data" in data ? data.data : data;
  return typeof hex === "string" && isHex(hex) && hex.length >= 10 ? hex : undefined;
}
