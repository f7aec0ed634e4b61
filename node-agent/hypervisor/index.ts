/** Public surface of the hypervisor driver. */
export { ensureGuestInitrd, GUEST_MODULES, resolveModuleOrder } from "./initrd";
export { defaultNetwork, QemuHypervisor, type TQemuHypervisorOptions } from "./qemu";
export { kernelCmdline, qemuArgv } from "./qemu-args";
export {
  type Hypervisor,
  type TVmEvent,
  type TVmInfo,
  type TVmMetrics,
  type TVmNetwork,
  type TVmSpec,
  type TVmSpecInput,
  type TVmStatus,
  VmError,
  ZVmNetwork,
  ZVmSpec,
} from "./types";
