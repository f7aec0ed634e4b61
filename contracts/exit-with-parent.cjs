// Preloaded into the Hardhat node process (`node -r`): contracts/devnet.ts keeps the child's stdin as a
// pipe, which closes when the parent dies for any reason (even SIGKILL). Exiting then means a crashed
// console or test runner never leaves an orphaned chain holding its port.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
