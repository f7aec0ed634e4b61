import { describe, expect, it } from "vitest";
import { withLoginKindRules, withoutDynamicMotd } from "./base";
import { SSHD_PAM_KEY_ACCOUNT, SSHD_PAM_PASSWORD_MARK } from "./guest-files";

const DEBIAN_SSHD_PAM = [
  "@include common-auth",
  "# Disallow non-root logins when /etc/nologin exists.",
  "account    required     pam_nologin.so",
  "",
  "# Standard Un*x authorization.",
  "@include common-account",
  "",
  "@include common-session",
  "",
].join("\n");

describe("sshd PAM stacks of the base", () => {
  it("marks password logins before the auth stack and lets key logins end the account stack after pam_nologin", () => {
    const pam = withLoginKindRules(DEBIAN_SSHD_PAM);
    expect(pam.startsWith(`${SSHD_PAM_PASSWORD_MARK}@include common-auth\n`)).toBe(true);
    const rule = pam.indexOf(SSHD_PAM_KEY_ACCOUNT);
    expect(rule).toBeGreaterThan(pam.indexOf("pam_nologin.so"));
    expect(pam.slice(rule + SSHD_PAM_KEY_ACCOUNT.length)).toMatch(/^@include common-account\n/);
    expect(pam.match(/pam_exec\.so/g)).toHaveLength(2);
  });

  it("refuses a PAM file it does not recognise instead of guessing", () => {
    expect(() => withLoginKindRules("@include common-auth\naccount required pam_unix.so\n")).toThrow(
      /common-account/,
    );
  });

  it("drops only the pam_motd line that runs update-motd.d; the static motd stays", () => {
    const pam = [
      "@include common-session",
      "session    optional     pam_motd.so  motd=/run/motd.dynamic",
      "session    optional     pam_motd.so noupdate",
      "session    optional     pam_mail.so standard noenv # [1]",
      "",
    ].join("\n");
    expect(withoutDynamicMotd(pam)).toBe(
      [
        "@include common-session",
        "session    optional     pam_motd.so noupdate",
        "session    optional     pam_mail.so standard noenv # [1]",
        "",
      ].join("\n"),
    );
    expect(withoutDynamicMotd(withoutDynamicMotd(pam))).toBe(withoutDynamicMotd(pam));
  });
});
