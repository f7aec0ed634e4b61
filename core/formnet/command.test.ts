import { describe, expect, it } from "vitest";
import { commandLine, FormnetCommandError, inNetns, run } from "./command";

describe("command helpers", () => {
  it("renders command lines with shell quoting for error messages", () => {
    expect(commandLine("wg", ["set", "fn-n1", "allowed-ips", "10.42.0.1/32,10.42.0.6/32"])).toBe(
      "wg set fn-n1 allowed-ips 10.42.0.1/32,10.42.0.6/32",
    );
    expect(commandLine("sh", ["-c", "echo 'hi' there"])).toBe(`sh -c 'echo '\\''hi'\\'' there'`);
  });

  it("wraps commands for a network namespace", () => {
    expect(inNetns("lab-a", "wg", ["show"])).toEqual(["ip", ["netns", "exec", "lab-a", "wg", "show"]]);
    expect(inNetns(undefined, "wg", ["show"])).toEqual(["wg", ["show"]]);
  });

  it("reports the command line, exit code and stderr of a failure", async () => {
    const error = await run("sh", ["-c", "echo boom >&2; exit 3"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormnetCommandError);
    expect(error).toMatchObject({
      code: "COMMAND_FAILED",
      exitCode: 3,
      commandLine: "sh -c 'echo boom >&2; exit 3'",
    });
    expect(String((error as FormnetCommandError).message)).toContain("boom");
  });
});
