import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../main";
import { completionScript, completionWords } from "./completion";

/** Completions bash offers for `words` (the last one being typed), with the generated script. */
function complete(script: string, words: string[]): string[] {
  const out = execFileSync(
    "bash",
    [
      "-c",
      `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _form_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: "utf8" },
  );
  return out.split("\n").filter(Boolean);
}

describe("form completion", () => {
  it("knows every group, command and option of the program", () => {
    const words = completionWords(buildProgram());
    expect(words.get("")).toEqual(
      expect.arrayContaining(["kit", "pack", "manage", "completion", "--version"]),
    );
    expect(words.get("pack")).toEqual(expect.arrayContaining(["build", "ship", "status", "validate"]));
    expect(words.get("pack build")).toEqual(expect.arrayContaining(["--json", "--host"]));
    expect(words.get("manage stop")).toEqual(expect.arrayContaining(["--suspend", "--build-id"]));
    expect(words.get("manage start")).not.toContain("--suspend");
  });

  it("the bash script completes groups, commands and options, skipping options already typed", () => {
    const script = completionScript(buildProgram(), "bash");
    expect(complete(script, ["form", "pa"])).toEqual(["pack"]);
    expect(complete(script, ["form", "pack", "s"]).sort()).toEqual(["ship", "status"]);
    expect(complete(script, ["form", "--json", "pack", "build", "--js"])).toEqual(["--json"]);
  });
});
