import { Command, CommanderError } from "commander";
import { registerCompletion } from "./commands/completion";
import { registerDomain } from "./commands/domain";
import { registerKitInit } from "./commands/kit-init";
import { registerManageFormnet } from "./commands/manage-formnet";
import { registerManageInstances } from "./commands/manage-instances";
import { registerPackBuild } from "./commands/pack-build";
import { registerPackShip } from "./commands/pack-ship";
import { registerPackStatus } from "./commands/pack-status";
import { registerPackValidate } from "./commands/pack-validate";
import pkg from "./package.json" with { type: "json" };

/**
 * The `form` CLI. Commands live one per file in `cli/commands/` and export a `register…(group)`
 * function; add yours to COMMANDS below under its group (`kit`, `pack`, `manage` or `domain`).
 */

type TGroup = "kit" | "pack" | "manage" | "domain";
type TRegister = (group: Command) => void;

const COMMANDS: Array<{ group: TGroup; register: TRegister }> = [
  { group: "kit", register: registerKitInit },
  { group: "pack", register: registerPackValidate },
  { group: "pack", register: registerPackBuild },
  { group: "pack", register: registerPackStatus },
  { group: "pack", register: registerPackShip },
  { group: "manage", register: registerManageFormnet },
  { group: "manage", register: registerManageInstances },
  { group: "domain", register: registerDomain },
];

const GROUPS: Record<TGroup, string> = {
  kit: "set up this machine: keys, wallet, operator node",
  pack: "build and ship Formfile projects",
  manage: "inspect and manage instances and formnet",
  domain: "custom domains for your apps: claim, prove control, list, remove",
};

/** Builds the commander program with every registered command. */
export function buildProgram(): Command {
  const program = new Command("form")
    .description("Formation CLI: deploy Formfile projects onto redundant VMs on formnet")
    .version(pkg.version, "-V, --version", "print the CLI's version")
    .showHelpAfterError()
    .addHelpText(
      "after",
      `
Workflow:
  $ form kit init                                # key (encrypted) + console URL
  $ sudo form manage join && sudo form manage formnet-up
  $ form pack build                              # in your project: prints the build id, follows the log
  $ form pack ship                               # redundant instances of the latest build
  $ form manage get-ip --build-id <id>           # then: ssh <user>@<formnet-ip>
  $ form domain add shop.example.com --build-id <id>   # then set the proof it prints and:
  $ form domain verify shop.example.com

Every command: --json (machine-readable stdout), --host URL, --password (or FORM_PASSWORD).
Exit codes: 0 ok, 1 user error, 2 console/network failure. Config: $FORMKIT or ~/.config/form.`,
    )
    .exitOverride();
  for (const [name, description] of Object.entries(GROUPS) as Array<[TGroup, string]>) {
    const group = program.command(name).description(description).exitOverride();
    for (const command of COMMANDS.filter((c) => c.group === name)) command.register(group);
  }
  registerCompletion(program);
  return program;
}

/** Runs the CLI on `argv` (process.argv shape) and resolves to the process exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Help and version are "errors" to commander's exitOverride but succeed for the user.
    if (error instanceof CommanderError) return error.exitCode;
    throw error;
  }
  // Commands report failure by setting process.exitCode, so output is flushed before exit.
  return Number(process.exitCode ?? 0);
}
