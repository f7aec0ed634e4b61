import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inheritedEnv } from "@/core/env";
import { JOURNAL_FLUSHED, journalCommand } from "./app-logs";

describe("journalCommand", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "formation-journal-"));
    // A stand-in journalctl: the probe (`--quiet`) prints $ENTRIES; the follower prints its arguments.
    await writeFile(
      join(dir, "journalctl"),
      '#!/bin/sh\ncase " $* " in *" --quiet "*) printf "%s" "$ENTRIES";; *) echo "follow: $*";; esac\n',
    );
    await chmod(join(dir, "journalctl"), 0o755);
    await writeFile(join(dir, "flushed"), "");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Runs the command with the stand-in journalctl and a journal that has already been flushed. */
  function run(command: string, entries: string): string {
    return execFileSync("sh", ["-c", command.replaceAll(JOURNAL_FLUSHED, join(dir, "flushed"))], {
      env: inheritedEnv({ PATH: `${dir}:/usr/bin:/bin`, ENTRIES: entries }),
      encoding: "utf8",
    });
  }

  it("waits for the guest's journal to be on /var (15 s at most), then follows the entrypoint unit", () => {
    const command = journalCommand({ unit: "formation-entrypoint.service", lines: 200 });
    expect(command).toMatch(
      /^i=0; while \[ ! -e \/run\/systemd\/journal\/flushed \] && \[ \$i -lt 75 \]; do sleep 0\.2;/,
    );
    expect(run(command, "a line\n")).toBe(
      "follow: --no-pager --output=short-iso --lines=200 --follow --unit=formation-entrypoint.service\n",
    );
  });

  it("follows with the whole (empty) backlog while the unit has logged nothing yet", () => {
    // systemd 252: `--follow --lines=N` on a filter with no match yet never shows later matches.
    const command = journalCommand({ unit: "formation-entrypoint.service", lines: 200 });
    expect(run(command, "")).toBe(
      "follow: --no-pager --output=short-iso --lines=all --follow --unit=formation-entrypoint.service\n",
    );
  });

  it("follows the whole boot without an entrypoint and refuses a unit name the shell would interpret", () => {
    expect(run(journalCommand({ unit: null, lines: 10 }), "x\n")).toBe(
      "follow: --no-pager --output=short-iso --lines=10 --follow --boot\n",
    );
    expect(() => journalCommand({ unit: "x; rm -rf /", lines: 10 })).toThrow(/not a unit name/);
  });
});
