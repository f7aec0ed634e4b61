import { describe, expect, it } from "vitest";
import { formfileUser, type TFormfile, type TFormfileUser } from "@/lib/formfile/canonical";
import {
  APT_PACKAGE,
  entrypointUnit,
  envByScope,
  etcEnvironmentLine,
  instanceSystemEnv,
  SYSTEM_PATH,
  serviceUnitName,
  shouldExpirePassword,
  sshdConfig,
  systemdQuote,
} from "./render";

const user = (over: Partial<TFormfileUser> = {}): TFormfileUser =>
  formfileUser({ username: "webdev", passwdHash: "$6$salt$hash", ...over });

describe("image render helpers", () => {
  it("quotes ExecStart arguments so systemd passes them verbatim", () => {
    expect(systemdQuote('a "b" $HOME 100%')).toBe('"a \\"b\\" $$HOME 100%%"');
    const unit = entrypointUnit({
      argv: ["python3", "server.py"],
      workdir: "/app",
      env: [{ key: "A", value: "x y" }],
    });
    expect(unit).toContain('ExecStart="python3" "server.py"');
    expect(unit).toContain("WorkingDirectory=/app");
    expect(unit).toContain("Restart=always");
    expect(unit).toContain('Environment="A=x y"');
  });

  it("renders sshd options per user and closes Match blocks", () => {
    const conf = sshdConfig({
      users: [user(), user({ username: "ops", sshPwauth: false, disableRoot: false })],
      sshCaPublicKey: "ssh-ed25519 AAAA ca",
    });
    expect(conf).toContain("TrustedUserCAKeys /etc/ssh/formation_user_ca.pub");
    expect(conf).toContain("PermitRootLogin no");
    expect(conf).toContain("PasswordAuthentication no");
    expect(conf).toMatch(/Match User webdev\n {2}PasswordAuthentication yes\nMatch all\n$/);
    expect(sshdConfig({ users: [] })).not.toContain("PasswordAuthentication");
  });

  it("expires the password of every user who can log in with it (keys are not held up)", () => {
    expect(shouldExpirePassword(user())).toBe(true);
    expect(shouldExpirePassword(user({ sshAuthorizedKeys: ["ssh-ed25519 AAAA"] }))).toBe(true);
    expect(shouldExpirePassword(user({ lockPasswd: true }))).toBe(false);
    expect(shouldExpirePassword(user({ chpasswdExpire: false }))).toBe(false);
  });

  it("groups ENV by scope and names service units", () => {
    const ff = {
      env: [
        { scope: "system", key: "A", value: "1" },
        { scope: "user:webdev", key: "B", value: "2" },
        { scope: "service:nginx", key: "C", value: "3" },
        { scope: "service:formation-entrypoint", key: "D", value: "4" },
      ],
    } as unknown as TFormfile;
    const g = envByScope(ff);
    expect(g.system.map((e) => e.key)).toEqual(["A"]);
    expect(g.users.get("webdev")?.map((e) => e.key)).toEqual(["B"]);
    expect([...g.services.keys()]).toEqual(["nginx.service", "formation-entrypoint.service"]);
    expect(serviceUnitName("x.socket")).toBe("x.socket");
    expect(etcEnvironmentLine("K", 'say "hi" $X')).toBe('K="say \\"hi\\" \\$X"');
  });

  it("expands system ENV for the instance against its PATH and the entries before it", () => {
    const ff = {
      env: [
        { scope: "system", key: "PATH", value: "/usr/local/bin:$PATH" },
        { scope: "user:webdev", key: "PATH", value: "/home/webdev/bin:$PATH" },
        { scope: "system", key: "APP_HOME", value: "/srv/app" },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell syntax under test
        { scope: "system", key: "APP_BIN", value: "${APP_HOME}/bin:$NOPE" },
      ],
    } as unknown as TFormfile;
    expect(instanceSystemEnv(ff)).toEqual([
      { key: "PATH", value: `/usr/local/bin:${SYSTEM_PATH}` },
      { key: "APP_HOME", value: "/srv/app" },
      { key: "APP_BIN", value: "/srv/app/bin:" },
    ]);
  });

  it("accepts Debian package names and rejects option-like input", () => {
    for (const ok of ["python3", "libc6:amd64", "g++", "nginx=1.22.1-9"])
      expect(APT_PACKAGE.test(ok)).toBe(true);
    for (const bad of ["-oAPT::x=1", "--allow-unauthenticated", "a b", ""])
      expect(APT_PACKAGE.test(bad)).toBe(false);
  });
});
