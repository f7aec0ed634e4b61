/** Build contexts: deterministic packing on the client, safe all-or-nothing unpacking on console and agent. */
export { CONTEXT_ERROR_CODES, ContextError, type TContextErrorCode } from "./errors";
export { compileIgnore, type TIgnoreMatcher } from "./ignore";
export { packContext, type TPackedContext } from "./pack";
export { DEFAULT_UNPACK_LIMITS, type TUnpackLimits, type TUnpackResult, unpackContext } from "./unpack";
