import { readdir, readFile } from "node:fs/promises";

/** NUL-separated argv of a process, or null when it is gone. */
export async function processArgv(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return raw ? raw.split("\0").filter((s, i, a) => s !== "" || i < a.length - 1) : null;
  } catch {
    return null;
  }
}

/** Whether `pid` is alive and is the QEMU of this VM (matched by its pidfile path, unique per VM). */
export async function isVmProcess(pid: number, pidfilePath: string): Promise<boolean> {
  const argv = await processArgv(pid);
  if (!argv) return false;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // A zombie has exited already.
  if (/^\d+ \(.*\) Z /.test(stat)) return false;
  const i = argv.indexOf("-pidfile");
  return i >= 0 && argv[i + 1] === pidfilePath;
}

/** All QEMU processes whose pidfile lives under `dir` (for the orphan scan). */
export async function qemuProcessesUnder(dir: string): Promise<{ pid: number; pidfilePath: string }[]> {
  const found: { pid: number; pidfilePath: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const argv = await processArgv(pid);
    if (!argv?.[0]?.includes("qemu-system")) continue;
    const i = argv.indexOf("-pidfile");
    const pidfilePath = i >= 0 ? argv[i + 1] : undefined;
    if (pidfilePath?.startsWith(`${dir}/`)) found.push({ pid, pidfilePath });
  }
  return found;
}

/** user+system CPU seconds and RSS bytes of a process (zeros when it is gone). */
export async function processUsage(pid: number): Promise<{ cpuSeconds: number; rssBytes: number }> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime/stime are fields 14/15, rss 24 (1-based).
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const rssPages = Number(rest[21]);
    const ticks = 100; // USER_HZ on Linux x86-64
    return { cpuSeconds: (utime + stime) / ticks, rssBytes: rssPages * 4096 };
  } catch {
    return { cpuSeconds: 0, rssBytes: 0 };
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
