import { readFile } from "node:fs/promises";

/** One JSON record of the platform's log (`[service] {...}`, as `npm start` prefixes them). */
export type TPlatformLogLine = {
  service: string;
  time: number;
  msg: string;
  jobId?: string;
  kind?: string;
  phase?: string;
  instanceId?: string;
  reason?: string;
  /** The whole record. */
  fields: Record<string, unknown>;
};

/** The platform log's JSON records written at or after `sinceMs`, oldest first. */
export async function platformLogLines(path: string, sinceMs: number): Promise<TPlatformLogLine[]> {
  const lines: TPlatformLogLine[] = [];
  for (const raw of (await readFile(path, "utf8")).split("\n")) {
    const m = /^\[([\w-]+)\] (\{.*\})$/.exec(raw);
    if (!m?.[1] || !m[2]) continue;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(m[2]) as Record<string, unknown>;
    } catch {
      continue; // Not a log record.
    }
    const time = Date.parse(typeof j.time === "string" ? j.time : "");
    if (Number.isNaN(time) || time < sinceMs) continue;
    const text = (key: string) => (typeof j[key] === "string" ? { [key]: j[key] as string } : {});
    lines.push({
      service: m[1],
      time,
      msg: typeof j.msg === "string" ? j.msg : "",
      ...text("jobId"),
      ...text("kind"),
      ...text("phase"),
      ...text("instanceId"),
      ...text("reason"),
      fields: j,
    });
  }
  return lines;
}
