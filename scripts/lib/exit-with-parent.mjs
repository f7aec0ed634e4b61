// Preloaded (`node --import`) into every service the supervisor starts. The supervisor holds the
// write end of our stdin pipe; if it dies — even by SIGKILL, when it cannot stop us itself — the
// pipe closes and we stop gracefully instead of running on as an orphan.
if (process.env.FORMATION_SUPERVISED === "1" && !process.stdin.isTTY) {
  process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
  process.stdin.on("error", () => process.kill(process.pid, "SIGTERM"));
  process.stdin.resume();
  // Reading stdin must not be what keeps a finished service alive.
  process.stdin.unref?.();
}
