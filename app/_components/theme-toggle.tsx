"use client";
import { useEffect, useState } from "react";

/** Switches between light and dark mode and remembers the choice; says which mode it turns on. */
export function ThemeToggle() {
  const [dark, setDark] = useState(false);
  // The theme script in layout.tsx set the class before paint; read it once hydrated.
  useEffect(() => setDark(document.documentElement.classList.contains("dark")), []);
  const toggle = () => {
    const next = document.documentElement.classList.toggle("dark");
    setDark(next);
    try {
      localStorage.setItem("theme", next ? "dark" : "light");
    } catch {
      // Private mode: the choice lasts for this page only.
    }
  };
  const label = dark ? "Dark mode on: switch to light mode" : "Dark mode off: switch to dark mode";
  return (
    <button
      type="button"
      onClick={toggle}
      aria-label="Toggle dark mode"
      aria-pressed={dark}
      title={label}
      className="inline-flex items-center gap-1 rounded p-2 text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
    >
      <span aria-hidden="true">{dark ? "☾" : "☀"}</span>
      <span className="hidden text-xs lg:inline">{dark ? "Dark" : "Light"}</span>
    </button>
  );
}
