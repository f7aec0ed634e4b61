// Minimal Hardhat 2 configuration used only to run `hardhat node` (the embedded local chain).
// Contracts are compiled by contracts/build.ts with solc-js, never by Hardhat: `sources` points at an
// empty folder so no task ever resolves (and downloads) a compiler. Work files go under
// FORMATION_HARDHAT_DIR, which contracts/devnet.ts sets inside its data directory.
const path = require("node:path");
const os = require("node:os");

const workDir = process.env.FORMATION_HARDHAT_DIR ?? path.join(os.tmpdir(), "formation-hardhat");

module.exports = {
  paths: {
    root: __dirname,
    sources: path.join(workDir, "no-sources"),
    tests: path.join(workDir, "no-tests"),
    cache: path.join(workDir, "cache"),
    artifacts: path.join(workDir, "artifacts"),
  },
  networks: {
    hardhat: {
      chainId: 31337,
      // Hardhat's well-known test mnemonic: devnet.ts derives the same keys to hand out funded accounts.
      // 32 accounts: #0 deploys, #1 is the single-node agent, #9 relays, #11… are multinode hosts.
      accounts: { mnemonic: "test test test test test test test test test test test junk", count: 32 },
      mining: { auto: true, interval: 0 },
    },
  },
};
