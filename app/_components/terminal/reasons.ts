import type { TTerminalReason } from "@/lib/protocol/terminal";

/** What the user sees for each refusal: a title and what to do next. */
export const TERMINAL_REASON_TEXT: Record<TTerminalReason, { title: string; hint: string }> = {
  unauthenticated: {
    title: "You are signed out",
    hint: "Sign in with your wallet, then reopen the terminal.",
  },
  "forbidden-origin": {
    title: "Opened from another site",
    hint: "Open the terminal from the console itself.",
  },
  "bad-request": { title: "Malformed terminal request", hint: "Reload the page." },
  "not-found": {
    title: "No such instance in your account",
    hint: "It may have been deleted, or another wallet owns it: check the instances list and the connected wallet.",
  },
  "instance-not-running": { title: "The instance is not running", hint: "Start it, then reconnect." },
  "no-formnet-ip": {
    title: "No formnet address yet",
    hint: "The VM has not reported its address; wait for it to finish booting.",
  },
  "formnet-unreachable": {
    title: "The VM is unreachable over formnet",
    hint: "Its node may be offline or the VM is still booting; retry in a few seconds.",
  },
  "auth-refused": {
    title: "The VM refused the console's login",
    hint: "The image may predate the console's SSH CA or lack a USER: rebuild and ship it.",
  },
  "host-key-changed": {
    title: "The VM's host key changed",
    hint: "The console pinned another key for this instance; contact the operator.",
  },
  "session-expired": { title: "The session ended", hint: "Open a new session." },
  "too-many-sessions": { title: "Too many open terminals", hint: "Close another terminal tab first." },
  internal: {
    title: "The console could not open the terminal",
    hint: "Retry; if it persists, check the console logs.",
  },
};

/** Refusals a retry cannot fix: the panel stops reconnecting after one of these. */
export function isFinalReason(reason: TTerminalReason): boolean {
  return !["formnet-unreachable", "internal", "no-formnet-ip"].includes(reason);
}
