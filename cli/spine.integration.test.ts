import { execFileSync, spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Netns, runSuffix } from "../core/netns/netns";
import { readStatusFile } from "../node-agent/config/status-file";
import { defaultNetwork } from "../node-agent/hypervisor/qemu";
import { writeTestAgentConfig } from "../node-agent/testing/agent-config";
import { cleanAgentHost } from "../node-agent/testing/host-cleanup";
import { startAgentProcess, type TAgentProcess } from "../node-agent/testing/start-agent-process";
import { startTestPlatform, type TTestPlatform } from "../server/testing/platform";
import { EXAMPLE_DIR, installCliPackage, jsonOf, runForm } from "./testing";

/**
 * The developer spine with nothing faked: `form` (the installed package) as a child process, a
 * real console, the real node agent daemon building `examples/hello-server` (without its INSTALL)
 * into a real QEMU VM (TCG here), formnet through a real wireguard-go tunnel, and SSH with the
 * Formfile user's key. Minutes on a 2-core host.
 */

function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root");
  for (const bin of ["qemu-system-x86_64", "wireguard-go", "wg", "ssh", "ssh-keygen", "mmdebstrap"]) {
    if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) missing.push(bin);
  }
  return missing;
}

const missing = missingPrerequisites();
if (missing.length > 0)
  // Said loudly: a skipped spine must never look like a passing one.
  process.stderr.write(`cli/spine.integration.test.ts SKIPPED — missing: ${missing.join(", ")}\n`);

const operatorKey = generatePrivateKey();
const operator = privateKeyToAccount(operatorKey);
const PASSWORD = "spine password 1";
let platform: TTestPlatform;
let agent: TAgentProcess | undefined;
let work = "";
/** `form` as a developer gets it: the package, installed with `npm install -g` into a throwaway prefix. */
let formBin = "";
let agentDir = "";
let project = "";
let env: Record<string, string> = {};
let buildId = "";
let vmIp = "";
let laptopIp = "";
// The "laptop": a network namespace wired to this host by a veth pair, so its formnet traffic
// really crosses WireGuard to the node (on one host, local members would otherwise short-cut).
let laptop: Netns | undefined;
const suffix = runSuffix();
const hostVeth = `fsl${suffix}`;
const formnetPort = 40_000 + Math.floor(Math.random() * 20_000);
const LAPTOP_LAN = { host: "192.168.231.1", laptop: "192.168.231.2" };

const form = (args: string[], timeoutMs = 120_000) => runForm({ args, env, timeoutMs, bin: formBin });

function sshTo(opts: { vmIp: string; key: string; netns?: string | undefined }) {
  const ssh = [
    ...["ssh", "-i", opts.key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
    ...["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=60", `webdev@${opts.vmIp}`],
    "systemctl is-active formation-entrypoint; cat /etc/hostname",
  ];
  const argv = opts.netns ? ["ip", "netns", "exec", opts.netns, ...ssh] : ssh;
  return spawnSync(argv[0] ?? "ssh", argv.slice(1), { encoding: "utf8", timeout: 180_000 });
}

/** Routes into formnet addresses on this host that belong to some other member than our agent. */
function foreignFormnetRoutes(agentIface: string, vmIp: string): string[] {
  const routes = execFileSync("ip", ["-4", "route", "show"], { encoding: "utf8" }).split("\n");
  const bridge = defaultNetwork(agentDir).bridge;
  return routes.filter(
    (r) =>
      r.startsWith("10.42.") &&
      !r.includes(`dev ${agentIface} `) &&
      !r.includes(`dev ${bridge} `) &&
      !r.startsWith(`${vmIp} `),
  );
}

describe.skipIf(missing.length > 0)(
  "form spine: init → build → ship → join → formnet-up → ssh → stop → delete",
  () => {
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), "form-spine-"));
      formBin = await installCliPackage(join(work, "cli-prefix"));
      platform = await startTestPlatform({
        operators: [operator.address],
        config: { heartbeatIntervalMs: 1_000, offlineAfterMs: 15_000, leaseMs: 30_000, ackTimeoutMs: 5_000 },
      });
      laptop = await Netns.create(`fsl-${suffix}`);
      execFileSync("ip", [
        "link",
        "add",
        hostVeth,
        "type",
        "veth",
        "peer",
        "name",
        "lan0",
        "netns",
        laptop.name,
      ]);
      execFileSync("ip", ["address", "add", `${LAPTOP_LAN.host}/30`, "dev", hostVeth]);
      execFileSync("ip", ["link", "set", hostVeth, "up"]);
      await laptop.exec("ip", ["address", "add", `${LAPTOP_LAN.laptop}/30`, "dev", "lan0"]);
      await laptop.exec("ip", ["link", "set", "lan0", "up"]);
      agentDir = await mkdtemp(join(tmpdir(), "form-spine-agent-"));
      const { configPath } = await writeTestAgentConfig({
        dataDir: agentDir,
        consoleUrl: platform.url,
        privateKey: operatorKey,
        password: "agent password",
        overrides: {
          jobs: { maxConcurrent: 1, shutdownGraceMs: 5_000, sshReadyTimeoutMs: 300_000 },
          // The endpoint the laptop dials: this host's side of the laptop's veth.
          formnet: {
            enabled: true,
            listenPort: formnetPort,
            endpoints: [`${LAPTOP_LAN.host}:${formnetPort}`],
          },
        },
      });
      agent = await startAgentProcess({ configPath, password: "agent password", env: { LOG_LEVEL: "info" } });
      // The example, with this test's SSH key and the smallest VM (TCG on a shared 2-core host).
      project = join(work, "hello-server");
      await cp(EXAMPLE_DIR, project, { recursive: true });
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(work, "id")]);
      const pub = (await readFile(join(work, "id.pub"), "utf8")).trim();
      const formfile = (await readFile(join(project, "Formfile"), "utf8"))
        .replace('ssh_authorized_keys:"ssh-rsa ..."', `ssh_authorized_keys:"${pub}"`)
        .replace("VCPU 2", "VCPU 1")
        .replace("MEM 2048", "MEM 512")
        // INSTALL python3 is ~80 s of emulated dpkg in the build VM under TCG, and the spine never
        // calls the web server: vm.integration.test.ts builds and serves the example unchanged.
        .replace("INSTALL python3\n", "")
        .replace('ENTRYPOINT ["python3", "server.py"]', 'ENTRYPOINT ["/bin/sleep", "infinity"]');
      await writeFile(join(project, "Formfile"), formfile);
      env = { FORMKIT: join(work, "kit"), FORM_PASSWORD: "" };
    }, 120_000);

    afterAll(async () => {
      // Every step runs even if an earlier one fails: a half-torn-down spine must not leak VMs,
      // interfaces or namespaces into the next run.
      const step = async (what: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
        try {
          await fn();
        } catch (error) {
          process.stderr.write(`spine cleanup: ${what} failed: ${String(error)}\n`);
        }
      };
      if (env.FORMKIT) await step("leave", () => form(["manage", "leave", "--password", PASSWORD]));
      await step("stop agent", () => agent?.stop(20_000));
      if (agentDir) {
        const dir = agentDir;
        const status = await readStatusFile(join(dir, "status.json")).catch(() => undefined);
        await step("delete VMs, bridge and interfaces", () =>
          cleanAgentHost({ dataDir: dir, interfaces: [status?.formnet.interface, hostVeth] }),
        );
        await step("remove agent dir", () => rm(agentDir, { recursive: true, force: true }));
      }
      await step("remove laptop netns", () => laptop?.destroy());
      await step("close console", () => platform?.close());
      if (work) await step("remove work dir", () => rm(work, { recursive: true, force: true }));
    }, 120_000);

    it("walks the whole workflow", async () => {
      const init = await form([
        "kit",
        "init",
        "--yes",
        "--host",
        platform.url,
        "--password",
        PASSWORD,
        "--json",
      ]);
      expect(init.code, init.stderr).toBe(0);
      env.FORM_PASSWORD = PASSWORD;

      // Join first, as the README does: the instance's firewall admits the owner's devices at boot.
      const joined = await form(["manage", "join", "--json"]);
      expect(joined.code, joined.stderr).toBe(0);
      laptopIp = jsonOf<{ address: string }>(joined).address;
      const up = await form([
        "manage",
        "formnet-up",
        "--netns",
        laptop?.name ?? "",
        "--interval-ms",
        "2000",
        "--json",
      ]);
      expect(up.code, up.stderr).toBe(0);
      expect(jsonOf<{ address: string }>(up).address).toBe(laptopIp);

      const built = await form(["pack", "build", project, "--json"], 1_800_000);
      expect(built.code, built.stderr.slice(-4000)).toBe(0);
      buildId = jsonOf<{ buildId: string }>(built).buildId;

      const shipped = await form(["pack", "ship", project, "--replicas", "1", "--wait", "--json"], 900_000);
      expect(shipped.code, shipped.stderr).toBe(0);
      // This console runs without a chain: the ship says so instead of committing (cli.integration
      // and server/services/chain/build-commitments cover the on-chain commitment).
      expect(jsonOf<{ commitment: { state: string } }>(shipped).commitment.state).toBe("no-chain");

      const ips = jsonOf<Array<{ formnetIp: string; status: string }>>(
        await form(["manage", "get-ip", "--build-id", buildId, "--json"]),
      );
      expect(ips).toHaveLength(1);
      vmIp = ips[0]?.formnetIp ?? "";
      expect(vmIp).toMatch(/^10\.42\./);

      const status = jsonOf<{ instances: Array<{ formnetIp: string; status: string }> }>(
        await form(["pack", "status", "--build-id", buildId, "--json"]),
      );
      expect(status.instances[0]).toMatchObject({ formnetIp: vmIp, status: "running" });

      // SSH as the Formfile's user with its key: from this host (which routes the VM's /32 onto the
      // agent's bridge) and from the laptop namespace through its WireGuard tunnel.
      // `running` means sshd answered once, and sshd answers before systemd has started the rest
      // (a user's systemctl needs the system bus): poll with a deadline until the ENTRYPOINT's
      // unit is active (a refused connection right after boot was seen once in CI, too).
      const settled = (r: ReturnType<typeof sshTo>) => r.status === 0 && /^active\n/.test(r.stdout);
      let fromHost = sshTo({ vmIp, key: join(work, "id") });
      for (const deadline = Date.now() + 90_000; !settled(fromHost) && Date.now() < deadline; ) {
        process.stderr.write(
          `spine: ssh from the host: not yet (${fromHost.stderr.trim() || fromHost.stdout.trim()}); retrying\n`,
        );
        await new Promise((r) => setTimeout(r, 2_000));
        fromHost = sshTo({ vmIp, key: join(work, "id") });
      }
      expect(fromHost.status, fromHost.stderr).toBe(0);
      expect(fromHost.stdout).toMatch(/^active\n/);
      const fromLaptop = sshTo({ vmIp, key: join(work, "id"), netns: laptop?.name });
      const agentIface = (await readStatusFile(join(agentDir, "status.json")))?.formnet.interface ?? "";
      const foreign = foreignFormnetRoutes(agentIface, vmIp);
      if (foreign.length === 0) {
        expect(fromLaptop.status, fromLaptop.stderr).toBe(0);
        expect(fromLaptop.stdout).toMatch(/^active\n/);
      } else if (fromLaptop.status !== 0) {
        // Another formnet member on this host (a concurrent test's agent) routes the same addresses,
        // so replies to the laptop can leave through it: the tunnel path is not testable right now.
        process.stderr.write(
          `spine: SSH through the laptop tunnel NOT asserted — other formnet routes on this host: ${foreign.join(" | ")}; ssh said: ${fromLaptop.stderr.trim()}\n`,
        );
      }

      for (const verb of ["stop", "delete"]) {
        const run = await form(["manage", verb, "--build-id", buildId, "--json"]);
        expect(run.code, `${verb}: ${run.stderr}`).toBe(0);
      }
      // The agent deletes the VM; get-ip then lists nothing (deleted instances are hidden).
      await expect
        .poll(
          async () =>
            jsonOf<unknown[]>(await form(["manage", "get-ip", "--build-id", buildId, "--json"])).length,
          {
            timeout: 180_000,
            interval: 2_000,
          },
        )
        .toBe(0);
    }, 3_000_000);
  },
);
