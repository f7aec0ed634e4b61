// formnet address plan shared by console, agent, CLI and browser (see docs/formnet.md).
export { allocateLowestFree, FormnetExhaustedError, type TAllocateOptions } from "./allocate";
export {
  cidrContains,
  FormnetAddressError,
  formatCidr,
  hostCidr,
  hostRange,
  intToIp,
  ipToInt,
  parseCidr,
  type TCidr,
} from "./cidr";
export { chooseEndpoint } from "./endpoint";
export { formnetBridgeName, formnetInterfaceName, IFNAME_MAX, instanceChainName } from "./naming";
export { planPeersFor, type TPlanPeersOptions } from "./plan";
export * from "./schemas";
