// Public surface of core/formnet for the agent daemon, the console and the CLI (see docs/formnet.md).
export { applyInstanceAccess, listInstanceAccess, removeInstanceAccess } from "./access";
export { CommandError } from "./command";
export { localEndpointCandidates } from "./endpoints";
export {
  addInstanceRoute,
  ensureInstanceBridge,
  removeInstanceBridge,
  removeInstanceRoute,
} from "./instance-network";
export { ensureKeyFile, generatePrivateKey, publicKeyOf, WireguardKeyError } from "./keys";
export { FormnetMember, type TFormnetMemberOptions } from "./member";
export { PeerSync, type TPeerSyncOptions } from "./peer-sync";
export { formnetStatus, observedPeerEndpoints, type TFormnetStatus } from "./status";
export {
  prepareUserKey,
  readUserTunnelConfig,
  readUserTunnelState,
  runUserTunnel,
  spawnUserTunnelDaemon,
  stopUserTunnel,
  type TUserTunnel,
  type TUserTunnelState,
  userTunnelPaths,
  writeUserTunnelConfig,
} from "./user-tunnel";
export {
  type TSetPeersResult,
  type TWireguardUpOptions,
  WIREGUARD_SOCKET_DIR,
  WireguardInterface,
} from "./wireguard-interface";
