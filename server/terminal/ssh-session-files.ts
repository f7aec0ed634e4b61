import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { SshCertificateAuthority, TSessionCredential } from "./ssh-ca";

/** What one console-side `ssh` to an instance needs: a short-lived certificate and its files. */
export type TSshSessionFiles = {
  credential: TSessionCredential;
  /** Per instance, so a replaced VM's new host key never clashes with another's. */
  knownHostsPath: string;
  /** ssh's own stderr (`-E`); delete it when the session ends. */
  errorLogPath: string;
};

/**
 * Issues a certificate for `principal` and prepares the known-hosts and error-log paths under
 * `stateDir` (private folders) — shared by the web terminal and the app-logs stream.
 */
export async function prepareSshSession(o: {
  ca: SshCertificateAuthority;
  stateDir: string;
  principal: string;
  identity: string;
  validMinutes: number;
  instanceId: string;
}): Promise<TSshSessionFiles> {
  const credential = await o.ca.issue({
    principal: o.principal,
    identity: o.identity,
    validMinutes: o.validMinutes,
  });
  const knownHosts = join(o.stateDir, "known_hosts");
  const logs = join(o.stateDir, "ssh-logs");
  await mkdir(knownHosts, { recursive: true, mode: 0o700 });
  await mkdir(logs, { recursive: true, mode: 0o700 });
  return {
    credential,
    knownHostsPath: join(knownHosts, o.instanceId),
    errorLogPath: join(logs, `${randomBytes(9).toString("hex")}.log`),
  };
}
