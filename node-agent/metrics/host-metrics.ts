import { readFile, statfs } from "node:fs/promises";
import {
  cpuPercent,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  type TCpuTimes,
  type TNetCounters,
} from "./proc-parse";

/** Host-wide figures sent in every heartbeat (the protocol's `TMetrics`); network in bytes/second. */
export interface THostMetrics {
  cpuPct: number;
  memUsedMb: number;
  diskUsedGb: number;
  netRx: number;
  netTx: number;
}

/**
 * Samples host metrics from /proc and statfs. CPU and network rates need two samples, so the first
 * reading after construction reports CPU averaged since boot and zero network rates; later readings
 * cover the interval since the previous call — one heartbeat interval when called per heartbeat.
 */
export class HostMetrics {
  readonly #diskPath: string;
  readonly #procRoot: string;
  readonly #now: () => number;
  #previousCpu: TCpuTimes = { idle: 0, total: 0 };
  #previousNet: { at: number; counters: TNetCounters } | undefined;

  constructor(options: { diskPath: string; procRoot?: string; now?: () => number }) {
    this.#diskPath = options.diskPath;
    this.#procRoot = options.procRoot ?? "/proc";
    this.#now = options.now ?? Date.now;
  }

  async sample(): Promise<THostMetrics> {
    const [stat, meminfo, netdev, fs] = await Promise.all([
      readFile(`${this.#procRoot}/stat`, "utf8"),
      readFile(`${this.#procRoot}/meminfo`, "utf8"),
      readFile(`${this.#procRoot}/net/dev`, "utf8"),
      statfs(this.#diskPath),
    ]);
    const cpu = parseProcStat(stat);
    const cpuPct = cpuPercent(this.#previousCpu, cpu);
    this.#previousCpu = cpu;
    const net = parseNetDev(netdev);
    const at = this.#now();
    const rates = netRates(this.#previousNet, { at, counters: net });
    this.#previousNet = { at, counters: net };
    const usedBytes = (fs.blocks - fs.bfree) * fs.bsize;
    return {
      cpuPct,
      memUsedMb: parseMeminfo(meminfo).usedMb,
      diskUsedGb: Math.round((usedBytes / 1024 ** 3) * 10) / 10,
      netRx: rates.rx,
      netTx: rates.tx,
    };
  }
}

/** Bytes per second between two counter samples; counters that went backwards (reset) give 0. */
export function netRates(
  previous: { at: number; counters: TNetCounters } | undefined,
  current: { at: number; counters: TNetCounters },
): { rx: number; tx: number } {
  if (!previous) return { rx: 0, tx: 0 };
  const seconds = (current.at - previous.at) / 1000;
  if (seconds <= 0) return { rx: 0, tx: 0 };
  const rate = (now: number, before: number) => Math.max(0, Math.round((now - before) / seconds));
  return {
    rx: rate(current.counters.rxBytes, previous.counters.rxBytes),
    tx: rate(current.counters.txBytes, previous.counters.txBytes),
  };
}
