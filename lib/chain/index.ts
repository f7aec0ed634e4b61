/** Public surface of the orchestrator client: ABI, configuration, reads, writes, signed commitments. */
export { orchestratorAbi, orchestratorSourceHash } from "./abi";
export {
  buildCommitmentTypedData,
  buildCommitmentTypes,
  commitBuildFor,
  readCommitNonce,
  signBuildCommitment,
  type TBuildCommitmentMessage,
} from "./build-commitment";
export {
  buildIdToBytes32,
  COMMITMENT_TTL_SECONDS,
  checkSignedCommitment,
  draftMessage,
  imageDigestFromBytes32,
  imageDigestToBytes32,
  MAX_COMMITMENT_TTL_SECONDS,
  type TCommitmentDraft,
  type TCommitmentProblem,
  type TSignedCommitment,
  ZCommitmentDraft,
  ZSignedCommitment,
} from "./commitment";
export {
  chainConfigFromEnv,
  chainFromConfig,
  DEVNET_CHAIN_ID,
  nodeKeyFromAddress,
  parseChainFile,
  type TCapacity,
  type TChainConfig,
  ZCapacity,
  ZChainConfig,
} from "./config";
export { decodeOrchestratorRevert, orchestratorErrorName, type TOrchestratorErrorName } from "./errors";
export {
  readBuildCommitment,
  readIsActive,
  readIsCommitted,
  readMinimumStake,
  readOperator,
  readOperatorOfNodeKey,
  type TContractRef,
  type TOperator,
} from "./read";
export {
  addStake,
  commitBuild,
  deregisterOperator,
  registerOperator,
  setTreasury,
  slashOperator,
  type TOperatorProfile,
  TransactionRevertedError,
  type TWallet,
  type TWriteRef,
  transferGovernance,
  updateOperator,
  WalletAccountMissingError,
  waitForSuccess,
  withdrawStake,
} from "./write";
