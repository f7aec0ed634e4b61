import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { journalCommand } from "./app-logs";

describe("journalCommand", () => {
  it("follows the entrypoint unit once the guest's journal is on /var, waiting 15 s at most", () => {
    const command = journalCommand({ unit: "formation-entrypoint.service", lines: 200 });
    expect(command).toMatch(
      /^i=0; while \[ ! -e \/run\/systemd\/journal\/flushed \] && \[ \$i -lt 75 \]; do sleep 0\.2;/,
    );
    expect(command).toMatch(
      /; exec journalctl --no-pager --output=short-iso --lines=200 --follow --unit=formation-entrypoint\.service$/,
    );
    // Valid POSIX shell (the Formfile user's login shell runs it).
    execFileSync("sh", ["-n", "-c", command]);
  });

  it("follows the whole boot without an entrypoint and refuses a unit name the shell would interpret", () => {
    expect(journalCommand({ unit: null, lines: 10 })).toMatch(/ --boot$/);
    expect(() => journalCommand({ unit: "x; rm -rf /", lines: 10 })).toThrow(/not a unit name/);
  });
});
