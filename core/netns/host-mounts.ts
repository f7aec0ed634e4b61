import { readFileSync } from "node:fs";

/**
 * `ip netns exec` gives the command a mount namespace with a fresh sysfs for the network
 * namespace, which hides the host's cgroup hierarchies under /sys/fs/cgroup. A simulated host's
 * agent needs them (each VM's QEMU is confined in a cgroup of its own), so the multinode network
 * starts its processes through `sh -c '<remount>; exec "$@"'`, which mounts the same hierarchies
 * (the same cgroups, not copies) again inside that mount namespace.
 */

type TMount = { mountPoint: string; fsType: string; superOptions: string };

function parseMountinfo(text: string): TMount[] {
  const mounts: TMount[] = [];
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = left.split(" ")[4];
    const [fsType, , superOptions] = right.split(" ");
    if (mountPoint && fsType && superOptions !== undefined) mounts.push({ mountPoint, fsType, superOptions });
  }
  return mounts;
}

const SAFE = /^[A-Za-z0-9_./,=:-]+$/;

/** Shell commands that mount the cgroup hierarchies listed in `mountinfo` at the same places. */
export function cgroupRemountScript(mountinfo: string): string {
  const commands: string[] = [];
  for (const m of parseMountinfo(mountinfo)) {
    if (m.mountPoint !== "/sys/fs/cgroup" && !m.mountPoint.startsWith("/sys/fs/cgroup/")) continue;
    const options = m.superOptions
      .split(",")
      .filter((o) => o !== "rw" && o !== "ro")
      .join(",");
    if (!SAFE.test(m.mountPoint) || (options !== "" && !SAFE.test(options))) continue;
    const opt = options === "" ? "" : ` -o ${options}`;
    if (m.fsType === "tmpfs") commands.push(`mount -t tmpfs${opt} tmpfs ${m.mountPoint}`);
    else if (m.fsType === "cgroup" || m.fsType === "cgroup2")
      commands.push(`mkdir -p ${m.mountPoint} && mount -t ${m.fsType}${opt} ${m.fsType} ${m.mountPoint}`);
  }
  return commands.join(" && ");
}

/**
 * The argv that runs `argv` in network namespace `netns` with this host's cgroup hierarchies
 * visible (see above).
 */
export function inSimulatedHost(netns: string, argv: readonly string[]): [string, string[]] {
  const remount = cgroupRemountScript(readFileSync("/proc/self/mountinfo", "utf8"));
  const script = remount === "" ? 'exec "$@"' : `${remount} && exec "$@"`;
  return ["ip", ["netns", "exec", netns, "sh", "-c", script, "sh", ...argv]];
}
