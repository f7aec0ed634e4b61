"use client";
import { useEffect, useState } from "react";
import { canonicalUrl, useConsoleConfig } from "../_lib/console-config";

/**
 * Sends a browser that reached the console under another name (127.0.0.1 for localhost, a LAN
 * address…) to its canonical origin before anyone signs in: sign-in and every signature are bound
 * to that one origin, so they could not work here. Shows where it goes meanwhile.
 */
export function CanonicalOrigin() {
  const { consoleOrigin } = useConsoleConfig();
  const [target, setTarget] = useState<string | null>(null);
  useEffect(() => {
    const url = canonicalUrl(window.location, consoleOrigin);
    setTarget(url);
    if (url) window.location.replace(url);
  }, [consoleOrigin]);
  if (!target) return null;
  return (
    <div
      role="status"
      data-testid="canonical-origin"
      className="border-b border-amber-200 bg-amber-50 px-4 py-2 text-center text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-200"
    >
      This console lives at{" "}
      <a href={target} className="font-medium underline">
        {consoleOrigin}
      </a>{" "}
      (signatures are bound to that address); taking you there…
    </div>
  );
}

/** True when this page is on the console's canonical origin (false before hydration decides). */
export function useOnCanonicalOrigin(): boolean {
  const { consoleOrigin } = useConsoleConfig();
  const [ok, setOk] = useState(true);
  useEffect(() => setOk(canonicalUrl(window.location, consoleOrigin) === null), [consoleOrigin]);
  return ok;
}
