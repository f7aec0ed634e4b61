import { describe, expect, it } from "vitest";
import { parseFormfile } from "@/lib/formfile/parse";
import { copyDiagnostics } from "./context-checks";

const parsed = parseFormfile("NAME c\nUSER username:dev passwd:pw\nCOPY ./app /app\n", {
  hashPassword: () => "",
});

describe("copyDiagnostics", () => {
  it("flags COPY of a path the context will not have", () => {
    if (!parsed.ok) throw new Error("invalid");
    const none = copyDiagnostics(parsed.formfile, { kind: "formfile-only" });
    expect(none).toHaveLength(1);
    expect(none[0]).toMatchObject({ line: 3, column: 1 });
    expect(none[0]?.message).toContain("no project is attached");
    expect(
      copyDiagnostics(parsed.formfile, { kind: "paths", label: "web/", paths: ["app/server.py"] }),
    ).toEqual([]);
    expect(
      copyDiagnostics(parsed.formfile, { kind: "paths", label: "web/", paths: ["src/x"] })[0]?.message,
    ).toBe("COPY ./app: web/ has no ./app");
  });
});
