"use client";
import Link from "next/link";
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from "react";

export type TToast = {
  tone: "success" | "error" | "info";
  title: string;
  body?: string;
  href?: string;
};

type TShown = TToast & { id: number };

const ToastContext = createContext<(toast: TToast) => void>(() => undefined);

/** Shows a notification in the corner (finished and failed work, copies, signed actions). */
export function useToast(): (toast: TToast) => void {
  return useContext(ToastContext);
}

const TONE = {
  success: "border-emerald-300 dark:border-emerald-800",
  error: "border-red-300 dark:border-red-800",
  info: "border-slate-300 dark:border-slate-700",
} as const;

/** How long a toast stays; errors stay until dismissed. */
const SHOW_MS = 8000;

/** Toast region for the whole console: polite live region, newest at the bottom, dismissible. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<TShown[]>([]);
  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const show = useCallback(
    (toast: TToast) => {
      const id = Date.now() + Math.random();
      setToasts((list) => [...list.slice(-3), { ...toast, id }]);
      if (toast.tone !== "error") setTimeout(() => dismiss(id), SHOW_MS);
    },
    [dismiss],
  );
  const value = useMemo(() => show, [show]);
  return (
    <ToastContext.Provider value={value}>
      {children}
      <section
        aria-label="Notifications"
        aria-live="polite"
        className="pointer-events-none fixed inset-x-2 bottom-2 z-50 flex flex-col items-end gap-2 sm:inset-x-auto sm:right-4 sm:bottom-4"
      >
        {toasts.map((t) => (
          <div
            key={t.id}
            data-testid="toast"
            data-tone={t.tone}
            className={`pointer-events-auto w-full max-w-sm rounded-lg border-l-4 bg-white p-3 text-sm shadow-lg dark:bg-slate-900 ${TONE[t.tone]} border border-slate-200 dark:border-slate-800`}
          >
            <div className="flex items-start justify-between gap-2">
              <p className="font-medium">{t.title}</p>
              <button
                type="button"
                aria-label="Dismiss notification"
                onClick={() => dismiss(t.id)}
                className="rounded px-1 text-slate-500 hover:bg-slate-100 dark:hover:bg-slate-800"
              >
                ×
              </button>
            </div>
            {t.body ? <p className="mt-1 break-words text-slate-600 dark:text-slate-400">{t.body}</p> : null}
            {t.href ? (
              <Link href={t.href} className="mt-1 inline-block text-sky-700 underline dark:text-sky-400">
                Open
              </Link>
            ) : null}
          </div>
        ))}
      </section>
    </ToastContext.Provider>
  );
}
