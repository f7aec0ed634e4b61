"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { type ReactNode, useState } from "react";
import { CanonicalOrigin } from "./canonical-origin";
import { ThemeToggle } from "./theme-toggle";
import { WalletSession } from "./wallet-session";
import { WorkWatcher } from "./work-watcher";

const NAV = [
  { href: "/", label: "Overview" },
  { href: "/deploy", label: "Deploy" },
  { href: "/builds", label: "Builds" },
  { href: "/instances", label: "Instances" },
  { href: "/nodes", label: "Nodes" },
  { href: "/network", label: "Network" },
  { href: "/account", label: "Account" },
] as const;

/** Page chrome: top bar with navigation, wallet session and theme; collapses to a menu on phones. */
export function AppShell({ children }: { children: ReactNode }) {
  const pathname = usePathname();
  const [open, setOpen] = useState(false);
  const isActive = (href: string) => (href === "/" ? pathname === "/" : pathname.startsWith(href));
  return (
    <div className="flex min-h-screen flex-col">
      <CanonicalOrigin />
      <WorkWatcher />
      <header className="sticky top-0 z-10 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-950/90">
        <div className="mx-auto flex h-14 max-w-6xl items-center gap-2 px-4 sm:gap-4">
          <Link
            href="/"
            className="flex items-center gap-2 font-semibold"
            aria-label="Formation console home"
          >
            {/* biome-ignore lint/performance/noImgElement: tiny static SVG logo */}
            <img src="/favicon.svg" alt="" className="h-6 w-6" />
            <span className="hidden sm:inline">Formation</span>
          </Link>
          <nav className="hidden gap-1 md:flex" aria-label="Main">
            {NAV.map((item) => (
              <Link
                key={item.href}
                href={item.href}
                className={`rounded px-2.5 py-1.5 text-sm ${
                  isActive(item.href)
                    ? "bg-slate-100 font-medium dark:bg-slate-800"
                    : "text-slate-600 hover:bg-slate-50 dark:text-slate-300 dark:hover:bg-slate-900"
                }`}
              >
                {item.label}
              </Link>
            ))}
          </nav>
          <div className="ml-auto flex items-center gap-1 sm:gap-2">
            <WalletSession />
            <ThemeToggle />
            <button
              type="button"
              className="rounded p-2 md:hidden"
              aria-label="Menu"
              title="Menu"
              aria-expanded={open}
              onClick={() => setOpen((v) => !v)}
            >
              ☰
            </button>
          </div>
        </div>
        {open ? (
          <nav
            className="border-t border-slate-200 px-4 py-2 md:hidden dark:border-slate-800"
            aria-label="Mobile"
          >
            {NAV.map((item) => (
              <Link
                key={item.href}
                href={item.href}
                className="block py-2 text-sm"
                onClick={() => setOpen(false)}
              >
                {item.label}
              </Link>
            ))}
          </nav>
        ) : null}
      </header>
      <main className="mx-auto w-full max-w-6xl flex-1 px-4 py-6">{children}</main>
    </div>
  );
}
