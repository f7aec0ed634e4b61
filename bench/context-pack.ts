/**
 * Build-context packing of a generated 10,000-file tree, plus safe unpacking of the result.
 *   npx tsx bench/context-pack.ts
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packContext, unpackContext } from "../core/context/index";
import type { TFormfile } from "../lib/formfile/index";

const FILES = 10_000;

/** CPU seconds (user + system) of this process since `start`. */
function cpuSeconds(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

const formfile: TFormfile = {
  name: "bench",
  description: null,
  resources: { vcpu: 1, memoryMb: 512, diskGb: 5, gpu: null },
  users: [],
  workdir: "/app",
  entrypoint: null,
  expose: [],
  env: [],
  steps: [],
};

const work = await mkdtemp(join(tmpdir(), "bench-context-"));
try {
  const dir = join(work, "ctx");
  let bytes = 0;
  for (let d = 0; d < 100; d++) {
    const sub = join(dir, `pkg${d}`, `mod${d % 7}`);
    await mkdir(sub, { recursive: true });
    await Promise.all(
      Array.from({ length: FILES / 100 }, (_, f) => {
        const body = `// file ${d}/${f}\n${"export const value = 42;\n".repeat(1 + ((d * 31 + f) % 40))}`;
        bytes += body.length;
        return writeFile(join(sub, `file${f}.ts`), body);
      }),
    );
  }
  console.log(`context: ${FILES} files in 100 directories, ${(bytes / 1e6).toFixed(2)} MB`);
  const runs: number[] = [];
  const cpuRuns: number[] = [];
  let digest = "";
  let size = 0;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const packed = await packContext({ dir, formfile });
    runs.push(performance.now() - start);
    cpuRuns.push(cpuSeconds(cpuStart));
    if (digest !== "" && packed.digest !== digest) throw new Error("pack is not deterministic");
    digest = packed.digest;
    size = packed.tarGz.length;
    if (run === 2) {
      const t = performance.now();
      const cpuStart2 = process.cpuUsage();
      await unpackContext({ tarGz: packed.tarGz, destDir: join(work, "out") });
      console.log(
        `unpackContext: ${((performance.now() - t) / 1000).toFixed(2)} s wall, ${cpuSeconds(cpuStart2).toFixed(2)} s CPU`,
      );
    }
  }
  console.log(
    `packContext runs: ${runs.map((ms, i) => `${(ms / 1000).toFixed(2)} s wall / ${cpuRuns[i]?.toFixed(2)} s CPU`).join(", ")} (best ${(Math.min(...runs) / 1000).toFixed(2)} s wall; goal < 2 s)`,
  );
  console.log(`archive: ${(size / 1e6).toFixed(2)} MB tar.gz, ${digest} (identical across runs)`);
} finally {
  await rm(work, { recursive: true, force: true });
}
