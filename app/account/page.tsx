"use client";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { SessionGate } from "../_components/session-gate";
import {
  Badge,
  buttonClass,
  Card,
  EmptyState,
  ErrorState,
  ListSkeleton,
  Mono,
  PageHeader,
} from "../_components/ui";
import { useSession } from "../_components/wallet-session";
import { formatAgo, shortId } from "../_lib/format";
import { useTRPC } from "../_lib/trpc";

type TVerdict = { valid: boolean; reason: string | null } | { error: string };

function VerifyButton({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [verdict, setVerdict] = useState<TVerdict | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try {
      // Always re-run on the server: a cached "valid" would defeat the point of checking.
      const result = await queryClient.fetchQuery({
        ...trpc.account.verifyAudit.queryOptions({ id }),
        staleTime: 0,
      });
      setVerdict(result);
    } catch (cause) {
      setVerdict({ error: cause instanceof Error ? cause.message : String(cause) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="inline-flex items-center gap-2">
      <button
        type="button"
        className={buttonClass.secondary}
        disabled={busy}
        onClick={() => void run()}
        data-testid="verify-audit"
      >
        {busy ? "Verifying…" : "Verify"}
      </button>
      {verdict === null ? null : "error" in verdict ? (
        <span className="text-xs text-red-600">{verdict.error}</span>
      ) : verdict.valid ? (
        <Badge tone="green" testId="audit-verdict">
          signature valid
        </Badge>
      ) : (
        <span title={verdict.reason ?? undefined}>
          <Badge tone="red" testId="audit-verdict">
            invalid: {verdict.reason}
          </Badge>
        </span>
      )}
    </span>
  );
}

function Audit() {
  const trpc = useTRPC();
  const session = useSession();
  const audit = useQuery(trpc.account.audit.queryOptions({ limit: 100 }));
  return (
    <div className="space-y-6">
      <Card title="Wallet">
        <p className="text-sm">
          Signed in as <Mono>{session.data?.address}</Mono>
          {session.data?.isAdmin ? (
            <span className="ml-2">
              <Badge tone="blue">admin</Badge>
            </span>
          ) : null}
        </p>
      </Card>
      <Card title="Signed actions">
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
          Every change you made was signed by your wallet and kept with its signature. Verify re-checks an
          entry&apos;s EIP-712 signature on the server.
        </p>
        {audit.isLoading ? (
          <ListSkeleton />
        ) : audit.error ? (
          <ErrorState error={audit.error} what="your audit log" />
        ) : !audit.data?.entries.length ? (
          <EmptyState title="No signed actions yet">
            Builds, ships and instance actions you sign show up here.
          </EmptyState>
        ) : (
          <ul className="divide-y divide-slate-200 dark:divide-slate-800" data-testid="audit-list">
            {audit.data.entries.map((e) => (
              <li
                key={e.id}
                className="flex flex-wrap items-center justify-between gap-3 py-3"
                data-testid="audit-entry"
              >
                <div className="min-w-0">
                  <p className="font-mono text-sm font-medium">{e.action}</p>
                  <p className="text-xs text-slate-500">
                    {formatAgo(e.createdAt)} · nonce {shortId(e.nonce, 8)} · chain {e.chainId} · {e.origin}
                  </p>
                  <p className="truncate font-mono text-xs text-slate-500" title={JSON.stringify(e.params)}>
                    {summarise(e.params)}
                  </p>
                </div>
                <VerifyButton id={e.id} />
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}

/** One line of the interesting params (ids), not the whole Formfile. */
function summarise(params: unknown): string {
  if (!params || typeof params !== "object") return "";
  // Inline build contexts are long base64 blobs: the digest beside them identifies them already.
  const entries = Object.entries(params as Record<string, unknown>).filter(
    ([k, v]) => (typeof v === "string" || typeof v === "number") && !k.endsWith("Base64"),
  );
  return entries.map(([k, v]) => `${k}=${typeof v === "string" ? shortId(v, 16) : v}`).join(" ");
}

export default function AccountPage() {
  return (
    <>
      <PageHeader title="Account" description="Your wallet and the audit log of what it signed." />
      <SessionGate what="account and audit log">
        <Audit />
      </SessionGate>
    </>
  );
}
