import { readFile } from "node:fs/promises";

/** HZ of the Debian cloud kernel: loops_per_jiffy = TSC Hz / HZ. */
const KERNEL_HZ = 250;

/**
 * Kernel parameters that give a TCG guest its clock without calibrating it. The build VM is a
 * microvm: no HPET and no ACPI PM timer, so the guest calibrates its TSC against the PIT alone,
 * and under host load that calibration fails ("tsc: No reference (HPET/PMTIMER) available"), after
 * which the guest waits forever for a timer (seen with 3 builds at once on 2 cores). Under TCG the
 * guest's TSC is the host's, so the host's known TSC frequency is the right value. Empty when the
 * host's TSC frequency is not known to be constant (the guest then calibrates as before).
 */
export async function tcgClockParams(cpuinfoPath = "/proc/cpuinfo"): Promise<string[]> {
  const cpuinfo = await readFile(cpuinfoPath, "utf8").catch(() => "");
  return clockParamsFrom(cpuinfo);
}

export function clockParamsFrom(cpuinfo: string): string[] {
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)$/m.exec(cpuinfo)?.[1]);
  if (!flags.includes("constant_tsc") || !flags.includes("tsc_known_freq") || !(mhz > 100)) return [];
  const khz = Math.round(mhz * 1000);
  return [`tsc_early_khz=${khz}`, "tsc=reliable", `lpj=${Math.round((khz * 1000) / KERNEL_HZ)}`];
}
