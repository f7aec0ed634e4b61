"use client";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { useTRPC } from "../_lib/trpc";
import { useToast } from "./toasts";
import { useSession } from "./wallet-session";

/** Build statuses worth a notification when a build reaches them while the console is open. */
const NOTIFY: Record<string, { tone: "success" | "error" | "info"; verb: string }> = {
  built: { tone: "success", verb: "is built" },
  running: { tone: "success", verb: "is running" },
  failed: { tone: "error", verb: "failed" },
  cancelled: { tone: "info", verb: "was cancelled" },
};

/**
 * Watches the signed-in user's builds on every page and raises a toast when one finishes, fails or
 * starts running, so nobody has to keep a build page open to learn how it ended.
 */
export function WorkWatcher() {
  const session = useSession();
  const trpc = useTRPC();
  const toast = useToast();
  const builds = useQuery(
    trpc.builds.list.queryOptions(
      { limit: 20, all: false },
      { enabled: Boolean(session.data), refetchInterval: 5000 },
    ),
  );
  const seen = useRef<Map<string, string> | null>(null);
  useEffect(() => {
    if (!builds.data) return;
    const previous = seen.current;
    const next = new Map(builds.data.map((b) => [b.buildId, b.status]));
    seen.current = next;
    // The first answer is the starting point: only changes after it are news.
    if (!previous) return;
    for (const b of builds.data) {
      const before = previous.get(b.buildId);
      const notify = NOTIFY[b.status];
      if (!notify || before === b.status || before === undefined) continue;
      toast({
        tone: notify.tone,
        title: `${b.name} ${notify.verb}`,
        ...(b.failure && b.status === "failed" ? { body: b.failure.reason.slice(0, 200) } : {}),
        href: `/builds/${b.buildId}`,
      });
    }
  }, [builds.data, toast]);
  return null;
}
