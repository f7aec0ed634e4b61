"use client";
import { useMemo, useState } from "react";
import { parseFormfile } from "@/lib/formfile/parse";
import { checkPolicy, DEVNET_POLICY } from "@/lib/formfile/policy";
import { ReplicasInput } from "../_components/replicas-input";
import { SessionGate } from "../_components/session-gate";
import { buttonClass, Card, PageHeader } from "../_components/ui";
import { actionErrorMessage } from "../_lib/use-signed-action";
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

function DeployForm() {
  const [text, setText] = useState(SAMPLE);
  const [source, setSource] = useState<TContextSource>({ kind: "none" });
  const [replicas, setReplicas] = useState(3);
  const [autoShip, setAutoShip] = useState(true);
  const [stage, setStage] = useState<TSubmitStage>("idle");
  const submit = useSubmitBuild(setStage);

  const result = useMemo(() => parseFormfile(text, { hashPassword: noHash }), [text]);
  const violations = useMemo(() => (result.ok ? checkPolicy(result, DEVNET_POLICY) : []), [result]);
  const canSubmit = result.ok && violations.length === 0 && stage === "idle";

  return (
    <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem]">
      <div className="min-w-0 space-y-4">
        <Card
          title="Formfile"
          actions={
            <span className="text-xs" data-testid="formfile-status">
              {result.ok ? (
                <span className="text-emerald-600 dark:text-emerald-400">✓ valid</span>
              ) : (
                <span className="text-red-600 dark:text-red-400">
                  {result.errors.length} error{result.errors.length === 1 ? "" : "s"}
                </span>
              )}
            </span>
          }
        >
          <FormfileEditor
            value={text}
            onChange={setText}
            errors={result.ok ? [] : result.errors}
            warnings={result.ok ? result.warnings : []}
          />
        </Card>
        <ContextDrop source={source} onSource={setSource} onFormfileText={setText} />
      </div>
      <div className="space-y-4">
        <Card title="Resources">
          <ResourcesSummary formfile={result.ok ? result.formfile : null} violations={violations} />
        </Card>
        <Card title="Ship">
          <ReplicasInput
            value={replicas}
            onChange={setReplicas}
            testId="replicas-input"
            labelClassName="block"
            inputClassName="mt-1 block w-24"
          />
          <p className="mt-1 text-xs text-slate-500">
            Placed on distinct healthy nodes; fewer if the network has fewer nodes (you&apos;ll be told).
          </p>
          <label className="mt-3 flex items-center gap-2 text-sm">
            <input type="checkbox" checked={autoShip} onChange={(e) => setAutoShip(e.target.checked)} />
            Ship when the build succeeds
          </label>
          <button
            type="button"
            data-testid="submit-build"
            className={`${buttonClass.primary} mt-4 w-full`}
            disabled={!canSubmit}
            onClick={() => submit.mutate({ text, source, replicas, autoShip })}
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
          <p className="mt-3 text-xs text-slate-500">
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
        <DeployForm />
      </SessionGate>
    </>
  );
}
