/** Public surface of the Formfile language: parse, format diagnostics, policy check, canonical JSON. */
export {
  type TFormfile,
  type TFormfileStep,
  type TFormfileUser,
  type THealthcheck,
  ZFormfile,
  ZHealthcheck,
} from "./canonical";
export { canonicalJson } from "./canonical-json";
export { formatDiagnostic, type TDiagnostic, type TPosition } from "./diagnostics";
export {
  autoName,
  INSTRUCTIONS,
  parseFormfile,
  type TParseFailure,
  type TParseOptions,
  type TParseResult,
  type TParseSuccess,
} from "./parse";
export { checkPolicy, DEVNET_POLICY, type TNetworkPolicy, type TPolicyInput, ZNetworkPolicy } from "./policy";
export { ownerCryptSalt, randomCryptSalt, sha512Crypt, verifySha512Crypt } from "./sha512-crypt";
export type { TFormfileLocations } from "./state";
export { type TCanonicalIssue, validateCanonicalFormfile } from "./validate-canonical";
