"use client";
import { createContext, type ReactNode, useContext } from "react";

/** What the browser must know of the console's configuration (from app/layout.tsx). */
export type TConsoleConfig = {
  /** The one origin signatures are bound to (CONSOLE_ORIGIN). */
  consoleOrigin: string;
};

const ConsoleConfigContext = createContext<TConsoleConfig>({ consoleOrigin: "" });

export function ConsoleConfigProvider({ value, children }: { value: TConsoleConfig; children: ReactNode }) {
  return <ConsoleConfigContext.Provider value={value}>{children}</ConsoleConfigContext.Provider>;
}

export function useConsoleConfig(): TConsoleConfig {
  return useContext(ConsoleConfigContext);
}

/**
 * The address of this page on the canonical origin when the browser is on another one (e.g.
 * 127.0.0.1 for localhost), else null. Sign-in and signatures only work on the canonical origin.
 */
export function canonicalUrl(
  location: { origin: string; pathname: string; search: string; hash: string },
  consoleOrigin: string,
): string | null {
  if (!consoleOrigin || location.origin === consoleOrigin) return null;
  return `${consoleOrigin}${location.pathname}${location.search}${location.hash}`;
}
