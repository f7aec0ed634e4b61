import { describe, expect, it } from "vitest";
import {
  CRYPT_SALT_PATTERN,
  ownerCryptSalt,
  randomCryptSalt,
  sha512Crypt,
  verifySha512Crypt,
} from "./sha512-crypt";

// Test vectors from Drepper's "Unix crypt using SHA-256 and SHA-512" (the glibc reference), plus
// vectors produced with `openssl passwd -6 -salt …` for non-ASCII and >64-byte passwords.
const VECTORS: Array<[setting: string, password: string, expected: string]> = [
  [
    "$6$saltstring",
    "Hello world!",
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
  ],
  [
    "$6$rounds=10000$saltstringsaltstring",
    "Hello world!",
    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
  ],
  [
    "$6$rounds=5000$toolongsaltstring",
    "This is just a test",
    "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
  ],
  [
    "$6$rounds=1400$anotherlongsaltstring",
    "a very much longer text to encrypt.  This one even stretches over morethan one line.",
    "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
  ],
  [
    "$6$rounds=10$roundstoolow",
    "the minimum number is still observed",
    "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
  ],
  [
    "$6$Zx./9qQ",
    "pässwörd ✓",
    "$6$Zx./9qQ$uQ4cTzFxRrPdNEdktbX2jlIY4AAa6TT0hm06ZoqgEC/nCLqnr.QqkGPnEDZr4MGsR.hrGV2z9Q3vjC7UVUUcL.",
  ],
  [
    "$6$abcdefghijklmnop",
    "x".repeat(130),
    "$6$abcdefghijklmnop$0RaDDxnDIdW3wUVFxZEKWndsiMV.U4ZJ0Bm1qKE0tJMr9x4SJYz.3PVJGJ52jrjaGNKV1.cVYMNOo14Wfasjt/",
  ],
];

describe("sha512Crypt", () => {
  it.each(VECTORS)("%s matches the reference", (setting, password, expected) => {
    expect(sha512Crypt(password, setting)).toBe(expected);
  });

  it("verifies a password against its own hash and rejects a wrong one", () => {
    const [, password, hash] = VECTORS[0] ?? ["", "", ""];
    expect(verifySha512Crypt(password, hash)).toBe(true);
    expect(verifySha512Crypt(`${password}x`, hash)).toBe(false);
  });

  it("rejects settings that are not $6$", () => {
    expect(() => sha512Crypt("pw", "$5$salt")).toThrow(/\$6\$/);
  });
});

describe("randomCryptSalt", () => {
  it("returns 16 alphabet characters that differ between calls", () => {
    const a = randomCryptSalt();
    const b = randomCryptSalt();
    expect(a).toMatch(CRYPT_SALT_PATTERN);
    expect(a).toHaveLength(16);
    expect(a).not.toBe(b);
  });
});

describe("ownerCryptSalt", () => {
  it("is deterministic per owner, case-insensitive, and differs between owners", () => {
    const a = ownerCryptSalt("0xAbC0000000000000000000000000000000000001");
    expect(a).toMatch(/^[./0-9A-Za-z]{16}$/);
    expect(ownerCryptSalt("0xabc0000000000000000000000000000000000001")).toBe(a);
    expect(ownerCryptSalt("0xabc0000000000000000000000000000000000002")).not.toBe(a);
  });
});
