import { fileURLToPath } from "node:url";
import { announceCliEntry } from "./env";
import { run } from "./main";

/**
 * Entry of the bundled CLI (`cli/dist/form.mjs`, built by scripts/build-cli.mjs): the same program
 * as `cli/bin.mjs` runs from the sources. Commands that start themselves again in the background
 * (`manage formnet-up`) find the running entry in FORM_CLI_ENTRY.
 */
announceCliEntry(fileURLToPath(import.meta.url));
// A reader that went away (`form … | head`) is not an error of the CLI.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
process.exitCode = await run(process.argv);
