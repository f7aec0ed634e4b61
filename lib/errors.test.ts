import { describe, expect, it } from "vitest";
import { APP_ERROR_CODES, FormationError, findFormationError, isAppErrorCode } from "./errors";
import { FormnetExhaustedError } from "./formnet/allocate";
import { FormnetAddressError } from "./formnet/cidr";

describe("FormationError", () => {
  it("carries code, short message, details and cause; the message adds to the short one", () => {
    const cause = new Error("EACCES");
    const error = new FormationError("SOME_CODE", "could not read x", {
      message: "could not read x\nstderr: denied",
      details: { path: "/x" },
      cause,
    });
    expect(error).toBeInstanceOf(Error);
    expect([error.code, error.shortMessage, error.message]).toEqual([
      "SOME_CODE",
      "could not read x",
      "could not read x\nstderr: denied",
    ]);
    expect(error.details).toEqual({ path: "/x" });
    expect(error.cause).toBe(cause);
    expect(new FormationError("C", "short").message).toBe("short");
  });

  it("is the base of the shared errors, found through cause chains", () => {
    const exhausted = new FormnetExhaustedError("10.9.0.0/30", 2);
    expect(exhausted).toBeInstanceOf(FormationError);
    expect(exhausted.name).toBe("FormnetExhaustedError");
    expect(exhausted.details).toEqual({ cidr: "10.9.0.0/30", used: 2 });
    const bad = new FormnetAddressError("1.2.3", "expected a dotted-quad IPv4 address");
    expect(findFormationError(new Error("outer", { cause: bad }))).toBe(bad);
    expect(findFormationError(new Error("plain"))).toBeUndefined();
  });

  it("knows the API's codes", () => {
    expect(APP_ERROR_CODES.every(isAppErrorCode)).toBe(true);
    expect(isAppErrorCode("FORMNET_EXHAUSTED")).toBe(false);
    expect(isAppErrorCode(404)).toBe(false);
  });
});
