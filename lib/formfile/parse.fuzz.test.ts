import { describe, expect, it } from "vitest";
import { ZFormfile } from "./canonical";
import { parseFormfile } from "./parse";

/** mulberry32: a tiny seeded PRNG so failures reproduce from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED_FILE = [
  "NAME hello-server",
  'DESCRIPTION "demo"',
  'USER username:webdev passwd:pw sudo:true ssh_authorized_keys:"ssh-rsa AAAA x@y" \\',
  "   groups:docker,users shell:/bin/bash",
  "VCPU 2",
  "MEM 2048",
  "DISK 5",
  "GPU a100:1",
  "COPY ./app /app",
  "RUN apt-get update && echo 'a # b'",
  "INSTALL python3 nginx",
  'ENV --scope=user:webdev A="b c"',
  "WORKDIR /app",
  'ENTRYPOINT ["python3", "server.py"]',
  "EXPOSE 80 8080",
].join("\n");

const ALPHABET = [
  '"',
  "'",
  "\\",
  "\n",
  "\r",
  " ",
  "\t",
  ":",
  "=",
  ",",
  "[",
  "]",
  "#",
  "$",
  "/",
  "..",
  "0",
  "9",
  "é",
  "\u0000",
  "\uFEFF",
];

function mutate(text: string, rnd: () => number): string {
  let out = text;
  const edits = 1 + Math.floor(rnd() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rnd() * (out.length + 1));
    const choice = rnd();
    if (choice < 0.4)
      out = out.slice(0, at) + (ALPHABET[Math.floor(rnd() * ALPHABET.length)] ?? "") + out.slice(at);
    else if (choice < 0.7) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(rnd() * 8));
    else {
      // Splice a random slice of the file elsewhere: duplicates and reorders instructions.
      const from = Math.floor(rnd() * out.length);
      out = out.slice(0, at) + out.slice(from, from + Math.floor(rnd() * 40)) + out.slice(at);
    }
  }
  return out;
}

function randomText(rnd: () => number): string {
  const len = Math.floor(rnd() * 200);
  let s = "";
  for (let i = 0; i < len; i++) {
    s +=
      rnd() < 0.7
        ? (ALPHABET[Math.floor(rnd() * ALPHABET.length)] ?? "")
        : String.fromCharCode(32 + Math.floor(rnd() * 95));
  }
  return s;
}

describe("parseFormfile under fuzzing", () => {
  it("never throws; accepted files match the schema, rejected ones carry valid positions", () => {
    const seed = 20261126;
    const rnd = prng(seed);
    // Hashing is replaced so thousands of iterations stay fast; the parser logic is unchanged.
    const opts = { hashPassword: (pw: string) => `h:${pw.length}` };
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const text = i % 3 === 0 ? randomText(rnd) : mutate(SEED_FILE, rnd);
      const lineCount = text.split(/\r\n|\n|\r/).length;
      let result: ReturnType<typeof parseFormfile>;
      try {
        result = parseFormfile(text, opts);
      } catch (error) {
        throw new Error(`seed ${seed} iteration ${i} threw on ${JSON.stringify(text)}`, { cause: error });
      }
      if (result.ok) {
        accepted++;
        expect(ZFormfile.safeParse(result.formfile).success).toBe(true);
      } else {
        expect(result.errors.length).toBeGreaterThan(0);
        for (const e of result.errors) {
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.line).toBeLessThanOrEqual(lineCount);
          expect(e.column).toBeGreaterThanOrEqual(1);
          expect(e.message.length).toBeGreaterThan(0);
        }
      }
    }
    // Guards against a fuzzer that only ever produces garbage (the test would then prove little).
    expect(accepted).toBeGreaterThan(50);
  });
});
