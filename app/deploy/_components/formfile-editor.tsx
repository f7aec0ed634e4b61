"use client";
import { useRef } from "react";
import type { TDiagnostic } from "@/lib/formfile/diagnostics";

/**
 * A plain textarea with a line-number gutter and the parser's diagnostics underneath. Errors are
 * the same `line:column: message — hint` the CLI prints, and clicking one moves the caret there.
 */
export function FormfileEditor(props: {
  value: string;
  onChange: (text: string) => void;
  errors: TDiagnostic[];
  warnings: TDiagnostic[];
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const lines = props.value.split("\n").length;
  const errorLines = new Set(props.errors.map((e) => e.line));

  const jumpTo = (d: TDiagnostic) => {
    const el = area.current;
    if (!el || d.line < 1) return;
    const offsets = props.value.split("\n").slice(0, d.line - 1);
    const pos = offsets.reduce((n, l) => n + l.length + 1, 0) + Math.max(0, d.column - 1);
    el.focus();
    el.setSelectionRange(pos, pos);
  };

  return (
    <div>
      <div className="flex overflow-hidden rounded-lg border border-slate-300 bg-white font-mono text-[13px] leading-5 focus-within:ring-2 focus-within:ring-sky-500 dark:border-slate-700 dark:bg-slate-950">
        <div
          ref={gutter}
          aria-hidden="true"
          className="select-none overflow-hidden border-r border-slate-200 bg-slate-50 px-2 py-2 text-right text-slate-500 dark:border-slate-800 dark:bg-slate-900 dark:text-slate-400"
        >
          {Array.from({ length: lines }, (_, i) => i + 1).map((n) => (
            <div key={n} className={errorLines.has(n) ? "font-semibold text-red-600 dark:text-red-400" : ""}>
              {n}
            </div>
          ))}
        </div>
        <textarea
          ref={area}
          data-testid="formfile-editor"
          aria-label="Formfile"
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          wrap="off"
          value={props.value}
          onChange={(e) => props.onChange(e.target.value)}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
          }}
          rows={Math.min(28, Math.max(14, lines + 1))}
          className="min-w-0 flex-1 resize-y bg-transparent px-3 py-2 outline-none"
        />
      </div>
      <ul className="mt-2 space-y-1 text-sm" data-testid="formfile-diagnostics" aria-live="polite">
        {props.errors.map((d) => (
          <li key={`e${d.line}:${d.column}:${d.message}`} data-testid="formfile-error">
            <button
              type="button"
              onClick={() => jumpTo(d)}
              className="text-left text-red-700 hover:underline dark:text-red-400"
            >
              <span className="font-mono font-semibold">
                {d.line > 0 ? `${d.line}:${d.column}` : "Formfile"}
              </span>{" "}
              {d.message}
              {d.hint ? <span className="text-red-600/80 dark:text-red-300/80"> — {d.hint}</span> : null}
            </button>
          </li>
        ))}
        {props.warnings.map((d) => (
          <li
            key={`w${d.line}:${d.column}:${d.message}`}
            data-testid="formfile-warning"
            className="text-amber-700 dark:text-amber-400"
          >
            <span className="font-mono font-semibold">
              {d.line > 0 ? `${d.line}:${d.column}` : "Formfile"}
            </span>{" "}
            {d.message}
            {d.hint ? ` — ${d.hint}` : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
