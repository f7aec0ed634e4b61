import type { Command } from "commander";
import type { TAppErrorCode } from "../../lib/errors";
import { CliError } from "../errors";
import { type Output, runAction, type TCommonOptions, withCommonOptions } from "../output";
import { openSession, type TApiClient, type TSession } from "../session";
import { requireBuildId } from "./pack-status";

/**
 * `form domain add|verify|ls|rm`: custom domains of the caller's deployments (docs/ingress.md,
 * "Custom domains"). Claims, proofs and removals are signed actions (`domain.*`).
 */

export type TDomain = Awaited<ReturnType<TApiClient["ingress"]["domains"]["query"]>>[number];
type TDomainOptions = TCommonOptions & { buildId?: string; port?: string };
type TDomainVerb = "add" | "verify" | "rm";

/** Checks the domain argument before any request: a name, not a URL or a host:port. */
export function requireDomain(value: string): string {
  const domain = value.trim().toLowerCase();
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(domain) || /[/:]/.test(domain))
    throw new CliError(
      "user",
      `"${value}" is not a domain name — pass the name only, e.g. shop.example.com (no scheme, port or path)`,
    );
  return domain;
}

/** The --port of `domain add`: one of the deployment's EXPOSEd ports. */
export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new CliError("user", `--port must be a port number (1–65535), got "${value}"`);
  return port;
}

/**
 * What to do about a console error of a domain command, by the console's code (never its text):
 * the generic hints of cli/errors.ts point at `form pack status`, which does not help here.
 */
export function domainError(error: unknown, opts: { domain: string; verb: TDomainVerb }): unknown {
  if (!(error instanceof CliError) || error.appCode === null) return error;
  const { domain, verb } = opts;
  const hints: Partial<Record<TAppErrorCode, string>> = {
    CONFLICT: `a domain belongs to the first account that verifies it — use a domain you control, or have the account that verified it run \`form domain rm ${domain}\``,
    NOT_FOUND:
      verb === "add"
        ? "the deployment must be yours — pass --build-id of a build you shipped (see `form pack status`)"
        : `list your domains with \`form domain ls\`; claim one with \`form domain add ${domain} --build-id <your build>\``,
    BAD_REQUEST: "pass a DNS name such as shop.example.com that is not under the console's apps domain",
    PRECONDITION_FAILED: `set one of the proofs (\`form domain ls\` shows them), then run \`form domain verify ${domain}\` again`,
  };
  const hint = hints[error.appCode];
  if (hint === undefined) return error;
  // The console's own sentence, without the generic hint toCliError appended.
  const said = error.cause instanceof Error ? error.cause.message : error.message;
  return new CliError(error.kind, `${said} — ${hint}`, { cause: error.cause, appCode: error.appCode });
}

async function call<T>(
  session: TSession,
  what: { domain: string; verb: TDomainVerb },
  fn: (api: TApiClient) => Promise<T>,
): Promise<T> {
  try {
    return await session.call(fn);
  } catch (error) {
    throw domainError(error, what);
  }
}

/** The proofs of control a pending domain needs: either one. */
export function renderProof(d: Pick<TDomain, "domain" | "proof">): string {
  return [
    "prove you control it with either:",
    `  DNS   TXT record  ${d.proof.dnsName}`,
    `                    value "${d.proof.dnsValue}"`,
    `  HTTP  ${d.proof.httpUrl}`,
    `        answered by the domain's current web server with the body: ${d.proof.httpBody}`,
    `then run: form domain verify ${d.domain}`,
  ].join("\n");
}

/** One domain as `form domain ls` shows it. */
export function renderDomain(d: TDomain): string {
  const cert = d.certificate
    ? `certificate until ${d.certificate.notAfter.toISOString().slice(0, 10)} (${d.certificate.issuer})`
    : d.status === "verified"
      ? "no certificate yet"
      : null;
  const head = [
    d.domain,
    d.status,
    `deployment ${d.deploymentId}${d.port === null ? "" : ` port ${d.port}`}`,
    ...(cert ? [cert] : []),
    ...(d.url ? [d.url] : []),
  ].join("  ");
  const lines = [head];
  if (d.lastError) lines.push(`    last error: ${d.lastError}`);
  if (d.status === "pending")
    lines.push(
      ...renderProof(d)
        .split("\n")
        .map((l) => `    ${l}`),
    );
  return lines.join("\n");
}

async function deploymentOfBuild(
  session: TSession,
  buildId: string,
  what: { domain: string; verb: TDomainVerb },
): Promise<string> {
  const deployment = await call(session, what, (api) => api.deployments.forBuild.query({ buildId }));
  if (!deployment)
    throw new CliError(
      "user",
      `build ${buildId.slice(0, 12)} has no deployment of yours — ship it first (\`form pack ship --build-id ${buildId}\`), or pass the id of a build you shipped`,
    );
  return deployment.deploymentId;
}

async function add(out: Output, name: string, opts: TDomainOptions): Promise<void> {
  const domain = requireDomain(name);
  const buildId = requireBuildId(opts.buildId);
  const port = parsePort(opts.port);
  const session = await openSession(opts);
  const deploymentId = await deploymentOfBuild(session, buildId, { domain, verb: "add" });
  const params = { domain, deploymentId, ...(port === undefined ? {} : { port }) };
  const added = await call(session, { domain, verb: "add" }, async (api) =>
    api.ingress.addDomain.mutate(await session.sign("domain.add", params)),
  );
  out.result(
    added,
    added.status === "verified"
      ? `${added.domain} is verified and routes to deployment ${added.deploymentId}${added.url ? ` — ${added.url}` : ""}`
      : [
          `claimed ${added.domain} for deployment ${added.deploymentId} (pending)`,
          renderProof(added),
          "Point the domain's DNS at the console's edge once it is verified; HTTPS follows when the console obtains a certificate.",
        ].join("\n"),
  );
}

async function verify(out: Output, name: string, opts: TDomainOptions): Promise<void> {
  const domain = requireDomain(name);
  const session = await openSession(opts);
  out.progress(`checking the proofs of ${domain}…`);
  const verified = await call(session, { domain, verb: "verify" }, async (api) =>
    api.ingress.verifyDomain.mutate(await session.sign("domain.verify", { domain })),
  );
  out.result(
    verified,
    [
      `${verified.domain} is verified and routes to deployment ${verified.deploymentId}`,
      `  url          ${verified.url ?? "—"}`,
      `  certificate  ${verified.certificate ? `until ${verified.certificate.notAfter.toISOString().slice(0, 10)}` : "none yet — issued automatically when the console has ACME configured (`form domain ls` shows it)"}`,
    ].join("\n"),
  );
}

async function list(out: Output, opts: TDomainOptions): Promise<void> {
  const buildId = opts.buildId === undefined ? undefined : requireBuildId(opts.buildId);
  const session = await openSession(opts);
  const deploymentId =
    buildId === undefined
      ? undefined
      : await deploymentOfBuild(session, buildId, { domain: "<domain>", verb: "add" });
  const domains = await session.call((api) =>
    api.ingress.domains.query(deploymentId === undefined ? {} : { deploymentId }),
  );
  out.result(
    domains,
    domains.length === 0
      ? "no custom domains — claim one with `form domain add <domain> --build-id <build>`"
      : domains.map(renderDomain).join("\n"),
  );
}

async function remove(out: Output, name: string, opts: TDomainOptions): Promise<void> {
  const domain = requireDomain(name);
  const session = await openSession(opts);
  const removed = await call(session, { domain, verb: "rm" }, async (api) =>
    api.ingress.removeDomain.mutate(await session.sign("domain.remove", { domain })),
  );
  out.result(removed, `removed ${removed.domain} (the edge no longer routes it; its certificate is deleted)`);
}

/** Adds add, verify, ls and rm to the `domain` command group. */
export function registerDomain(group: Command): void {
  const addCommand = group
    .command("add")
    .description("claim a custom domain for a build's deployment and print how to prove you control it")
    .argument("<domain>", "the domain name, e.g. shop.example.com")
    .option("--build-id <id>", "a build of the deployment (the domain follows the deployment's later builds)")
    .option("--port <port>", "the EXPOSEd port to serve (default: the first one)");
  withCommonOptions(addCommand)
    .addHelpText("after", "\nExample:\n  $ form domain add shop.example.com --build-id 3f9c…e1 --port 8080")
    .action(runAction(async (out, domain: string, opts: TDomainOptions) => add(out, domain, opts)));

  const verifyCommand = group
    .command("verify")
    .description("check the DNS TXT or HTTP proof; once verified the edge serves the domain")
    .argument("<domain>", "a domain you claimed with `form domain add`");
  withCommonOptions(verifyCommand)
    .addHelpText("after", "\nExample:\n  $ form domain verify shop.example.com")
    .action(runAction(async (out, domain: string, opts: TDomainOptions) => verify(out, domain, opts)));

  const lsCommand = group
    .command("ls")
    .alias("list")
    .description("list your custom domains: status, proofs, certificate expiry, last error")
    .option("--build-id <id>", "only the domains of this build's deployment");
  withCommonOptions(lsCommand)
    .addHelpText("after", "\nExample:\n  $ form domain ls --json")
    .action(runAction(async (out, opts: TDomainOptions) => list(out, opts)));

  const rmCommand = group
    .command("rm")
    .alias("remove")
    .description("drop your claim of a domain (and its certificate)")
    .argument("<domain>", "the domain to remove");
  withCommonOptions(rmCommand)
    .addHelpText("after", "\nExample:\n  $ form domain rm shop.example.com")
    .action(runAction(async (out, domain: string, opts: TDomainOptions) => remove(out, domain, opts)));
}
