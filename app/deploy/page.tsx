"use client";
import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "next/navigation";
import { Suspense, useEffect, useMemo, useState } from "react";
import type { TDiagnostic } from "@/lib/formfile/diagnostics";
import { parseFormfile } from "@/lib/formfile/parse";
import { checkPolicy, DEVNET_POLICY } from "@/lib/formfile/policy";
import { ReplicasInput } from "../_components/replicas-input";
import { SessionGate } from "../_components/session-gate";
import { buttonClass, Card, ListSkeleton, PageHeader } from "../_components/ui";
import { normalisePath } from "../_lib/context-pack";
import { useTRPC } from "../_lib/trpc";
import { capacityWarning, suggestedReplicas, useCapacity } from "../_lib/use-capacity";
import { actionErrorMessage } from "../_lib/use-signed-action";
import { copyDiagnostics, type TContextPaths } from "./_components/context-checks";
import { ContextDrop, type TContextSource } from "./_components/context-drop";
import { FormfileEditor } from "./_components/formfile-editor";
import { ResourcesSummary } from "./_components/resources-summary";
import { type TSubmitStage, useSubmitBuild } from "./_components/use-submit-build";

const SAMPLE = `# A small Debian VM you can SSH into over formnet.
NAME hello-formation
DESCRIPTION "My first Formation instance"

USER username:dev passwd:change-me sudo:true

VCPU 1
MEM 1024
DISK 5

RUN echo "hello from Formation" > /etc/motd
`;

const STAGE_LABEL: Record<TSubmitStage, string> = {
  idle: "Sign & build",
  packing: "Packing context…",
  uploading: "Uploading context…",
  signing: "Confirm in your wallet…",
  submitting: "Submitting…",
};

// Passwords are hashed only at submit time: SHA-512 crypt on every keystroke would make typing lag.
const noHash = () => "";

function contextPaths(source: TContextSource): TContextPaths {
  if (source.kind === "none") return { kind: "formfile-only" };
  if (source.kind === "tarball") return { kind: "paths", label: source.label, paths: source.paths };
  const paths: string[] = [];
  for (const f of source.files) {
    try {
      paths.push(normalisePath(f.path));
    } catch {
      // A path climbing out of the context is refused when packing.
    }
  }
  return { kind: "paths", label: source.label, paths };
}

/** The verdict next to the editor: errors first, then the network's limits, then warnings. */
function statusText(opts: { errors: number; violations: number; warnings: number }): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (opts.errors > 0) return plural(opts.errors, "error");
  if (opts.violations > 0) return `exceeds the ${DEVNET_POLICY.name} limits`;
  if (opts.warnings > 0) return `✓ valid · ${plural(opts.warnings, "warning")}`;
  return "✓ valid";
}

/** Loads the Formfile of `?from=<build id>` ("deploy again") into the editor once. */
function useFormfileFrom(onText: (text: string) => void): { loading: boolean; problem: string | null } {
  const trpc = useTRPC();
  const from = useSearchParams().get("from");
  const valid = from !== null && /^[0-9a-f]{64}$/.test(from);
  const source = useQuery(
    trpc.builds.formfileSource.queryOptions({ buildId: from ?? "" }, { enabled: valid }),
  );
  const [applied, setApplied] = useState(false);
  useEffect(() => {
    if (applied || !source.data?.text) return;
    setApplied(true);
    onText(source.data.text);
  }, [applied, source.data, onText]);
  if (from === null) return { loading: false, problem: null };
  if (!valid)
    return { loading: false, problem: `"${from.slice(0, 70)}" is not a build id: starting from the sample.` };
  if (source.isLoading) return { loading: true, problem: null };
  if (source.error)
    return { loading: false, problem: `Could not open that build's Formfile: ${source.error.message}` };
  return {
    loading: false,
    problem: source.data?.text
      ? null
      : "That build's Formfile could not be read back from its context; paste it here.",
  };
}

function DeployForm() {
  const [text, setText] = useState(SAMPLE);
  const [source, setSource] = useState<TContextSource>({ kind: "none" });
  const [replicas, setReplicas] = useState<number | null>(null);
  const [autoShip, setAutoShip] = useState(true);
  const [stage, setStage] = useState<TSubmitStage>("idle");
  const submit = useSubmitBuild(setStage);
  const from = useFormfileFrom(setText);

  const result = useMemo(() => parseFormfile(text, { hashPassword: noHash }), [text]);
  const violations = useMemo(() => (result.ok ? checkPolicy(result, DEVNET_POLICY) : []), [result]);
  const contextErrors = useMemo(
    () => (result.ok ? copyDiagnostics(result.formfile, contextPaths(source)) : []),
    [result, source],
  );
  const errors: TDiagnostic[] = result.ok ? contextErrors : result.errors;
  const warnings = result.ok ? result.warnings : [];
  const resources = result.ok ? result.formfile.resources : null;
  const capacity = useCapacity(
    resources ? { vcpu: resources.vcpu, memoryMb: resources.memoryMb, diskGb: resources.diskGb } : null,
  );
  // The console's default of 3, but not more than the network can place now (until the user picks).
  const shownReplicas = replicas ?? suggestedReplicas(capacity.data?.fitting);
  const warning =
    resources && capacity.data
      ? capacityWarning({ resources, replicas: shownReplicas, capacity: capacity.data })
      : null;
  const canSubmit = result.ok && errors.length === 0 && violations.length === 0 && stage === "idle";

  return (
    <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem]">
      <div className="min-w-0 space-y-4">
        <Card
          title="Formfile"
          actions={
            <span className="text-xs" data-testid="formfile-status">
              <span
                className={
                  errors.length > 0 || violations.length > 0
                    ? "text-red-700 dark:text-red-400"
                    : warnings.length > 0
                      ? "text-amber-700 dark:text-amber-400"
                      : "text-emerald-700 dark:text-emerald-400"
                }
              >
                {statusText({
                  errors: errors.length,
                  violations: violations.length,
                  warnings: warnings.length,
                })}
              </span>
            </span>
          }
        >
          {from.loading ? (
            <ListSkeleton rows={4} />
          ) : (
            <FormfileEditor value={text} onChange={setText} errors={errors} warnings={warnings} />
          )}
          {from.problem ? (
            <p role="status" className="mt-2 text-sm text-amber-800 dark:text-amber-300">
              {from.problem}
            </p>
          ) : null}
        </Card>
        <ContextDrop source={source} onSource={setSource} onFormfileText={setText} />
      </div>
      <div className="space-y-4">
        <Card title="Resources">
          <ResourcesSummary formfile={result.ok ? result.formfile : null} violations={violations} />
        </Card>
        <Card title="Ship">
          <ReplicasInput
            value={shownReplicas}
            onChange={setReplicas}
            testId="replicas-input"
            labelClassName="block"
            inputClassName="mt-1 block w-24"
          />
          <p className="mt-1 text-xs text-slate-600 dark:text-slate-400">
            Placed on distinct healthy nodes with room;{" "}
            {capacity.data
              ? `${capacity.data.fitting} of ${capacity.data.healthy} online node${capacity.data.healthy === 1 ? "" : "s"} can host one now.`
              : "the rest wait until nodes join or free up."}
          </p>
          {warning ? (
            <p
              role="status"
              data-testid="capacity-warning"
              className="mt-2 rounded-md border border-amber-200 bg-amber-50 px-2 py-1.5 text-xs text-amber-900 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-200"
            >
              {warning}
            </p>
          ) : null}
          <label className="mt-3 flex items-center gap-2 text-sm">
            <input type="checkbox" checked={autoShip} onChange={(e) => setAutoShip(e.target.checked)} />
            Ship when the build succeeds
          </label>
          <button
            type="button"
            data-testid="submit-build"
            className={`${buttonClass.primary} mt-4 w-full`}
            disabled={!canSubmit}
            onClick={() => submit.mutate({ text, source, replicas: shownReplicas, autoShip })}
          >
            {STAGE_LABEL[stage]}
          </button>
          {submit.error ? (
            <p
              role="alert"
              className="mt-2 text-sm text-red-600 dark:text-red-400"
              data-testid="submit-error"
            >
              {actionErrorMessage(submit.error)}
            </p>
          ) : null}
          <p className="mt-3 text-xs text-slate-600 dark:text-slate-400">
            Your wallet signs the Formfile and the context&apos;s SHA-256 (EIP-712), valid for two minutes.
          </p>
        </Card>
      </div>
    </div>
  );
}

export default function DeployPage() {
  return (
    <>
      <PageHeader
        title="New deployment"
        description="Write a Formfile, attach your project, sign, and watch it build."
      />
      <SessionGate what="deployments">
        <Suspense fallback={<ListSkeleton rows={6} />}>
          <DeployForm />
        </Suspense>
      </SessionGate>
    </>
  );
}
