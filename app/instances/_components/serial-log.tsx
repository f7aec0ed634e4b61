"use client";
import { TRPCClientError } from "@trpc/client";
import { useCallback, useEffect, useRef, useState } from "react";
import { serialLogText } from "@/lib/protocol/serial";
import type { AppRouter } from "@/server/api/root";
import { buttonClass } from "../../_components/ui";
import { formatBytes } from "../../_lib/format";
import { useTRPCClient } from "../../_lib/trpc";

/** Bytes asked per request; a backlog larger than this drains in a few quick requests. */
const CHUNK_BYTES = 64 * 1024;
/** Characters kept on screen (older output scrolls away). */
const KEEP_CHARS = 256 * 1024;
const LIVE_MS = 2000;
const RETRY_MS = 5000;
/** Bytes of the log's start kept to tell a new boot's log from the old one. */
const HEAD_BYTES = 2048;
/** How long after a start/restart the reader looks for the new boot's log. */
const RESTART_WATCH_MS = 10 * 60_000;

/** True when one log start is a prefix of the other (the same log, read at different sizes). */
function sameStart(a: string, b: string): boolean {
  const n = Math.min(a.length, b.length);
  return a.slice(0, n) === b.slice(0, n);
}

/** The line that separates one boot's output from the next in the kept backlog. */
function restartMarker(moved: boolean): string {
  const at = new Date().toLocaleTimeString();
  return `\n──── log restarted at ${at} (${moved ? "the replica moved to another node" : "the VM booted again"}); earlier output above ────\n`;
}

type TProblem = { reason: string; message: string; retrying: boolean };

/** What the user sees and can do for each failure (`details.reason` of `serial.tail`, else its code). */
function problemOf(cause: unknown): TProblem {
  if (!(cause instanceof TRPCClientError)) {
    return { reason: "network", message: "Cannot reach the console; retrying…", retrying: true };
  }
  const error = cause as TRPCClientError<AppRouter>;
  const details = error.data?.details;
  const reason =
    details && typeof details.reason === "string" ? details.reason : (error.data?.appCode ?? "INTERNAL");
  switch (reason) {
    case "nodeOffline":
      return {
        reason,
        message:
          "The node hosting this instance is offline. The log is read live from the node, so it returns when the node's agent reconnects; retrying…",
        retrying: true,
      };
    case "notOnNode":
      return {
        reason,
        message: "The node does not run this instance yet (it is still being placed or booted); retrying…",
        retrying: true,
      };
    case "timeout":
    case "busy":
    case "unreadable":
      return { reason, message: `${error.message}. Retrying…`, retrying: true };
    case "agentTooOld":
      return {
        reason,
        message: "This node runs an older agent without serial logs; its operator must upgrade node-agent.",
        retrying: false,
      };
    case "NOT_FOUND":
      return { reason, message: "No instance with this id belongs to your wallet.", retrying: false };
    case "UNAUTHORIZED":
      return {
        reason,
        message: "Sign in with your wallet (top right) to read the serial console.",
        retrying: false,
      };
    default:
      return { reason, message: `${error.message}. Retrying…`, retrying: true };
  }
}

/**
 * The instance's serial console (kernel and systemd boot log, getty), read live from the node that
 * hosts it: the tail first, then only new bytes every two seconds while Live is on. Sticks to the
 * bottom unless the user scrolled up to read. Mount it inside a card on the instance page.
 */
export function SerialLog({ instanceId, restartKey = 0 }: { instanceId: string; restartKey?: number }) {
  const client = useTRPCClient();
  const [text, setText] = useState("");
  const [loaded, setLoaded] = useState(false);
  const [size, setSize] = useState(0);
  const [problem, setProblem] = useState<TProblem | null>(null);
  const [live, setLive] = useState(true);
  const liveRef = useRef(true);
  /** Continues a paused reader from where it stopped. */
  const resume = useRef<(() => void) | null>(null);
  const [generation, setGeneration] = useState(0);
  const box = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  /** Until when the reader compares the log's start with the one it shows (after a start/restart). */
  const watchRestartUntil = useRef(0);

  useEffect(() => {
    if (restartKey > 0) watchRestartUntil.current = Date.now() + RESTART_WATCH_MS;
  }, [restartKey]);

  useEffect(() => {
    // `generation` restarts the reader from the tail (Refresh).
    void generation;
    let cancelled = false;
    let end: number | null = null;
    let node: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    resume.current = null;
    setText("");
    setLoaded(false);
    setProblem(null);
    let head: string | null = null;
    const readHead = () => client.serial.tail.query({ instanceId, maxBytes: HEAD_BYTES, offset: 0 });
    /** After a start/restart: a log that no longer starts like the one shown is the new boot's. */
    const newBootLog = async (): Promise<boolean> => {
      if (Date.now() > watchRestartUntil.current) return false;
      const first = await readHead();
      if (head === null || first.nodeId !== node || sameStart(head, first.data)) {
        head ??= first.data;
        return false;
      }
      head = first.data;
      watchRestartUntil.current = 0;
      const slice = await client.serial.tail.query({ instanceId, maxBytes: CHUNK_BYTES, offset: 0 });
      const moved = slice.nodeId !== node;
      setText((prev) => (prev + restartMarker(moved) + serialLogText(slice.data)).slice(-KEEP_CHARS));
      end = slice.end;
      node = slice.nodeId;
      setSize(slice.size);
      return true;
    };
    const poll = async () => {
      try {
        if (end === null) head = (await readHead()).data;
        if (end !== null && (await newBootLog())) {
          if (cancelled) return;
          timer = setTimeout(poll, 0);
          return;
        }
        const slice = await client.serial.tail.query({
          instanceId,
          maxBytes: CHUNK_BYTES,
          ...(end === null ? {} : { offset: end }),
        });
        if (cancelled) return;
        const chunk = serialLogText(slice.data);
        // A slice from another node (replica moved) or not starting where the last one ended (log
        // recreated) is a different log: keep what was shown, marked, and go on with the new one.
        const first = end === null;
        const restarted = !first && (slice.offset !== end || slice.nodeId !== node);
        const moved = slice.nodeId !== node;
        setText((prev) =>
          (first ? chunk : restarted ? prev + restartMarker(moved) + chunk : prev + chunk).slice(-KEEP_CHARS),
        );
        end = slice.end;
        node = slice.nodeId;
        setSize(slice.size);
        setLoaded(true);
        setProblem(null);
        if (!liveRef.current) {
          resume.current = () => void poll();
          return;
        }
        // Drain a backlog at once; otherwise poll for new output.
        timer = setTimeout(poll, slice.end < slice.size ? 0 : LIVE_MS);
      } catch (cause) {
        if (cancelled) return;
        const p = problemOf(cause);
        setProblem(p);
        setLoaded(true);
        if (!p.retrying) return;
        if (liveRef.current) timer = setTimeout(poll, RETRY_MS);
        else resume.current = () => void poll();
      }
    };
    void poll();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    };
  }, [client, instanceId, generation]);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current && text.length >= 0) el.scrollTop = el.scrollHeight;
  }, [text]);

  const toggleLive = useCallback(() => {
    liveRef.current = !liveRef.current;
    setLive(liveRef.current);
    if (liveRef.current) {
      const next = resume.current;
      resume.current = null;
      next?.();
    }
  }, []);

  const refresh = useCallback(() => {
    stick.current = true;
    setGeneration((g) => g + 1);
  }, []);

  return (
    <div data-testid="serial-log-panel">
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <p className="text-xs text-slate-500">
          What the VM writes to its serial port (ttyS0) while it boots and runs, read live from its node.
        </p>
        <div className="flex gap-2">
          <button
            type="button"
            className={buttonClass.secondary}
            aria-pressed={live}
            onClick={toggleLive}
            data-testid="serial-log-live"
          >
            {live ? "Pause" : "Resume"}
          </button>
          <button type="button" className={buttonClass.secondary} onClick={refresh}>
            Refresh
          </button>
        </div>
      </div>
      <pre
        ref={box}
        data-testid="serial-log"
        aria-live="off"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
        className="h-80 overflow-auto whitespace-pre-wrap break-all rounded-md bg-slate-950 p-3 font-mono text-xs leading-5 text-slate-200 dark:border dark:border-slate-800"
      >
        {!loaded ? (
          <span className="text-slate-400">Reading the serial console from the node…</span>
        ) : text.length === 0 && !problem ? (
          <span className="text-slate-400" data-testid="serial-log-empty">
            No serial output yet. The VM writes its boot log here as it starts; this view updates by itself.
          </span>
        ) : (
          text
        )}
      </pre>
      <p className="mt-1 text-xs text-slate-500" data-testid="serial-log-status">
        {problem ? (
          <span role="alert" className="text-amber-700 dark:text-amber-400">
            {problem.message}
          </span>
        ) : loaded ? (
          `${formatBytes(size)} logged · ${live ? "live" : "paused"}`
        ) : null}
      </p>
    </div>
  );
}
