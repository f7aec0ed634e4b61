import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { cachedSshKeySync } from "@/node-agent/testing/booted-image";

/**
 * Gives a throwaway test console the machine's cached terminal CA (the key SshCertificateAuthority
 * would otherwise generate in `<data dir>/terminal/ca/user-ca`). Every image trusts its console's CA,
 * so with a fresh CA per platform the builder cache would miss on every run; with this one, test
 * Formfiles that are byte-identical from run to run are builder cache hits on a warm machine.
 */
export function seedTestConsoleCa(dataDir: string): void {
  const key = cachedSshKeySync("console-user-ca");
  const dir = join(dataDir, "terminal", "ca");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  copyFileSync(key.path, join(dir, "user-ca"));
  copyFileSync(`${key.path}.pub`, join(dir, "user-ca.pub"));
}
