"use client";
import { useEffect, useRef, useState } from "react";
import { useTRPCClient } from "../../_lib/trpc";

type TLine = { id: number; at: Date; line: string };

/**
 * Live build log: loads the backlog, then polls `builds.logs` from the last cursor until the build
 * is final and drained. Sticks to the bottom unless the user scrolled up to read.
 */
export function BuildLogs({ buildId }: { buildId: string }) {
  const client = useTRPCClient();
  const [lines, setLines] = useState<TLine[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    let cancelled = false;
    let cursor = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setLines([]);
    setDone(false);
    const poll = async () => {
      try {
        const page = await client.builds.logs.query({ buildId, after: cursor, limit: 1000 });
        if (cancelled) return;
        setError(null);
        if (page.lines.length > 0) {
          cursor = page.cursor;
          setLines((prev) => [...prev, ...page.lines].slice(-5000));
        }
        if (page.done) {
          setDone(true);
          return;
        }
        // Drain a backlog quickly; otherwise tail once a second.
        timer = setTimeout(poll, page.lines.length === 1000 ? 0 : 1000);
      } catch (cause) {
        if (cancelled) return;
        setError(cause instanceof Error ? cause.message : String(cause));
        timer = setTimeout(poll, 3000);
      }
    };
    void poll();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    };
  }, [buildId, client]);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current && lines.length >= 0) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <div>
      <pre
        ref={box}
        data-testid="build-logs"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
        className="h-80 overflow-auto rounded-md bg-slate-950 p-3 font-mono text-xs leading-5 text-slate-200"
      >
        {lines.length === 0 ? (
          <span className="text-slate-400">
            {done ? "No log output." : "Waiting for a node to pick up the build…"}
          </span>
        ) : (
          lines.map((l) => (
            <div key={l.id} className="whitespace-pre-wrap break-all">
              {l.line}
            </div>
          ))
        )}
      </pre>
      <p className="mt-1 text-xs text-slate-500">
        {error ? (
          <span className="text-red-600">Log stream interrupted ({error}); retrying…</span>
        ) : done ? (
          `${lines.length} lines · complete`
        ) : (
          `${lines.length} lines · live`
        )}
      </p>
    </div>
  );
}
