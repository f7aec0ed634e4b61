import { describe, expect, it } from "vitest";
import { parseFormfile } from "./index";
import { validateCanonicalFormfile } from "./validate-canonical";

const TEXT = `NAME hello-server
USER username:webdev passwd:webpass123 sudo:true ssh_authorized_keys:"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9 me@laptop"
VCPU 2
MEM 2048
DISK 5
COPY ./app /app
INSTALL python3
ENV --scope=system GREETING=hello
WORKDIR /app
ENTRYPOINT ["python3", "server.py"]
EXPOSE 8080
`;

function canonical() {
  const result = parseFormfile(TEXT, { salt: "saltsaltsaltsalt" });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return structuredClone(result.formfile);
}

describe("validateCanonicalFormfile", () => {
  it("accepts what the parser produces", () => {
    expect(validateCanonicalFormfile(canonical())).toEqual({ ok: true, formfile: canonical() });
  });

  const cases: [string, (f: ReturnType<typeof canonical>) => void, string][] = [
    [
      "bad name",
      (f) => {
        f.name = "Hello World";
      },
      "name",
    ],
    [
      "shell injection in username",
      (f) => {
        f.users[0]!.username = "root;rm -rf /";
      },
      "users[0].username",
    ],
    [
      "plain-text password",
      (f) => {
        f.users[0]!.passwdHash = "webpass123";
      },
      "users[0].passwdHash",
    ],
    [
      "relative shell",
      (f) => {
        f.users[0]!.shell = "bash";
      },
      "users[0].shell",
    ],
    [
      "newline in env value",
      (f) => {
        f.env[0]!.value = "a\nPATH=/evil";
      },
      "env[0].value",
    ],
    [
      "bad env key",
      (f) => {
        f.env[0]!.key = "1X";
      },
      "env[0].key",
    ],
    [
      "copy escaping the context",
      (f) => {
        f.steps[0] = { kind: "copy", src: "../etc", dst: "/app", line: 6 };
      },
      "steps[0].src",
    ],
    [
      "relative copy destination",
      (f) => {
        f.steps[0] = { kind: "copy", src: "app", dst: "app", line: 6 };
      },
      "steps[0].dst",
    ],
    [
      "package with shell metacharacters",
      (f) => {
        f.steps[1] = { kind: "install", packages: ["x;reboot"], line: 7 };
      },
      "steps[1].packages[0]",
    ],
    [
      "too much memory",
      (f) => {
        f.resources.memoryMb = 10;
      },
      "resources.memoryMb",
    ],
    [
      "relative workdir",
      (f) => {
        f.workdir = "app";
      },
      "workdir",
    ],
    [
      "port out of range",
      (f) => {
        f.expose = [70000];
      },
      "expose[0]",
    ],
    [
      "no users",
      (f) => {
        f.users = [];
      },
      "users",
    ],
  ];
  it.each(cases)("rejects %s", (_name, mutate, path) => {
    const f = canonical();
    mutate(f);
    const result = validateCanonicalFormfile(f);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.path)).toContain(path);
  });

  it("rejects values of the wrong type", () => {
    const result = validateCanonicalFormfile({ ...canonical(), resources: "big" });
    expect(result.ok).toBe(false);
  });
});
