import type { TFormfile } from "@/lib/formfile/canonical";
import type { TDiagnostic } from "@/lib/formfile/diagnostics";
import { DEVNET_POLICY } from "@/lib/formfile/policy";

/** VCPU / MEM / DISK of the parsed Formfile against the network's limits. */
export function ResourcesSummary({
  formfile,
  violations,
}: {
  formfile: TFormfile | null;
  violations: TDiagnostic[];
}) {
  const r = formfile?.resources;
  const rows = [
    { label: "vCPU", value: r?.vcpu, max: DEVNET_POLICY.vcpu.max, unit: "" },
    { label: "Memory", value: r?.memoryMb, max: DEVNET_POLICY.memoryMb.max, unit: " MB" },
    { label: "Disk", value: r?.diskGb, max: DEVNET_POLICY.diskGb.max, unit: " GB" },
  ];
  return (
    <div data-testid="resources-summary">
      <dl className="grid grid-cols-3 gap-2 text-center">
        {rows.map((row) => (
          <div
            key={row.label}
            className={`rounded-md border px-2 py-2 ${
              row.value !== undefined && row.value > row.max
                ? "border-red-300 dark:border-red-900"
                : "border-slate-200 dark:border-slate-800"
            }`}
          >
            <dt className="text-xs text-slate-500">{row.label}</dt>
            <dd className="whitespace-nowrap text-base font-semibold tabular-nums">
              {row.value === undefined ? "—" : `${row.value}${row.unit}`}
            </dd>
            <dd className="text-[11px] text-slate-500">
              ≤ {row.max}
              {row.unit}
            </dd>
          </div>
        ))}
      </dl>
      {formfile?.resources.gpu ? (
        <p className="mt-2 text-sm">
          GPU: {formfile.resources.gpu.model} × {formfile.resources.gpu.count}
        </p>
      ) : null}
      <p className="mt-2 text-xs text-slate-500">Limits of the {DEVNET_POLICY.name} network policy.</p>
      {violations.length > 0 ? (
        <ul className="mt-2 space-y-1 text-sm text-red-700 dark:text-red-400" data-testid="policy-violations">
          {violations.map((v) => (
            <li key={v.message}>
              {v.line > 0 ? (
                <span className="font-mono font-semibold">{`${v.line}:${v.column} `}</span>
              ) : null}
              {v.message}
              {v.hint ? ` — ${v.hint}` : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
