import { cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EXAMPLE_DIR, runForm, type TFormRun } from "../../cli/testing";
import { cachedSshKey } from "../../node-agent/testing/booted-image";
import { MULTINODE_USER_KEY } from "./multinode-test-platform";

/** The README example, ready to build and ship on a multinode platform as the multinode user. */
export type TExampleProject = {
  /** The project's directory (a copy of examples/hello-server). */
  dir: string;
  /** The private key the Formfile's user admits (`ssh -i`). */
  sshKey: string;
  /** The environment of every `form` run: the CLI's own config directory and keystore password. */
  env: { FORMKIT: string; FORM_PASSWORD: string };
  /** Runs `form` in the project; throws with the end of stderr when it fails. */
  form(args: string[], timeoutMs?: number): Promise<TFormRun>;
};

/**
 * Sets the README example up in `work` as the multinode benches and test use it: copies it, puts
 * the cached multinode SSH key in its Formfile, and runs `form kit init` against `url` with the
 * multinode user's key (its devices are what the platform's laptop joins with).
 */
export async function setUpExampleProject(options: {
  work: string;
  url: string;
  password: string;
  /** The `form` entry to run (default: the checkout's cli/bin.mjs, which compiles the sources). */
  bin?: string;
}): Promise<TExampleProject> {
  const dir = join(options.work, "hello-server");
  await cp(EXAMPLE_DIR, dir, { recursive: true });
  const key = await cachedSshKey("multinode");
  const formfile = (await readFile(join(dir, "Formfile"), "utf8")).replace(
    'ssh_authorized_keys:"ssh-rsa ..."',
    `ssh_authorized_keys:"${key.pub}"`,
  );
  await writeFile(join(dir, "Formfile"), formfile);
  const env = { FORMKIT: join(options.work, "kit"), FORM_PASSWORD: options.password };
  const form = async (args: string[], timeoutMs = 1_800_000): Promise<TFormRun> => {
    const r = await runForm({ args, env, cwd: dir, timeoutMs, ...(options.bin ? { bin: options.bin } : {}) });
    if (r.code !== 0) throw new Error(`form ${args.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
    return r;
  };
  await form(["kit", "init", "--yes", "--host", options.url, "--private-key", MULTINODE_USER_KEY]);
  return { dir, sshKey: key.path, env, form };
}
