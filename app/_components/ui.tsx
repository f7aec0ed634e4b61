import Link from "next/link";
import type { ReactNode } from "react";
import { appCodeOf, inputProblem } from "../_lib/errors";

/** Shared visual building blocks, so every page has the same cards, badges and empty states. */

export const buttonClass = {
  primary:
    "inline-flex items-center justify-center gap-2 rounded-md bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-700 disabled:cursor-not-allowed disabled:opacity-50",
  secondary:
    "inline-flex items-center justify-center gap-2 rounded-md border border-slate-300 px-3 py-1.5 text-sm font-medium text-slate-700 hover:bg-slate-50 disabled:cursor-not-allowed disabled:opacity-50 dark:border-slate-700 dark:text-slate-200 dark:hover:bg-slate-900",
  danger:
    "inline-flex items-center justify-center gap-2 rounded-md border border-red-300 px-3 py-1.5 text-sm font-medium text-red-700 hover:bg-red-50 disabled:cursor-not-allowed disabled:opacity-50 dark:border-red-900 dark:text-red-300 dark:hover:bg-red-950",
} as const;

export function PageHeader(props: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-6 flex flex-wrap items-end justify-between gap-3">
      <div className="min-w-0">
        <h1 className="text-2xl font-semibold tracking-tight">{props.title}</h1>
        {props.description ? (
          <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{props.description}</p>
        ) : null}
      </div>
      {props.actions ? <div className="flex flex-wrap gap-2">{props.actions}</div> : null}
    </div>
  );
}

export function Card(props: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section
      className={`rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900/40 ${props.className ?? ""}`}
    >
      {props.title || props.actions ? (
        <header className="flex items-center justify-between gap-2 border-b border-slate-200 px-4 py-2.5 dark:border-slate-800">
          <h2 className="text-sm font-semibold">{props.title}</h2>
          {props.actions}
        </header>
      ) : null}
      <div className="p-4">{props.children}</div>
    </section>
  );
}

const TONES = {
  green: "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300",
  blue: "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-300",
  amber: "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-300",
  red: "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-300",
  gray: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
} as const;
export type TTone = keyof typeof TONES;

const STATUS_TONE: Record<string, TTone> = {
  running: "green",
  online: "green",
  built: "green",
  valid: "green",
  queued: "gray",
  pending: "gray",
  claimed: "blue",
  building: "blue",
  distributing: "blue",
  booting: "blue",
  starting: "blue",
  stopping: "amber",
  stopped: "amber",
  suspended: "amber",
  cancelled: "amber",
  lost: "red",
  failed: "red",
  offline: "red",
  deleted: "gray",
  deleting: "amber",
  waiting: "amber",
};

export function Badge(props: { tone?: TTone; children: ReactNode; testId?: string }) {
  return (
    <span
      data-testid={props.testId}
      className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ${TONES[props.tone ?? "gray"]}`}
    >
      {props.children}
    </span>
  );
}

/** A status word coloured by meaning (green running, blue in progress, red failed…). */
export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <Badge tone={STATUS_TONE[status] ?? "gray"} {...(testId ? { testId } : {})}>
      {status}
    </Badge>
  );
}

export function Skeleton({ className }: { className?: string }) {
  return (
    <div className={`animate-pulse rounded bg-slate-200 dark:bg-slate-800 ${className ?? "h-4 w-full"}`} />
  );
}

/** Placeholder rows while a list loads. */
export function ListSkeleton({ rows = 3 }: { rows?: number }) {
  return (
    <div className="space-y-3" role="status" aria-busy="true" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: static placeholder rows
        <Skeleton key={i} className="h-10 w-full" />
      ))}
    </div>
  );
}

export function EmptyState(props: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-slate-300 px-6 py-10 text-center dark:border-slate-700">
      <p className="font-medium">{props.title}</p>
      {props.children ? (
        <div className="mx-auto mt-1 max-w-md text-sm text-slate-600 dark:text-slate-400">
          {props.children}
        </div>
      ) : null}
      {props.action ? <div className="mt-4">{props.action}</div> : null}
    </div>
  );
}

/** A plain "not found": what is missing, why that happens, and where to go instead. */
export function NotFoundState(props: {
  title: string;
  children?: ReactNode;
  back?: { href: string; label: string };
}) {
  return (
    <div
      data-testid="not-found"
      className="rounded-lg border border-slate-200 px-6 py-10 text-center dark:border-slate-800"
    >
      <h1 className="text-lg font-semibold">{props.title}</h1>
      <p className="mx-auto mt-2 max-w-md text-sm text-slate-600 dark:text-slate-400">
        {props.children ?? "It does not exist, was deleted, or belongs to another wallet."}
      </p>
      {props.back ? (
        <Link href={props.back.href} className={`${buttonClass.secondary} mt-4`}>
          {props.back.label}
        </Link>
      ) : null}
    </div>
  );
}

/**
 * An error that says what happened and what to do: "not found" plainly for a missing (or someone
 * else's) resource, the input problem for a bad request, and only for network or server trouble
 * the advice to check the console.
 */
export function ErrorState(props: {
  error: { message: string };
  what: string;
  back?: { href: string; label: string };
}) {
  const code = appCodeOf(props.error);
  if (code === "NOT_FOUND") {
    return (
      <NotFoundState
        title={`${capitalize(props.what)} not found`}
        {...(props.back ? { back: props.back } : {})}
      />
    );
  }
  const advice =
    code === "UNAUTHORIZED"
      ? "Your session has ended: sign in again with the wallet button at the top right."
      : code === "FORBIDDEN"
        ? "Your wallet may not see this."
        : code === "BAD_REQUEST" || code === "RESOURCE_EXHAUSTED"
          ? null
          : code === "RATE_LIMITED"
            ? "Too many requests for now; the page tries again by itself."
            : "Check that the console is running, then reload the page.";
  return (
    <div
      role="alert"
      className="rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/50 dark:text-red-200"
    >
      <p className="font-medium">Could not load {props.what}.</p>
      <p className="mt-1">{inputProblem(props.error) ?? props.error.message}</p>
      {advice ? <p className="mt-1 text-red-700/80 dark:text-red-300/80">{advice}</p> : null}
    </div>
  );
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function Stat(props: { label: string; value: ReactNode; href?: string; hint?: ReactNode }) {
  const body = (
    <>
      <div className="text-xs uppercase tracking-wide text-slate-500">{props.label}</div>
      <div className="mt-1 text-2xl font-semibold tabular-nums">{props.value}</div>
      {props.hint ? <div className="mt-0.5 text-xs text-slate-500">{props.hint}</div> : null}
    </>
  );
  const cls =
    "block rounded-lg border border-slate-200 p-4 dark:border-slate-800 dark:bg-slate-900/40" +
    (props.href ? " hover:border-sky-400 dark:hover:border-sky-700" : "");
  return props.href ? (
    <Link href={props.href} className={cls}>
      {body}
    </Link>
  ) : (
    <div className={cls}>{body}</div>
  );
}

/** Label/value pairs for detail pages. */
export function Fields({ items }: { items: Array<{ label: string; value: ReactNode }> }) {
  return (
    <dl className="grid grid-cols-1 gap-x-6 gap-y-3 text-sm sm:grid-cols-2 lg:grid-cols-3">
      {items.map((item) => (
        <div key={item.label} className="min-w-0">
          <dt className="text-xs uppercase tracking-wide text-slate-500">{item.label}</dt>
          <dd className="mt-0.5 break-words">{item.value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Mono({ children, title }: { children: ReactNode; title?: string }) {
  return (
    <span className="font-mono text-xs" title={title}>
      {children}
    </span>
  );
}

/** Horizontal usage bar (e.g. allocated vs capacity). */
export function UsageBar({ used, total, label }: { used: number; total: number; label: string }) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const tone = pct > 90 ? "bg-red-500" : pct > 70 ? "bg-amber-500" : "bg-sky-500";
  return (
    <div>
      <div className="flex justify-between text-xs text-slate-600 dark:text-slate-400">
        <span>{label}</span>
        <span className="tabular-nums">{pct}%</span>
      </div>
      <div className="mt-1 h-1.5 rounded-full bg-slate-200 dark:bg-slate-800">
        <div className={`h-1.5 rounded-full ${tone}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
