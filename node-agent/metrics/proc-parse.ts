/**
 * Pure parsers for the /proc files the host metrics read. Kept free of I/O so they can be tested
 * against captured file contents.
 */

export interface TCpuTimes {
  /** Jiffies spent idle (idle + iowait). */
  idle: number;
  total: number;
}

/** Aggregate `cpu` line of /proc/stat. */
export function parseProcStat(text: string): TCpuTimes {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("/proc/stat has no aggregate cpu line");
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal; guest time is already counted in user/nice.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  return { idle: idle + iowait, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** CPU busy percentage between two samples of /proc/stat; 0 when no time passed. */
export function cpuPercent(previous: TCpuTimes, current: TCpuTimes): number {
  const total = current.total - previous.total;
  if (total <= 0) return 0;
  const busy = total - (current.idle - previous.idle);
  return Math.min(100, Math.max(0, Math.round((busy / total) * 1_000) / 10));
}

export interface TMemInfo {
  totalMb: number;
  usedMb: number;
}

/** Used memory as the kernel sees it: MemTotal − MemAvailable (page cache counts as free). */
export function parseMeminfo(text: string): TMemInfo {
  const kb = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, "m").exec(text);
    if (!match?.[1]) throw new Error(`/proc/meminfo has no ${key}`);
    return Number(match[1]);
  };
  const total = kb("MemTotal");
  return { totalMb: Math.round(total / 1024), usedMb: Math.round((total - kb("MemAvailable")) / 1024) };
}

export interface TNetCounters {
  rxBytes: number;
  txBytes: number;
}

/**
 * Byte counters of /proc/net/dev summed over physical-ish interfaces. Loopback and the agent's own
 * taps are skipped so VM traffic is not counted twice (once on the tap, once on the uplink).
 */
export function parseNetDev(text: string, skip: (name: string) => boolean = defaultSkip): TNetCounters {
  let rxBytes = 0;
  let txBytes = 0;
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (skip(name)) continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    rxBytes += fields[0] ?? 0;
    txBytes += fields[8] ?? 0;
  }
  return { rxBytes, txBytes };
}

function defaultSkip(name: string): boolean {
  return name === "lo" || name.startsWith("tap") || name.startsWith("veth");
}

/** Resident set size of a process in MiB from /proc/<pid>/status (`VmRSS`). */
export function parseVmRssKb(statusText: string): number {
  const match = /^VmRSS:\s+(\d+)\s*kB/m.exec(statusText);
  if (!match?.[1]) throw new Error("no VmRSS line (is the process a zombie?)");
  return Number(match[1]);
}
