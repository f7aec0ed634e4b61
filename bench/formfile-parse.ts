/**
 * Formfile parse + validate throughput over a synthetic corpus.
 *   npx tsx bench/formfile-parse.ts
 * Prints two figures: the language itself (passwords "hashed" by an identity function) and the full
 * parse with SHA-512 crypt (5000 rounds per USER), which dominates and is reported per hash too.
 */
import { parseFormfile } from "../lib/formfile/index";

function syntheticFormfile(i: number): string {
  const lines = [
    `# synthetic Formfile ${i}`,
    `NAME bench-${i}`,
    `DESCRIPTION "benchmark project number ${i}"`,
    `USER username:dev${i % 50} passwd:secret-${i} sudo:true ssh_authorized_keys:"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${i} me@host" \\`,
    "     groups:docker,users shell:/bin/bash lock_passwd:false",
    `VCPU ${1 + (i % 2)}`,
    `MEM ${512 * (1 + (i % 8))}`,
    "DISK 5",
    "COPY ./app /app",
    "COPY ./config/settings.json /etc/app/settings.json",
    "INSTALL python3 nginx curl ca-certificates",
    "WORKDIR /app",
    'ENTRYPOINT ["python3", "server.py", "--port", "8080"]',
    "EXPOSE 80 443 8080",
  ];
  for (let r = 0; r < 30; r++)
    lines.push(`RUN echo "step ${r} of ${i}" >> /var/log/setup.log && mkdir -p /srv/data/${r}`);
  for (let e = 0; e < 20; e++) lines.push(`ENV --scope=user:dev${i % 50} VAR_${e}="value ${e} for ${i}"`);
  return `${lines.join("\n")}\n`;
}

function measure(
  label: string,
  corpus: string[],
  opts: Parameters<typeof parseFormfile>[1],
  minMs: number,
): void {
  let files = 0;
  let parsedBytes = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let elapsed = 0;
  while (elapsed < minMs) {
    const text = corpus[files % corpus.length] ?? "";
    const result = parseFormfile(text, opts);
    if (!result.ok) throw new Error(`corpus file rejected: ${result.errors[0]?.message}`);
    files++;
    parsedBytes += text.length;
    // Reading the clock every file would be measurable next to a 0.1 ms parse.
    if (files % 16 === 0 || opts?.hashPassword === undefined) elapsed = performance.now() - start;
  }
  elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  // CPU time is reported too: on a shared machine wall-clock throughput understates the parser.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const mb = parsedBytes / 1e6;
  console.log(
    `${label.padEnd(44)} ${(mb / (elapsed / 1000)).toFixed(2).padStart(8)} MB/s wall ${(mb / cpuSeconds).toFixed(2).padStart(8)} MB/s CPU  ${(files / (elapsed / 1000)).toFixed(1).padStart(7)} files/s  (${files} files, ${(elapsed / 1000).toFixed(2)} s wall, ${cpuSeconds.toFixed(2)} s CPU)`,
  );
}

const corpus = Array.from({ length: 2000 }, (_, i) => syntheticFormfile(i));
const totalMb = corpus.reduce((n, f) => n + Buffer.byteLength(f), 0) / 1e6;
console.log(
  `corpus: ${corpus.length} Formfiles, ${totalMb.toFixed(2)} MB, 1 USER each, avg ${((totalMb * 1e6) / corpus.length).toFixed(0)} B/file`,
);
// Warm-up so the JIT has compiled the hot paths before timing.
for (const text of corpus.slice(0, 200)) parseFormfile(text, { hashPassword: (pw) => pw });
measure("parse+validate, no password hashing", corpus, { hashPassword: (pw) => pw }, 3000);
measure("parse+validate + SHA-512 crypt (5000 rounds)", corpus, {}, 3000);
