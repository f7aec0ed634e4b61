import { run } from "./exec";

/** The unprivileged account QEMU runs as: it owns nothing on the host but the files handed to it. */
export const VM_USER = "formation-vm";

export type TVmUser = { name: string; uid: number; gid: number };

let cached: Promise<TVmUser> | null = null;

/**
 * The uid/gid QEMU drops to, creating the system account on first use (the agent runs as root).
 * A dedicated account, not `nobody`: nothing else on the host runs as it, so a process that escaped
 * an emulator can signal or read nothing but other VMs' QEMU of this host.
 */
export function ensureVmUser(): Promise<TVmUser> {
  cached ??= lookupOrCreate().catch((err: unknown) => {
    cached = null;
    throw err;
  });
  return cached;
}

async function lookupOrCreate(): Promise<TVmUser> {
  const found = await lookup();
  if (found) return found;
  await run(
    [
      "useradd",
      "--system",
      "--user-group",
      "--no-create-home",
      "--home-dir",
      "/nonexistent",
      "--shell",
      "/usr/sbin/nologin",
      VM_USER,
    ],
    { allowFailure: true },
  );
  const created = await lookup();
  if (!created)
    throw new Error(
      `cannot create the unprivileged VM user ${VM_USER} (useradd failed; run the agent as root)`,
    );
  return created;
}

async function lookup(): Promise<TVmUser | null> {
  const r = await run(["getent", "passwd", VM_USER], { allowFailure: true });
  const f = r.stdout.trim().split(":");
  if (r.exitCode !== 0 || f.length < 4) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  return Number.isInteger(uid) && Number.isInteger(gid) && uid > 0 ? { name: VM_USER, uid, gid } : null;
}

/**
 * argv prefix that runs a command as the VM user with no capabilities and no way to regain any,
 * killed when the process that started it dies (an agent killed with SIGKILL leaves no VM behind).
 */
export function dropPrivileges(user: TVmUser): string[] {
  return [
    "setpriv",
    "--reuid",
    String(user.uid),
    "--regid",
    String(user.gid),
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--pdeathsig",
    "KILL",
    "--",
  ];
}
