import { run, type TRunResult } from "../host/exec";

/**
 * Runs a command chrooted into the build root inside fresh PID, mount, UTS and IPC namespaces.
 * /proc, /sys, /dev/pts and the bind mounts (deb cache, resolv.conf) exist only inside that mount
 * namespace, so they vanish with it — nothing to unmount on the host even when a step fails or is
 * cancelled — and killing the namespace's first process ends every daemon a RUN step forked.
 * Paths are resolved inside the chroot, so a symlink a step planted cannot redirect a host write.
 * This is isolation for hygiene, not a security boundary against a hostile Formfile (root in a
 * chroot can escape); see docs/node-agent-vm.md.
 */
const ENTER = `set -e
root="$1"; shift
while [ "$1" != "--" ]; do
  mount --bind "$1" "$root$2"
  shift 2
done
shift
mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys" 2>/dev/null || true
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" 2>/dev/null || true
exec chroot "$root" "$@"`;

export const BUILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export type TSandboxOptions = {
  root: string;
  /** Host paths bind-mounted at paths inside the root (targets must exist). */
  binds?: { src: string; dst: string }[];
  env?: Record<string, string>;
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  input?: string;
  /** Hold this lock file (flock) for the duration, e.g. the shared deb cache across processes. */
  lockFile?: string;
};

export function runInRoot(argv: readonly string[], opts: TSandboxOptions): Promise<TRunResult> {
  const binds = (opts.binds ?? []).flatMap((b) => [b.src, b.dst]);
  // flock waits (up to 15 min) for other agents' or tests' apt runs on the shared deb cache.
  const lock = opts.lockFile ? ["flock", "-w", "900", opts.lockFile] : [];
  return run(
    [
      ...lock,
      "unshare",
      "--pid",
      "--fork",
      "--kill-child",
      "--mount",
      "--uts",
      "--ipc",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      ENTER,
      "formation-enter",
      opts.root,
      ...binds,
      "--",
      ...argv,
    ],
    {
      env: {
        PATH: BUILD_PATH,
        HOME: "/root",
        LANG: "C.UTF-8",
        DEBIAN_FRONTEND: "noninteractive",
        ...opts.env,
      },
      onLine: opts.onLine,
      signal: opts.signal,
      input: opts.input,
    },
  );
}
