import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "./diagnostics";
import { parseFormfile } from "./parse";

const U = "USER username:dev passwd:pw";

// [description, file, expected "line:column message-fragment" for every error, in order]
const REJECTED: Array<[string, string, string[]]> = [
  [
    "unknown instruction with a suggestion",
    `${U}\nINSTAL python3`,
    ["2:1 unknown instruction INSTAL — did you mean INSTALL?"],
  ],
  ["unknown instruction without a suggestion", `${U}\nFROM ubuntu`, ["2:1 unknown instruction FROM"]],
  ["keyword glued to its value", `${U}\nNAME=web`, ["2:5 expected a space after NAME"]],
  ["no USER at all", "NAME web", ["1:1 declares no USER"]],
  ["empty file", "", ["1:1 declares no USER"]],
  ["NAME with uppercase", `${U}\nNAME Hello_World`, ['2:6 invalid NAME "Hello_World"']],
  ["NAME twice", `${U}\nNAME a\n  NAME b`, ["3:3 NAME may appear only once (first at line 2)"]],
  ["NAME with two words", `${U}\nNAME a b`, ['2:8 NAME takes one argument, found "b"']],
  ["NAME without value", `${U}\nNAME`, ["2:5 NAME needs an argument"]],
  ["empty DESCRIPTION", `${U}\nDESCRIPTION   `, ["2:15 DESCRIPTION needs some text"]],
  [
    "DESCRIPTION too long",
    `${U}\nDESCRIPTION ${"x".repeat(1001)}`,
    ["2:13 DESCRIPTION is 1001 characters long"],
  ],
  ["VCPU 0", `${U}\nVCPU 0`, ["2:6 VCPU 0 is out of range: allowed 1–128"]],
  ["VCPU 129 via alias", `${U}\nCORES 129`, ["2:7 VCPU 129 is out of range"]],
  ["VCPU not a number", `${U}\nVCPU two`, ['2:6 VCPU must be a whole number of cores, got "two"']],
  ["MEM below range", `${U}\nMEM 511`, ["2:5 MEM 511 is out of range: allowed 512–256000 MB"]],
  ["MEM above range", `${U}\nMEMORY 256001`, ["2:8 MEM 256001 is out of range"]],
  ["MEM with a unit", `${U}\nMEM 2G`, ['2:5 MEM must be a whole number of MB, got "2G"']],
  ["DISK below range", `${U}\nDISK 4`, ["2:6 DISK 4 is out of range: allowed 5–65535 GB"]],
  ["DISK above range", `${U}\nSTORAGE 65536`, ["2:9 DISK 65536 is out of range"]],
  ["DISK negative", `${U}\nDISK -5`, ['2:6 DISK must be a whole number of GB, got "-5"']],
  ["GPU bad count", `${U}\nGPU a100:0`, ['2:10 GPU count "0" must be a whole number between 1 and 16']],
  ["GPU bad model", `${U}\nGPU :2`, ['2:5 invalid GPU model ""']],
  ["COPY one argument", `${U}\nCOPY ./app`, ["2:11 COPY needs 2 arguments"]],
  [
    "COPY escaping the context",
    `${U}\nCOPY ../secret /app`,
    ['2:6 COPY source "../secret" must be a path inside the build context'],
  ],
  ["COPY absolute source", `${U}\nCOPY /etc/passwd /app`, ['2:6 COPY source "/etc/passwd"']],
  [
    "COPY relative destination",
    `${U}\nCOPY ./app app`,
    ['2:12 COPY destination "app" must be an absolute path'],
  ],
  ["COPY wildcard", `${U}\nCOPY ./*.py /app`, ['2:6 COPY source "./*.py" uses wildcards']],
  ["RUN empty", `${U}\nRUN`, ["2:4 RUN needs a command"]],
  ["INSTALL nothing", `${U}\nINSTALL`, ["2:8 INSTALL needs an argument"]],
  ["INSTALL shell injection", `${U}\nINSTALL curl;rm`, ['2:9 "curl;rm" is not a valid Debian package name']],
  ["ENV without =", `${U}\nENV FOO`, ['2:5 ENV expects KEY=value, got "FOO"']],
  ["ENV bad key", `${U}\nENV 9LIVES=1`, ['2:5 invalid ENV key "9LIVES"']],
  ["ENV bad scope", `${U}\nENV --scope=global A=1`, ['2:13 unknown ENV scope "global"']],
  ["ENV bad scope user", `${U}\nENV --scope=user:Bad A=1`, ['2:18 invalid user name "Bad"']],
  ["ENV scope without pair", `${U}\nENV --scope=system`, ["2:19 ENV needs at least one KEY=value"]],
  ["ENV unknown option", `${U}\nENV --global A=1`, ['2:5 unknown ENV option "--global"']],
  [
    "ENV user scope naming no USER",
    `${U}\nENV --scope=user:bob A=1`,
    ["2:18 ENV scope user:bob names no declared USER"],
  ],
  ["ENV duplicate key", `${U}\nENV A=1\nENV A=2`, ["3:5 ENV A is already set for scope system at line 2"]],
  ["WORKDIR relative", `${U}\nWORKDIR app`, ['2:9 WORKDIR must be an absolute path without "..", got "app"']],
  ["WORKDIR twice", `${U}\nWORKDIR /a\nWORKDIR /b`, ["3:1 WORKDIR may appear only once"]],
  ["ENTRYPOINT bad JSON", `${U}\nENTRYPOINT ["a",]`, ["2:12 ENTRYPOINT is not a valid JSON array"]],
  [
    "ENTRYPOINT JSON not strings",
    `${U}\nENTRYPOINT ["a", 1]`,
    ["2:12 ENTRYPOINT JSON form must be a non-empty array of strings"],
  ],
  ["ENTRYPOINT empty array", `${U}\nENTRYPOINT []`, ["2:12 ENTRYPOINT JSON form must be a non-empty array"]],
  ["ENTRYPOINT unterminated quote", `${U}\nENTRYPOINT nginx -g "daemon off;`, ['2:21 unterminated " quote']],
  ["ENTRYPOINT empty", `${U}\nENTRYPOINT`, ["2:11 ENTRYPOINT needs an argument"]],
  ["EXPOSE 0 and 65536", `${U}\nEXPOSE 0 80 65536`, ['2:8 EXPOSE port "0"', '2:13 EXPOSE port "65536"']],
  ["EXPOSE with protocol", `${U}\nEXPOSE 80/tcp`, ['2:8 EXPOSE port "80/tcp"']],
  ["USER empty", "USER", ["1:5 USER needs at least username and passwd"]],
  ["USER missing passwd", "USER username:dev", ["1:1 USER is missing passwd"]],
  ["USER missing username", "USER passwd:x", ["1:1 USER is missing username"]],
  ["USER empty passwd", "USER username:dev passwd:", ["1:26 USER passwd must not be empty"]],
  ["USER bad username", "USER username:Dev passwd:x", ['1:15 invalid username "Dev"']],
  ["USER username too long", `USER username:${"a".repeat(33)} passwd:x`, ["1:15 invalid username"]],
  ["USER option typo", `${U} sudoo:true`, ['1:29 unknown USER option "sudoo" — did you mean sudo?']],
  ["USER option without colon", `${U} sudo`, ["1:29 USER options are key:value pairs"]],
  [
    "USER password after a space is not echoed",
    "USER username:dev passwd hunter2",
    [
      "1:1 USER is missing passwd",
      "1:19 USER options are key:value pairs",
      "1:26 USER options are key:value pairs",
    ],
  ],
  ["USER option twice", `${U} sudo:1 sudo:0`, ["1:36 USER option sudo is given twice"]],
  ["USER bad boolean", `${U} lock_passwd:maybe`, ['1:41 USER lock_passwd must be a boolean, got "maybe"']],
  ["USER relative shell", `${U} shell:bash`, ['1:35 USER shell must be an absolute path, got "bash"']],
  ["USER bad group", `${U} groups:docker,Wheel`, ['1:36 invalid group name "Wheel"']],
  ["USER bad ssh key", `${U} ssh_authorized_keys:AAAAB3Nza`, ['1:49 "AAAAB3Nza" is not an SSH public key']],
  ["USER unterminated quote", 'USER username:dev passwd:"pw', ['1:26 unterminated " quote']],
  ["duplicate usernames", `${U}\n${U}`, ["2:1 user dev is declared twice (first at line 1)"]],
  [
    "every error of a file at once, across continuation lines",
    ["NAME ok", "USER username:dev \\", "   passwd:x sudo:perhaps", "VCPU 0", "BOGUS"].join("\n"),
    ["3:18 USER sudo must be a boolean", "4:6 VCPU 0 is out of range", "5:1 unknown instruction BOGUS"],
  ],
];

describe("parseFormfile rejects", () => {
  it.each(REJECTED)("%s", (_name, text, expected) => {
    const result = parseFormfile(text);
    expect(result.ok).toBe(false);
    const got = result.ok ? [] : result.errors.map((e) => `${e.line}:${e.column} ${e.message}`);
    expect(got).toHaveLength(expected.length);
    expected.forEach((fragment, i) => {
      const space = fragment.indexOf(" ");
      expect(got[i]?.slice(0, space)).toBe(fragment.slice(0, space));
      expect(got[i]).toContain(fragment.slice(space + 1));
    });
  });

  it("gives every error a hint or a self-explanatory message, formatted as PATH:LINE:COLUMN", () => {
    const result = parseFormfile(`${U}\nINSTAL x`);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(formatDiagnostic("app/Formfile", result.errors[0] ?? { line: 0, column: 0, message: "" })).toBe(
        "app/Formfile:2:1: unknown instruction INSTAL — did you mean INSTALL?",
      );
    }
    expect(formatDiagnostic("F", { line: 0, column: 0, message: "m", hint: "h" })).toBe("F: m — h");
  });

  it("never echoes a password typed without its colon", () => {
    const result = parseFormfile("USER username:dev passwd hunter2");
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain("hunter2");
  });

  it("rejects an invalid injected salt", () => {
    expect(() => parseFormfile(U, { salt: "bad$salt" })).toThrow(RangeError);
  });
});
