/** Display helpers shared by the console's pages. */

/** `1m 05s`, `2h 03m`, `42s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, "0")}m`;
}

/** `3 s ago`, `5 min ago`, `2 h ago`, or a date for older times. */
export function formatAgo(at: Date | string | null | undefined, now = Date.now()): string {
  if (!at) return "never";
  const t = typeof at === "string" ? Date.parse(at) : at.getTime();
  const s = Math.round((now - t) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** First 12 hex characters of an id or `sha256:` digest. */
export function shortId(id: string, length = 12): string {
  const bare = id.startsWith("sha256:") ? id.slice(7) : id;
  return bare.length > length ? `${bare.slice(0, length)}…` : bare;
}

export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

export function formatResources(r: { vcpu: number; memoryMb: number; diskGb: number }): string {
  return `${r.vcpu} vCPU · ${r.memoryMb} MB · ${r.diskGb} GB`;
}
