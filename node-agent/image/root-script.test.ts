import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CommandError, run } from "../host/exec";
import { RootScript } from "./root-script";

/** The script's text run by a plain /bin/sh on temporary paths (the build VM runs the same text). */
async function runText(script: RootScript) {
  return run(["/bin/sh", "-s"], { input: script.text() });
}

describe("RootScript (batched writes and commands in one shell)", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "fm-root-script-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes exact bytes (quotes, $, here-document markers, no trailing newline) with mode and append", async () => {
    const tricky = "a 'b' \"c\" $HOME `id`\nFORMATION_B64_END\nEOF\n\\n end";
    const s = new RootScript()
      .write({ label: "t", path: join(dir, "x/y/f"), content: tricky, mode: "0640" })
      .write({ label: "t", path: join(dir, "x/y/f"), content: "+more", append: true })
      .write({ label: "t", path: join(dir, "empty"), content: "" });
    await runText(s);
    expect(await readFile(join(dir, "x/y/f"), "utf8")).toBe(`${tricky}+more`);
    expect((await stat(join(dir, "x/y/f"))).mode & 0o777).toBe(0o640);
    expect(await readFile(join(dir, "empty"), "utf8")).toBe("");
  });

  it("writes backslashes, printf directives, UTF-8 and NUL bytes exactly (NUL through base64)", async () => {
    const odd = "\\n %s %% \\\\ é ✓ -- \n";
    const withNul = "a\0b\n";
    const s = new RootScript()
      .write({ label: "t", path: join(dir, "odd"), content: odd, mode: "0600" })
      .write({ label: "t", path: join(dir, "nul"), content: withNul, mode: "0640" })
      .write({ label: "t", path: join(dir, "nul"), content: "+", append: true })
      .shell({ label: "s", snippet: 'cat > "$1/stdin"', args: [dir], stdin: withNul });
    await runText(s);
    expect(await readFile(join(dir, "odd"), "utf8")).toBe(odd);
    expect((await stat(join(dir, "odd"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, "nul"), "utf8")).toBe(`${withNul}+`);
    expect((await stat(join(dir, "nul"))).mode & 0o777).toBe(0o640);
    expect(await readFile(join(dir, "stdin"), "utf8")).toBe(withNul);
  });

  it("passes arguments verbatim to commands and snippets, stdin only where asked", async () => {
    const odd = 'it\'s $(not run) ; rm -rf ~ `id` "q"';
    const s = new RootScript()
      .command("c", ["touch", "--", join(dir, odd)])
      .shell({
        label: "s",
        snippet: 'cat > "$1/in"; printf %s "$2" > "$1/arg"',
        args: [dir, odd],
        stdin: "piped\n",
      })
      .shell({ label: "s2", snippet: 'cat > "$1/none"', args: [dir] });
    await runText(s);
    expect((await stat(join(dir, odd))).isFile()).toBe(true);
    expect(await readFile(join(dir, "in"), "utf8")).toBe("piped\n");
    expect(await readFile(join(dir, "arg"), "utf8")).toBe(odd);
    expect(await readFile(join(dir, "none"), "utf8")).toBe("");
  });

  it("stops at the first failing part and names it", async () => {
    const s = new RootScript()
      .command("first", ["true"])
      .command("USER bob", ["sh", "-c", "exit 9"])
      .command("never", ["touch", join(dir, "after")]);
    const err = await runText(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    if (!(err instanceof CommandError)) return;
    expect(err.exitCode).toBe(9);
    expect(s.failedPart(err.stderrTail)).toEqual({ label: "USER bob", command: "sh -c 'exit 9'" });
    await expect(stat(join(dir, "after"))).rejects.toThrow();
  });
});
