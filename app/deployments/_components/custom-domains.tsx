"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import { type FormEvent, useState } from "react";
import type { AppRouter } from "@/server/api/root";
import { CopyValue } from "../../_components/copy-button";
import { useToast } from "../../_components/toasts";
import { Badge, buttonClass, ErrorState, ListSkeleton } from "../../_components/ui";
import { appCodeOf } from "../../_lib/errors";
import { formatAgo } from "../../_lib/format";
import { useTRPC, useTRPCClient } from "../../_lib/trpc";
import { actionErrorMessage, useSignedAction } from "../../_lib/use-signed-action";

type TDomain = inferRouterOutputs<AppRouter>["ingress"]["domains"][number];

/** What to do about a refused claim or proof, by the console's code (never its wording). */
function domainAdvice(error: unknown): string | null {
  switch (appCodeOf(error)) {
    case "CONFLICT":
      return "A domain belongs to the first account that verifies it. Use a domain you control, or remove it from the account that verified it.";
    case "BAD_REQUEST":
      return "Enter a DNS name such as shop.example.com — no https://, port or path.";
    case "PRECONDITION_FAILED":
      return "Set one of the two proofs shown for the domain, wait for DNS to update, then verify again.";
    default:
      return null;
  }
}

/** Signed add / verify / remove of the deployment's custom domains (EIP-712 `domain.*`). */
function useDomainActions(deploymentId: string) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const sign = useSignedAction();
  const toast = useToast();
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.ingress.domains.pathKey() });
  const add = useMutation({
    mutationFn: async (opts: { domain: string; port: number | undefined }) => {
      const params = { domain: opts.domain, deploymentId, ...(opts.port ? { port: opts.port } : {}) };
      return client.ingress.addDomain.mutate(await sign({ action: "domain.add", params }));
    },
    onSuccess: (d) =>
      toast({
        tone: "success",
        title: `${d.domain} claimed`,
        body: "Set one of the proofs shown, then verify.",
      }),
    onSettled: refresh,
  });
  const verify = useMutation({
    mutationFn: async (domain: string) =>
      client.ingress.verifyDomain.mutate(await sign({ action: "domain.verify", params: { domain } })),
    onSuccess: (d) => toast({ tone: "success", title: `${d.domain} verified`, body: d.url ?? undefined }),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: async (domain: string) => {
      if (!window.confirm(`Remove ${domain}? The edge stops serving it and its certificate is deleted.`))
        return null;
      return client.ingress.removeDomain.mutate(await sign({ action: "domain.remove", params: { domain } }));
    },
    onSuccess: (r) => {
      if (r) toast({ tone: "success", title: `${r.domain} removed` });
    },
    onSettled: refresh,
  });
  return { add, verify, remove };
}

function DomainProof({ d }: { d: TDomain }) {
  return (
    <div
      className="mt-2 space-y-2 rounded-md bg-slate-50 p-3 text-sm dark:bg-slate-900"
      data-testid="domain-proof"
    >
      <p className="text-slate-700 dark:text-slate-300">Prove you control {d.domain} with either:</p>
      <dl className="grid grid-cols-1 gap-x-4 gap-y-1 sm:grid-cols-[10rem_1fr]">
        <dt className="text-slate-700 dark:text-slate-300">DNS TXT record</dt>
        <dd>
          <CopyValue value={d.proof.dnsName} label={`Copy the TXT record name of ${d.domain}`} />
        </dd>
        <dt className="text-slate-700 dark:text-slate-300">with the value</dt>
        <dd>
          <CopyValue
            value={d.proof.dnsValue}
            label={`Copy the TXT record value of ${d.domain}`}
            testId="domain-proof-txt"
          />
        </dd>
        <dt className="text-slate-700 dark:text-slate-300">or HTTP: serve</dt>
        <dd>
          <CopyValue
            value={d.proof.httpUrl}
            label={`Copy the HTTP proof URL of ${d.domain}`}
            testId="domain-proof-http"
          />
        </dd>
        <dt className="text-slate-700 dark:text-slate-300">with the body</dt>
        <dd>
          <CopyValue value={d.proof.httpBody} label={`Copy the HTTP proof body of ${d.domain}`} />
        </dd>
      </dl>
      <p className="text-xs text-slate-600 dark:text-slate-400">
        The HTTP answer must come from the domain's current web server (port 80), not from this console.
      </p>
    </div>
  );
}

function DomainRow(props: {
  d: TDomain;
  busy: boolean;
  onVerify: (domain: string) => void;
  onRemove: (domain: string) => void;
}) {
  const { d } = props;
  return (
    <li className="py-3" data-testid="domain-row">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <span className="font-mono text-sm">{d.domain}</span>
        <Badge tone={d.status === "verified" ? "green" : "amber"} testId="domain-status">
          {d.status}
        </Badge>
        {d.port !== null ? (
          <span className="text-xs text-slate-600 dark:text-slate-400">port {d.port}</span>
        ) : null}
        {d.url ? (
          <a href={d.url} className="text-sm text-sky-700 hover:underline dark:text-sky-400">
            {d.url}
          </a>
        ) : null}
        <span className="ml-auto flex gap-2">
          {d.status === "pending" ? (
            <button
              type="button"
              className={buttonClass.secondary}
              disabled={props.busy}
              onClick={() => props.onVerify(d.domain)}
            >
              Verify<span className="sr-only"> {d.domain}</span>
            </button>
          ) : null}
          <button
            type="button"
            className={buttonClass.danger}
            disabled={props.busy}
            onClick={() => props.onRemove(d.domain)}
          >
            Remove<span className="sr-only"> {d.domain}</span>
          </button>
        </span>
      </div>
      <p className="mt-1 text-xs text-slate-600 dark:text-slate-400">
        {d.status === "verified"
          ? d.certificate
            ? `Verified ${formatAgo(d.verifiedAt)} · certificate until ${d.certificate.notAfter.toLocaleDateString()} (${d.certificate.issuer})`
            : `Verified ${formatAgo(d.verifiedAt)} · no certificate yet (served over plain HTTP until one is issued)`
          : "Pending: not served until verified."}
      </p>
      {d.lastError ? (
        <p className="mt-1 text-xs text-red-700 dark:text-red-300" data-testid="domain-last-error">
          Last error: {d.lastError}
        </p>
      ) : null}
      {d.status === "pending" ? <DomainProof d={d} /> : null}
    </li>
  );
}

/**
 * The deployment's custom domains (docs/ingress.md, "Custom domains"): each with its status,
 * certificate and last error, the proofs a pending one needs, and signed add / verify / remove.
 */
export function CustomDomains(props: { deploymentId: string; exposedPorts: readonly number[] }) {
  const trpc = useTRPC();
  const q = useQuery(
    trpc.ingress.domains.queryOptions({ deploymentId: props.deploymentId }, { refetchInterval: 10_000 }),
  );
  const actions = useDomainActions(props.deploymentId);
  const [domain, setDomain] = useState("");
  const [port, setPort] = useState<number | undefined>(undefined);
  const busy = actions.add.isPending || actions.verify.isPending || actions.remove.isPending;
  const error = actions.add.error ?? actions.verify.error ?? actions.remove.error;
  // One message at a time: a new action clears what the previous one said.
  const clearErrors = () => {
    actions.add.reset();
    actions.verify.reset();
    actions.remove.reset();
  };

  if (q.isLoading) return <ListSkeleton rows={2} />;
  if (appCodeOf(q.error) === "PRECONDITION_FAILED")
    return (
      <p className="text-sm text-slate-600 dark:text-slate-400">
        This console runs without the ingress edge.
      </p>
    );
  if (q.error) return <ErrorState error={q.error} what="the custom domains" />;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const name = domain.trim();
    if (!name) return;
    clearErrors();
    actions.add.mutate({ domain: name, port }, { onSuccess: () => setDomain("") });
  };
  const domains = q.data ?? [];
  return (
    <div className="space-y-4" data-testid="custom-domains">
      {domains.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">
          No custom domain yet. Add one you own; once you prove control, the edge serves this deployment there
          (point the domain's DNS at the edge), with a certificate when the console has ACME.
        </p>
      ) : (
        <ul className="divide-y divide-slate-200 dark:divide-slate-800">
          {domains.map((d) => (
            <DomainRow
              key={d.domain}
              d={d}
              busy={busy}
              onVerify={(name) => {
                clearErrors();
                actions.verify.mutate(name);
              }}
              onRemove={(name) => {
                clearErrors();
                actions.remove.mutate(name);
              }}
            />
          ))}
        </ul>
      )}
      <form className="flex flex-wrap items-end gap-2" onSubmit={submit}>
        <label className="flex flex-col gap-1 text-sm">
          Domain
          <input
            type="text"
            name="domain"
            value={domain}
            onChange={(e) => setDomain(e.target.value)}
            placeholder="shop.example.com"
            autoComplete="off"
            spellCheck={false}
            required
            data-testid="domain-input"
            className="w-64 rounded-md border border-slate-300 bg-transparent px-2 py-1 font-mono placeholder:text-slate-500 dark:border-slate-700"
          />
        </label>
        {props.exposedPorts.length > 1 ? (
          <label className="flex flex-col gap-1 text-sm">
            Port
            <select
              value={port ?? ""}
              onChange={(e) => setPort(e.target.value ? Number(e.target.value) : undefined)}
              className="rounded-md border border-slate-300 bg-transparent px-2 py-1.5 dark:border-slate-700"
            >
              <option value="">{props.exposedPorts[0]} (first EXPOSEd)</option>
              {props.exposedPorts.slice(1).map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <button type="submit" className={buttonClass.primary} disabled={busy} data-testid="add-domain">
          Add domain
        </button>
      </form>
      {busy ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">
          Confirm in your wallet, then the console checks…
        </p>
      ) : null}
      {error ? (
        <div role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="domain-error">
          <p>{actionErrorMessage(error)}</p>
          {domainAdvice(error) ? <p className="mt-1">{domainAdvice(error)}</p> : null}
        </div>
      ) : null}
    </div>
  );
}
