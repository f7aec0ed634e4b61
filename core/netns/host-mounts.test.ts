import { describe, expect, it } from "vitest";
import { cgroupRemountScript } from "./host-mounts";

const V1 = `22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 1 0:38 / /proc rw - proc proc rw`;

describe("cgroupRemountScript", () => {
  it("mounts the tmpfs, then every v1 controller and the v2 tree at their places", () => {
    expect(cgroupRemountScript(V1).split(" && ")).toEqual([
      "mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup",
      "mkdir -p /sys/fs/cgroup/cpu",
      "mount -t cgroup -o cpu cgroup /sys/fs/cgroup/cpu",
      "mkdir -p /sys/fs/cgroup/memory",
      "mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory",
      "mkdir -p /sys/fs/cgroup/systemd",
      "mount -t cgroup -o name=systemd cgroup /sys/fs/cgroup/systemd",
      "mkdir -p /sys/fs/cgroup/unified",
      "mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified",
    ]);
  });

  it("mounts a pure cgroup v2 host's tree, and nothing when there is none", () => {
    expect(cgroupRemountScript("29 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate")).toBe(
      "mkdir -p /sys/fs/cgroup && mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup",
    );
    expect(cgroupRemountScript("41 1 0:38 / /proc rw - proc proc rw")).toBe("");
  });
});
