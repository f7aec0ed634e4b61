"use client";
import { useCallback, useEffect, useRef, useState } from "react";
import { appLogsUrl, parseAppLogsServerFrame } from "@/lib/protocol/app-logs";
import { isFinalReason, TERMINAL_REASON_TEXT } from "../../_components/terminal/reasons";
import { buttonClass } from "../../_components/ui";

/** Characters kept on screen (older output scrolls away). */
const KEEP_CHARS = 256 * 1024;
const RETRY_MS = 5000;

type TState =
  | { kind: "connecting" }
  | { kind: "live"; unit: string | null }
  | { kind: "ended"; message: string; final: boolean };

/**
 * The running app's logs (its ENTRYPOINT unit's journal), backlog first, then live, streamed by the
 * console over SSH as the Formfile user (`/ws/app-logs`). Reconnects after the stream ends unless
 * the refusal is final (not yours, not running).
 */
export function AppLogs(props: { instanceId: string }) {
  const [text, setText] = useState("");
  const [state, setState] = useState<TState>({ kind: "connecting" });
  const [attempt, setAttempt] = useState(0);
  const pre = useRef<HTMLPreElement | null>(null);
  const follow = useRef(true);

  const reconnect = useCallback(() => setAttempt((n) => n + 1), []);

  useEffect(() => {
    // `attempt` re-runs this effect: a new WebSocket per (re)connection.
    void attempt;
    setState({ kind: "connecting" });
    setText("");
    const ws = new WebSocket(appLogsUrl({ origin: window.location.origin, instanceId: props.instanceId }));
    ws.binaryType = "arraybuffer";
    const decoder = new TextDecoder();
    let retry: ReturnType<typeof setTimeout> | undefined;
    let final = false;
    ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data !== "string") {
        const chunk = decoder.decode(event.data, { stream: true });
        setText((t) => (t + chunk).slice(-KEEP_CHARS));
        return;
      }
      const frame = parseAppLogsServerFrame(event.data);
      if (!frame) return;
      if (frame.type === "ready") setState({ kind: "live", unit: frame.unit });
      else if (frame.type === "end") setState({ kind: "ended", message: frame.message, final: false });
      else {
        final = isFinalReason(frame.reason);
        const why = TERMINAL_REASON_TEXT[frame.reason];
        setState({ kind: "ended", message: `${why.title}: ${frame.message} ${why.hint}`, final });
      }
    };
    ws.onclose = () => {
      setState((s) =>
        s.kind === "ended" ? s : { kind: "ended", message: "The log stream closed.", final: false },
      );
      if (!final) retry = setTimeout(reconnect, RETRY_MS);
    };
    return () => {
      clearTimeout(retry);
      ws.onclose = null;
      ws.close();
    };
  }, [props.instanceId, attempt, reconnect]);

  useEffect(() => {
    const el = pre.current;
    if (el && follow.current && text) el.scrollTop = el.scrollHeight;
  }, [text]);

  const status =
    state.kind === "connecting"
      ? "Connecting…"
      : state.kind === "live"
        ? `Live · ${state.unit ?? "whole journal of this boot (no ENTRYPOINT)"}`
        : state.final
          ? state.message
          : `${state.message} Reconnecting…`;
  return (
    <div data-testid="app-logs" data-state={state.kind} className="space-y-2">
      <div className="flex flex-wrap items-center justify-between gap-2 text-xs text-slate-600 dark:text-slate-300">
        <span data-testid="app-logs-status">{status}</span>
        <button type="button" className={buttonClass.secondary} onClick={reconnect}>
          Reconnect
        </button>
      </div>
      <pre
        ref={pre}
        data-testid="app-logs-text"
        role="log"
        aria-label="App logs"
        onScroll={(e) => {
          const el = e.currentTarget;
          follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
        className="max-h-96 min-h-24 overflow-auto whitespace-pre-wrap break-all rounded-md bg-slate-950 p-3 font-mono text-xs text-slate-100"
      >
        {text || (state.kind === "live" ? "No log lines yet." : "")}
      </pre>
    </div>
  );
}
