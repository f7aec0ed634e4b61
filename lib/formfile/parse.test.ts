import { describe, expect, it } from "vitest";
import { formfileUser, ZFormfile } from "./canonical";
import { formatDiagnostic } from "./diagnostics";
import { parseFormfile } from "./parse";
import { verifySha512Crypt } from "./sha512-crypt";

const U = "USER username:dev passwd:pw";
const SALT = "testsalt";

/** Parses and returns the formfile, failing the test with the diagnostics if it is rejected. */
function accept(text: string) {
  const result = parseFormfile(text, { salt: SALT });
  if (!result.ok) throw new Error(result.errors.map((e) => formatDiagnostic("F", e)).join("\n"));
  expect(ZFormfile.parse(result.formfile)).toEqual(result.formfile);
  return result;
}

describe("parseFormfile accepts", () => {
  it("the README's simple web server with all defaults filled in", () => {
    const { formfile, locations } = accept(
      [
        "NAME hello-server",
        "",
        'USER username:webdev passwd:webpass123 sudo:true ssh_authorized_keys:"ssh-rsa ..."',
        "VCPU 2",
        "MEM 2048",
        "DISK 5",
        "COPY ./app /app",
        "INSTALL python3",
        "WORKDIR /app",
        'ENTRYPOINT ["python3", "server.py"]',
      ].join("\n"),
    );
    expect(formfile.name).toBe("hello-server");
    expect(formfile.resources).toEqual({ vcpu: 2, memoryMb: 2048, diskGb: 5, gpu: null });
    expect(formfile.users).toEqual([
      formfileUser({
        username: "webdev",
        passwdHash: expect.stringMatching(/^\$6\$testsalt\$[./0-9A-Za-z]{86}$/),
        sudo: true,
        sshAuthorizedKeys: ["ssh-rsa ..."],
      }),
    ]);
    expect(verifySha512Crypt("webpass123", formfile.users[0]?.passwdHash ?? "")).toBe(true);
    expect(formfile.steps).toEqual([
      { kind: "copy", src: "app", dst: "/app", line: 7 },
      { kind: "install", packages: ["python3"], line: 8 },
    ]);
    expect(formfile.workdir).toBe("/app");
    expect(formfile.entrypoint).toEqual(["python3", "server.py"]);
    expect(locations).toMatchObject({ vcpu: { line: 4, column: 6 }, copySources: [{ line: 7, column: 6 }] });
  });

  it("the README's multi-line USER with every option, using \\ continuations", () => {
    const { formfile } = accept(
      [
        "USER username:myuser \\",
        "     passwd:mypassword \\",
        '     ssh_authorized_keys:"ssh-rsa AAAA... user@host, ssh-ed25519 BBBB me" \\',
        "     lock_passwd:no \\",
        "     sudo:YES \\",
        "     shell:/bin/zsh \\",
        "     ssh_pwauth:off \\",
        "     disable_root:0 \\",
        "     chpasswd_expire:false \\",
        "     groups:docker,sudo",
      ].join("\n"),
    );
    expect(formfile.users[0]).toMatchObject({
      username: "myuser",
      sshAuthorizedKeys: ["ssh-rsa AAAA... user@host", "ssh-ed25519 BBBB me"],
      lockPasswd: false,
      sudo: true,
      shell: "/bin/zsh",
      sshPwauth: false,
      disableRoot: false,
      chpasswdExpire: false,
      groups: ["docker", "sudo"],
    });
  });

  it("defaults: VCPU 1, MEM 512, DISK 5, no GPU/WORKDIR/ENTRYPOINT, deterministic auto NAME", () => {
    const a = accept(U).formfile;
    expect(a.resources).toEqual({ vcpu: 1, memoryMb: 512, diskGb: 5, gpu: null });
    expect(a).toMatchObject({
      description: null,
      workdir: null,
      entrypoint: null,
      expose: [],
      env: [],
      steps: [],
    });
    expect(a.name).toMatch(/^form-[0-9a-f]{12}$/);
    // Same file → same name even with a different salt; a different password does not change it either.
    expect(parseFormfile(U).ok && parseFormfile(U)).toMatchObject({ formfile: { name: a.name } });
    expect(accept(`${U}x`).formfile.name).toBe(a.name);
    expect(accept(`${U}\nVCPU 2`).formfile.name).not.toBe(a.name);
  });

  it.each([
    ["CPU 4", { vcpu: 4 }],
    ["cores 128", { vcpu: 128 }],
    ["MEMORY 256000", { memoryMb: 256000 }],
    ["storage 65535", { diskGb: 65535 }],
    ["GPU a100", { gpu: { model: "a100", count: 1 } }],
    ["GPU rtx-4090:2", { gpu: { model: "rtx-4090", count: 2 } }],
  ])("resource %s", (line, expected) => {
    expect(accept(`${U}\n${line}`).formfile.resources).toMatchObject(expected);
  });

  it.each([
    ['ENTRYPOINT nginx -g "daemon off;"', ["nginx", "-g", "daemon off;"]],
    ['ENTRYPOINT ["nginx", "-g", "daemon off;"]', ["nginx", "-g", "daemon off;"]],
    ["ENTRYPOINT /bin/sh -c 'echo \"hi\" && sleep 1'", ["/bin/sh", "-c", 'echo "hi" && sleep 1']],
    ['ENTRYPOINT printf "a \\"b\\" \\\\"', ["printf", 'a "b" \\']],
  ])("%s", (line, argv) => {
    expect(accept(`${U}\n${line}`).formfile.entrypoint).toEqual(argv);
  });

  it("ENV scopes, quoted values and several pairs per line", () => {
    const { formfile } = accept(
      [
        U,
        "ENV PATH=/usr/local/bin:$PATH",
        'ENV --scope=user:dev GREETING="hello world" EMPTY=',
        "ENV --scope=service:nginx NGINX_PORT=80",
      ].join("\n"),
    );
    expect(formfile.env).toEqual([
      { scope: "system", key: "PATH", value: "/usr/local/bin:$PATH" },
      { scope: "user:dev", key: "GREETING", value: "hello world" },
      { scope: "user:dev", key: "EMPTY", value: "" },
      { scope: "service:nginx", key: "NGINX_PORT", value: "80" },
    ]);
  });

  it("steps in file order; comments, blank lines, CRLF and lowercase keywords", () => {
    const { formfile } = accept(
      [
        "# comment",
        U,
        "",
        "run apt-get update && \\",
        "  # a comment inside a continuation is skipped",
        "  apt-get install -y curl # not a comment",
        "install nginx python3 python3",
        "Copy . /srv/app/",
        "EXPOSE 80 443",
        "EXPOSE 8080",
        'DESCRIPTION "A tiny server"',
        "WORKDIR //srv/./app/",
      ].join("\r\n"),
    );
    expect(formfile.steps).toEqual([
      { kind: "run", command: "apt-get update &&    apt-get install -y curl # not a comment", line: 4 },
      { kind: "install", packages: ["nginx", "python3"], line: 7 },
      { kind: "copy", src: ".", dst: "/srv/app", line: 8 },
    ]);
    expect(formfile.expose).toEqual([80, 443, 8080]);
    expect(formfile.description).toBe("A tiny server");
    expect(formfile.workdir).toBe("/srv/app");
  });

  it("warns (without failing) on duplicate EXPOSE ports and dangling continuations", () => {
    const result = accept(`${U}\nEXPOSE 80 80\nRUN true \\`);
    expect(result.warnings.map((w) => [w.line, w.column])).toEqual([
      [2, 11],
      [3, 10],
    ]);
  });

  it("uses an injected password hasher", () => {
    const result = parseFormfile(U, { hashPassword: (pw) => `plain:${pw}` });
    expect(result.ok && result.formfile.users[0]?.passwdHash).toBe("plain:pw");
  });

  it("warns about a placeholder SSH key (the README's `ssh-rsa ...`) but accepts real-looking keys", () => {
    const text = (keys: string) => `NAME k\nUSER username:dev passwd:pw ssh_authorized_keys:"${keys}"\n`;
    const placeholder = parseFormfile(text("ssh-rsa ..."));
    if (!placeholder.ok) throw new Error("placeholder key must parse");
    expect(placeholder.warnings.map((w) => w.message).join("\n")).toMatch(/placeholder/);
    const real = parseFormfile(text(`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9${"x".repeat(40)} me@laptop`));
    if (!real.ok) throw new Error("real key must parse");
    expect(real.warnings).toEqual([]);
  });
});
