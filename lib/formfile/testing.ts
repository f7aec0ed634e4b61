import type { TFormfile } from "./canonical";

/** The smallest valid canonical Formfile (NAME web, 1 vCPU, 512 MB, 5 GB, nothing else), for tests. */
export function minimalFormfile(overrides: Partial<TFormfile> = {}): TFormfile {
  return {
    name: "web",
    description: null,
    resources: { vcpu: 1, memoryMb: 512, diskGb: 5, gpu: null },
    users: [],
    workdir: null,
    entrypoint: null,
    expose: [],
    env: [],
    steps: [],
    ...overrides,
  };
}
