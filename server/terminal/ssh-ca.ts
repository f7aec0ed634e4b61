import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { FormationError } from "@/lib/errors";

const run = promisify(execFile);

/** A failed `ssh-keygen` call, with its command line and exit code. */
export class SshCaError extends FormationError<"SSH_KEYGEN_FAILED"> {
  override readonly name = "SshCaError";
  readonly command: string;
  readonly exitCode: number | null;
  constructor(opts: { message: string; command: string; exitCode: number | null; cause?: unknown }) {
    super("SSH_KEYGEN_FAILED", opts.message, {
      message: `${opts.message} (command: ${opts.command}, exit ${opts.exitCode ?? "?"})`,
      details: { command: opts.command, exitCode: opts.exitCode },
      cause: opts.cause,
    });
    this.command = opts.command;
    this.exitCode = opts.exitCode;
  }
}

async function keygen(args: string[]): Promise<void> {
  try {
    await run("ssh-keygen", args, { timeout: 15_000 });
  } catch (error) {
    const code =
      error instanceof Error && "code" in error && typeof error.code === "number" ? error.code : null;
    throw new SshCaError({
      message: "ssh-keygen failed",
      command: `ssh-keygen ${args.join(" ")}`,
      exitCode: code,
      cause: error,
    });
  }
}

/** A per-session key pair with its certificate, in a private temp dir removed by `dispose`. */
export type TSessionCredential = {
  keyPath: string;
  certPath: string;
  dispose(): Promise<void>;
};

/**
 * The console's SSH user certificate authority. Instance images trust its public key
 * (`TrustedUserCAKeys`); the console signs a fresh ed25519 key per terminal session with a
 * certificate valid for minutes and scoped to one principal (the Formfile user), so no long-lived
 * secret ever reaches a browser or a VM. ssh2 cannot sign OpenSSH certificates, hence ssh-keygen.
 */
export class SshCertificateAuthority {
  readonly publicKey: string;
  readonly #dir: string;
  readonly #caPath: string;

  private constructor(opts: { dir: string; caPath: string; publicKey: string }) {
    this.#dir = opts.dir;
    this.#caPath = opts.caPath;
    this.publicKey = opts.publicKey;
  }

  /** Opens the CA under `dir` (0700), creating its key (0600) on first use. */
  static async open(dir: string): Promise<SshCertificateAuthority> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const caPath = join(dir, "user-ca");
    const exists = await stat(caPath).then(
      () => true,
      () => false,
    );
    if (!exists)
      await keygen(["-q", "-t", "ed25519", "-N", "", "-C", "formation-console-user-ca", "-f", caPath]);
    await chmod(caPath, 0o600);
    const publicKey = (await readFile(`${caPath}.pub`, "utf8")).trim();
    return new SshCertificateAuthority({ dir, caPath, publicKey });
  }

  /**
   * Creates an ephemeral key and signs it for `principal`, valid from one minute ago (clock skew
   * between console and VM) to `validMinutes` from now.
   */
  async issue(opts: {
    principal: string;
    identity: string;
    validMinutes: number;
  }): Promise<TSessionCredential> {
    const work = await mkdtemp(join(this.#dir, "s-"));
    const keyPath = join(work, "id");
    try {
      await keygen(["-q", "-t", "ed25519", "-N", "", "-C", opts.identity, "-f", keyPath]);
      const serial = BigInt(`0x${randomBytes(7).toString("hex")}`).toString();
      await keygen([
        "-q",
        "-s",
        this.#caPath,
        "-I",
        opts.identity,
        "-n",
        opts.principal,
        "-z",
        serial,
        "-V",
        `-1m:+${opts.validMinutes}m`,
        `${keyPath}.pub`,
      ]);
    } catch (error) {
      await rm(work, { recursive: true, force: true });
      throw error;
    }
    return {
      keyPath,
      certPath: `${keyPath}-cert.pub`,
      dispose: () => rm(work, { recursive: true, force: true }),
    };
  }
}
