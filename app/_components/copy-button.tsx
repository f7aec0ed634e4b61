"use client";
import { useState } from "react";

/**
 * A small button that copies `value` (an id, key, IP or command) to the clipboard and says so.
 * `label` names what is copied, for screen readers and the tooltip ("Copy build id").
 */
export function CopyButton({ value, label, testId }: { value: string; label: string; testId?: string }) {
  const [copied, setCopied] = useState<"yes" | "failed" | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied("yes");
    } catch {
      // Clipboard refused (insecure origin, permissions): the value stays selectable on the page.
      setCopied("failed");
    }
    setTimeout(() => setCopied(null), 1500);
  };
  return (
    <button
      type="button"
      onClick={() => void copy()}
      title={copied === "failed" ? "Copy failed: select the text instead" : label}
      aria-label={label}
      data-testid={testId}
      className="inline-flex shrink-0 items-center rounded px-1.5 py-0.5 text-xs text-slate-600 hover:bg-slate-100 hover:text-slate-900 dark:text-slate-400 dark:hover:bg-slate-800 dark:hover:text-slate-100"
    >
      {copied === "yes" ? "Copied" : copied === "failed" ? "Copy failed" : "Copy"}
      <span className="sr-only" aria-live="polite">
        {copied === "yes" ? `${label}: copied` : ""}
      </span>
    </button>
  );
}

/** A monospace value that may be long (ids, digests): wraps on phones, with a copy button. */
export function CopyValue({
  value,
  label,
  display,
  testId,
}: {
  value: string;
  label: string;
  display?: string;
  testId?: string;
}) {
  return (
    <span className="inline-flex max-w-full items-center gap-1">
      <span className="min-w-0 break-all font-mono text-xs" title={value} data-testid={testId}>
        {display ?? value}
      </span>
      <CopyButton value={value} label={label} />
    </span>
  );
}
