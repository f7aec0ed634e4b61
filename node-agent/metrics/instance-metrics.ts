import type { TInstanceStatus, TMetrics } from "@/lib/protocol";
import type { TVmEvent, TVmInfo, TVmMetrics, TVmStatus } from "../hypervisor/types";

/** Hypervisor VM status in the protocol's words. */
export function protocolStatus(status: TVmStatus): TInstanceStatus {
  switch (status) {
    case "created":
      return "pending";
    case "running":
      return "running";
    case "stopped":
      return "stopped";
    // QEMU is gone but the guest's memory is saved beside its disk: a start resumes it.
    case "suspended":
      return "suspended";
    case "crashed":
      return "failed";
  }
}

/** A listed VM's status in the protocol's words: one being restarted after a crash is booting, not failed. */
export function vmProtocolStatus(vm: Pick<TVmInfo, "status" | "restarting">): TInstanceStatus {
  return vm.restarting ? "booting" : protocolStatus(vm.status);
}

/** What a hypervisor event means for the instance's status as the console shows it. */
export function vmEventStatus(event: TVmEvent): { status: TInstanceStatus; reason?: string } {
  switch (event.type) {
    // QEMU running is not yet a reachable guest; boot jobs report "running" once sshd answers.
    case "started":
    case "restarted":
      return { status: "booting" };
    case "adopted":
      return { status: "running" };
    case "stopped":
      return { status: "stopped" };
    case "suspended":
      return { status: "suspended" };
    case "crashed":
      return event.restarting
        ? { status: "booting", reason: "the VM's QEMU process exited unexpectedly; restarting it" }
        : {
            status: "failed",
            reason: `the VM's QEMU process exited unexpectedly (${event.reason ?? "restart limit reached"})`,
          };
  }
}

/**
 * Turns the hypervisor's cumulative per-VM counters (CPU seconds, tap bytes) into the rates the
 * protocol reports, remembering the previous sample of each VM.
 */
export class InstanceMetrics {
  readonly #previous = new Map<string, TVmMetrics>();

  rates(sample: TVmMetrics): TMetrics {
    const previous = this.#previous.get(sample.instanceId);
    this.#previous.set(sample.instanceId, sample);
    const base = {
      memUsedMb: Math.round(sample.rssBytes / 1024 ** 2),
      diskUsedGb: Math.round((sample.diskBytes / 1024 ** 3) * 100) / 100,
    };
    const seconds = previous ? (Date.parse(sample.at) - Date.parse(previous.at)) / 1000 : 0;
    if (!previous || seconds <= 0) return { ...base, cpuPct: 0, netRx: 0, netTx: 0 };
    const rate = (now: number, before: number) => Math.max(0, (now - before) / seconds);
    return {
      ...base,
      // 100 % is one full host core, as `top` shows it; a 2-vCPU VM can reach 200 %.
      cpuPct: Math.round(rate(sample.cpuSeconds, previous.cpuSeconds) * 1_000) / 10,
      netRx: Math.round(rate(sample.netRxBytes, previous.netRxBytes)),
      netTx: Math.round(rate(sample.netTxBytes, previous.netTxBytes)),
    };
  }

  forget(instanceId: string): void {
    this.#previous.delete(instanceId);
  }
}
