"use client";
import "@xterm/xterm/css/xterm.css";
import type { FitAddon } from "@xterm/addon-fit";
import type { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "react";
import { parseTerminalServerFrame, type TTerminalReason, terminalUrl } from "@/lib/protocol/terminal";
import { isFinalReason, TERMINAL_REASON_TEXT } from "./reasons";

type TState =
  | { kind: "connecting"; attempt: number }
  | { kind: "connected"; resumed: boolean; username: string; host: string }
  | { kind: "refused"; reason: TTerminalReason; message: string }
  | { kind: "ended"; message: string };

declare global {
  interface Window {
    /** Test hook: the visible text of each open terminal, by instance id. */
    formationTerminals?: Record<string, { text(): string; sessionId(): string | null }>;
  }
}

const storageKey = (instanceId: string) => `formation.terminal.${instanceId}`;

function bufferText(term: Terminal): string {
  const lines: string[] = [];
  const buffer = term.buffer.active;
  for (let y = 0; y < buffer.length; y++) lines.push(buffer.getLine(y)?.translateToString(true) ?? "");
  return lines.join("\n");
}

/**
 * The web SSH terminal of one instance: xterm.js ⇄ WebSocket on the console's origin ⇄ SSH to the
 * VM. The session id lives in sessionStorage, so a reload or a dropped connection re-attaches to
 * the same shell while the console keeps it (grace period); refusals show their reason.
 */
export function TerminalPanel({ instanceId }: { instanceId: string }) {
  const hostRef = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<TState>({ kind: "connecting", attempt: 0 });
  const [generation, setGeneration] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `generation` is the Reconnect/New session trigger.
  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    let disposed = false;
    let ws: WebSocket | null = null;
    let term: Terminal | null = null;
    let fit: FitAddon | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | null = null;
    let resizeTimer: ReturnType<typeof setTimeout> | null = null;
    let observer: ResizeObserver | null = null;
    const encoder = new TextEncoder();

    const send = (data: string | Uint8Array) => {
      if (ws?.readyState === WebSocket.OPEN) ws.send(data);
    };

    const connect = (attempt: number) => {
      if (disposed || !term) return;
      // A retryable refusal stays on screen while the panel retries.
      setState((s) => (s.kind === "refused" && attempt > 0 ? s : { kind: "connecting", attempt }));
      const t = term;
      let final = false;
      const socket = new WebSocket(
        terminalUrl({
          origin: window.location.origin,
          instanceId,
          sessionId: sessionStorage.getItem(storageKey(instanceId)),
          cols: t.cols,
          rows: t.rows,
        }),
      );
      socket.binaryType = "arraybuffer";
      ws = socket;
      socket.onmessage = (event) => {
        if (event.data instanceof ArrayBuffer) {
          t.write(new Uint8Array(event.data));
          return;
        }
        const frame = typeof event.data === "string" ? parseTerminalServerFrame(event.data) : null;
        if (!frame) return;
        if (frame.type === "ready") {
          sessionStorage.setItem(storageKey(instanceId), frame.sessionId);
          // The console replays the session's output right after `ready`.
          t.reset();
          setState({ kind: "connected", resumed: frame.resumed, username: frame.username, host: frame.host });
          t.focus();
        } else if (frame.type === "error") {
          final = isFinalReason(frame.reason);
          setState({ kind: "refused", reason: frame.reason, message: frame.message });
        } else if (frame.type === "exit") {
          final = true;
          sessionStorage.removeItem(storageKey(instanceId));
          setState({ kind: "ended", message: frame.message });
        }
      };
      socket.onclose = () => {
        if (disposed || ws !== socket || final) return;
        // A dropped connection: the shell survives on the console for its grace period.
        const delay = Math.min(500 * 2 ** Math.min(attempt, 4), 8000);
        retryTimer = setTimeout(() => connect(attempt + 1), delay);
      };
    };

    void (async () => {
      const [{ Terminal }, { FitAddon }] = await Promise.all([
        import("@xterm/xterm"),
        import("@xterm/addon-fit"),
      ]);
      if (disposed) return;
      term = new Terminal({
        cursorBlink: true,
        fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
        fontSize: 13,
        scrollback: 5000,
        theme: { background: "#020617" },
      });
      fit = new FitAddon();
      term.loadAddon(fit);
      term.open(host);
      fit.fit();
      const t = term;
      t.onData((data) => send(encoder.encode(data)));
      t.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
      t.onResize(({ cols, rows }) => {
        if (resizeTimer) clearTimeout(resizeTimer);
        resizeTimer = setTimeout(() => send(JSON.stringify({ type: "resize", cols, rows })), 80);
      });
      // Ctrl+Shift+C / Ctrl+Shift+V copy and paste (plain Ctrl+C must reach the shell as SIGINT).
      t.attachCustomKeyEventHandler((e) => {
        if (e.type !== "keydown" || !e.ctrlKey || !e.shiftKey) return true;
        if (e.code === "KeyC" && t.hasSelection()) {
          void navigator.clipboard?.writeText(t.getSelection());
          return false;
        }
        if (e.code === "KeyV") {
          void navigator.clipboard?.readText().then((text) => t.paste(text));
          return false;
        }
        return true;
      });
      observer = new ResizeObserver(() => fit?.fit());
      observer.observe(host);
      window.formationTerminals = {
        ...window.formationTerminals,
        [instanceId]: {
          text: () => bufferText(t),
          sessionId: () => sessionStorage.getItem(storageKey(instanceId)),
        },
      };
      connect(0);
    })();

    return () => {
      disposed = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (resizeTimer) clearTimeout(resizeTimer);
      observer?.disconnect();
      ws?.close();
      term?.dispose();
      if (window.formationTerminals) delete window.formationTerminals[instanceId];
    };
  }, [instanceId, generation]);

  const newSession = () => {
    sessionStorage.removeItem(storageKey(instanceId));
    setGeneration((g) => g + 1);
  };

  return (
    <div className="flex flex-col gap-2" data-testid="terminal" data-state={state.kind}>
      <div className="flex flex-wrap items-center justify-between gap-2 text-xs">
        <TerminalStatus state={state} />
        <div className="flex gap-2">
          <button
            type="button"
            className="rounded border border-slate-600 px-2 py-1 hover:bg-slate-800"
            onClick={() => setGeneration((g) => g + 1)}
          >
            Reconnect
          </button>
          <button
            type="button"
            className="rounded border border-slate-600 px-2 py-1 hover:bg-slate-800"
            onClick={newSession}
          >
            New session
          </button>
        </div>
      </div>
      <div
        ref={hostRef}
        className="h-96 w-full overflow-hidden rounded-md bg-slate-950 p-1"
        data-testid="terminal-screen"
      />
    </div>
  );
}

function TerminalStatus({ state }: { state: TState }) {
  switch (state.kind) {
    case "connecting":
      return (
        <span data-testid="terminal-status">
          {state.attempt === 0 ? "Connecting…" : `Reconnecting (attempt ${state.attempt})…`}
        </span>
      );
    case "connected":
      return (
        <span data-testid="terminal-status" className="text-emerald-500">
          {state.resumed ? "Resumed" : "Connected"}: {state.username}@{state.host} · Ctrl+Shift+C/V copy/paste
        </span>
      );
    case "refused": {
      const text = TERMINAL_REASON_TEXT[state.reason];
      return (
        <span
          data-testid="terminal-error"
          data-reason={state.reason}
          className="text-rose-500"
          title={state.message}
        >
          {text.title}. {text.hint}
        </span>
      );
    }
    case "ended":
      return (
        <span data-testid="terminal-status">
          Session ended ({state.message}). Open a new session to continue.
        </span>
      );
  }
}
