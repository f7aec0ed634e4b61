import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FORM_BIN_ENV, FORM_BUNDLE } from "../testing";

/**
 * Vitest global setup of the integration lanes and the multinode suite: bundles `form` from the current sources (what the
 * package ships, `scripts/build-cli.mjs`, well under a second) and has `runForm` run that bundle,
 * which starts in a fraction of the time the sources take through tsx — the CLI tests spawn `form`
 * a hundred times, and the multinode suite polls with it while guests boot. The sources' own entry
 * (`cli/bin.mjs` in a checkout, what `npm install -g ./cli` links) stays covered by the browser
 * specs, which run it.
 */
export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL("../../scripts/build-cli.mjs", import.meta.url))], {
    stdio: "ignore",
  });
  process.env[FORM_BIN_ENV] = FORM_BUNDLE;
}
