import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json";
import { parseFormfile } from "./parse";
import { validateCanonicalFormfile } from "./validate-canonical";

const U = "USER username:dev passwd:pw";

function accept(text: string) {
  const result = parseFormfile(text, { salt: "healthtest" });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.formfile;
}

function errors(text: string): string[] {
  const result = parseFormfile(text, { salt: "healthtest" });
  if (result.ok) throw new Error("expected errors");
  return result.errors.map((e) => `${e.line}:${e.column} ${e.message}`);
}

describe("HEALTHCHECK", () => {
  it("is absent from the canonical JSON when not written (build ids of older Formfiles stay)", () => {
    const formfile = accept(`${U}\nEXPOSE 8080`);
    expect(formfile.healthcheck).toBeUndefined();
    expect(canonicalJson(formfile)).not.toContain("healthcheck");
  });

  it("http with a path, defaults and the first EXPOSEd port", () => {
    expect(accept(`${U}\nHEALTHCHECK http /healthz\nEXPOSE 8080 9090`).healthcheck).toEqual({
      kind: "http",
      path: "/healthz",
      port: 8080,
      intervalMs: 10_000,
      timeoutMs: 2_000,
      retries: 3,
      startPeriodMs: 0,
    });
  });

  it("options anywhere, any case for the check, explicit port", () => {
    const hc = accept(
      `${U}\nhealthcheck --interval=5s TCP --timeout=500ms --retries=2 --start-period=1m --port=5432`,
    ).healthcheck;
    expect(hc).toEqual({
      kind: "tcp",
      port: 5432,
      intervalMs: 5_000,
      timeoutMs: 500,
      retries: 2,
      startPeriodMs: 60_000,
    });
  });

  it("a short interval shortens the default timeout", () => {
    expect(accept(`${U}\nEXPOSE 80\nHEALTHCHECK --interval=1s tcp`).healthcheck).toMatchObject({
      intervalMs: 1_000,
      timeoutMs: 1_000,
    });
  });

  it("none disables checks; continuation lines work", () => {
    expect(accept(`${U}\nHEALTHCHECK none`).healthcheck).toEqual({ kind: "none" });
    expect(
      accept(`${U}\nEXPOSE 80\nHEALTHCHECK --interval=2s \\\n  http /ready?full=1`).healthcheck,
    ).toMatchObject({ kind: "http", path: "/ready?full=1", intervalMs: 2_000 });
  });

  it.each([
    ["no check", `${U}\nHEALTHCHECK`, ["2:12 HEALTHCHECK needs an argument"]],
    ["only options", `${U}\nHEALTHCHECK --interval=5s`, ["2:26 HEALTHCHECK needs a check"]],
    [
      "unknown check",
      `${U}\nHEALTHCHECK htp /`,
      ['2:13 unknown HEALTHCHECK check "htp" — did you mean http?'],
    ],
    ["http without path", `${U}\nEXPOSE 80\nHEALTHCHECK http`, ["3:17 HEALTHCHECK http needs a path"]],
    ["relative path", `${U}\nEXPOSE 80\nHEALTHCHECK http healthz`, ['3:18 HEALTHCHECK http path "healthz"']],
    [
      "two paths",
      `${U}\nEXPOSE 80\nHEALTHCHECK http /a /b`,
      ['3:21 HEALTHCHECK http takes one path, found "/b"'],
    ],
    [
      "tcp with an argument",
      `${U}\nHEALTHCHECK tcp 5432`,
      ["2:17 HEALTHCHECK tcp takes no further argument"],
    ],
    [
      "unknown option",
      `${U}\nEXPOSE 80\nHEALTHCHECK --intervall=5s tcp`,
      ['3:13 unknown HEALTHCHECK option "--intervall" — did you mean --interval?'],
    ],
    [
      "bad duration",
      `${U}\nEXPOSE 80\nHEALTHCHECK --interval=10 tcp`,
      ['3:24 HEALTHCHECK --interval "10" is not a duration'],
    ],
    [
      "duration out of range",
      `${U}\nEXPOSE 80\nHEALTHCHECK --interval=500ms tcp`,
      ["3:24 HEALTHCHECK --interval 500ms is out of range: allowed 1s–1h"],
    ],
    [
      "retries 0",
      `${U}\nEXPOSE 80\nHEALTHCHECK --retries=0 tcp`,
      ['3:23 HEALTHCHECK --retries "0" must be a whole number between 1 and 10'],
    ],
    [
      "port 70000",
      `${U}\nHEALTHCHECK --port=70000 tcp`,
      ['2:20 HEALTHCHECK --port "70000" must be a whole number between 1 and 65535'],
    ],
    [
      "option without value",
      `${U}\nEXPOSE 80\nHEALTHCHECK --timeout tcp`,
      ["3:22 HEALTHCHECK --timeout needs a value"],
    ],
    [
      "option twice",
      `${U}\nEXPOSE 80\nHEALTHCHECK --retries=2 --retries=3 tcp`,
      ["3:25 HEALTHCHECK --retries is given twice"],
    ],
    [
      "timeout longer than interval",
      `${U}\nEXPOSE 80\nHEALTHCHECK --interval=2s --timeout=5s tcp`,
      ["3:27 HEALTHCHECK --timeout 5s is longer than its --interval 2s"],
    ],
    ["none with options", `${U}\nHEALTHCHECK none --retries=2`, ["2:18 HEALTHCHECK none takes no options"]],
    ["no port anywhere", `${U}\nHEALTHCHECK http /`, ["2:1 HEALTHCHECK http has no port to check"]],
    [
      "twice",
      `${U}\nEXPOSE 80\nHEALTHCHECK tcp\nHEALTHCHECK none`,
      ["4:1 HEALTHCHECK may appear only once (first at line 3)"],
    ],
  ])("%s", (_what, text, expected) => {
    const found = errors(text);
    expect(found).toHaveLength(expected.length);
    for (const [i, fragment] of expected.entries()) expect(found[i]).toContain(fragment);
  });

  it("canonical input is re-validated by the console", () => {
    const formfile = accept(`${U}\nEXPOSE 80\nHEALTHCHECK http /healthz`);
    expect(validateCanonicalFormfile(formfile).ok).toBe(true);
    const bad = {
      ...formfile,
      healthcheck: { ...formfile.healthcheck, path: "no slash", timeoutMs: 60_000 },
    };
    const result = validateCanonicalFormfile(bad);
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.issues.map((i) => i.path).sort()).toEqual(["healthcheck.path", "healthcheck.timeoutMs"]);
  });
});
