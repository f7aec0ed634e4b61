import { createInterface, type Interface } from "node:readline/promises";
import { Writable } from "node:stream";

/** Questions the init wizard asks; an interface so the wizard's logic is testable without a TTY. */
export interface TPrompter {
  ask(question: string, defaultValue?: string): Promise<string>;
  /** Input is not echoed. */
  secret(question: string): Promise<string>;
  confirm(question: string, defaultValue: boolean): Promise<boolean>;
  close(): void;
}

/** Prompts on stdin/stdout with node:readline; secrets are read with echo switched off. */
export function createTerminalPrompter(
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stdout,
): TPrompter {
  let muted = false;
  // readline echoes through this stream; muting it hides typed secrets without raw-mode handling.
  const echo = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) output.write(chunk);
      callback();
    },
  });
  const rl: Interface = createInterface({
    input,
    output: echo,
    terminal: "isTTY" in input && input.isTTY === true,
  });
  return {
    async ask(question, defaultValue) {
      const suffix = defaultValue === undefined || defaultValue === "" ? "" : ` [${defaultValue}]`;
      const answer = (await rl.question(`${question}${suffix}: `)).trim();
      return answer === "" ? (defaultValue ?? "") : answer;
    },
    async secret(question) {
      output.write(`${question}: `);
      muted = true;
      try {
        return await rl.question("");
      } finally {
        muted = false;
        output.write("\n");
      }
    },
    async confirm(question, defaultValue) {
      const answer = (await rl.question(`${question} [${defaultValue ? "Y/n" : "y/N"}]: `))
        .trim()
        .toLowerCase();
      if (answer === "") return defaultValue;
      return answer === "y" || answer === "yes";
    },
    close() {
      rl.close();
    },
  };
}
