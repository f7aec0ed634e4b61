/** Build contexts: deterministic packing on the client, safe all-or-nothing unpacking on console and agent. */

export { compileIgnore, type TIgnoreMatcher } from "@/lib/context/ignore";
export { CONTEXT_ERROR_CODES, ContextError, type TContextErrorCode } from "./errors";
export { packContext, type TPackedContext } from "./pack";
export { DEFAULT_UNPACK_LIMITS, type TUnpackLimits, type TUnpackResult, unpackContext } from "./unpack";
