import type { Metadata, Viewport } from "next";
import { headers } from "next/headers";
import type { ReactNode } from "react";
import { NONCE_HEADER } from "@/lib/nonce-header";
import { AppShell } from "./_components/app-shell";
import { publicEnv } from "./_lib/public-env";
import { Providers } from "./providers";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Formation console", template: "%s · Formation" },
  description: "Deploy Formfiles onto redundant VMs joined by formnet.",
  icons: { icon: "/favicon.svg" },
};

export const viewport: Viewport = { width: "device-width", initialScale: 1 };

// The chain comes from the console's runtime configuration, and every page carries its own CSP
// nonce (proxy.ts), so render per request.
export const dynamic = "force-dynamic";

// Applies the saved or system colour scheme before first paint (no flash of the wrong theme).
const themeScript = `try{var t=localStorage.getItem("theme");if(t==="dark"||(!t&&matchMedia("(prefers-color-scheme: dark)").matches))document.documentElement.classList.add("dark")}catch(e){}`;

export default async function RootLayout({ children }: { children: ReactNode }) {
  const e = publicEnv();
  // Set by proxy.ts; the page's CSP blocks inline scripts without it.
  const nonce = (await headers()).get(NONCE_HEADER) ?? undefined;
  const chain = { chainId: e.chainId, rpcUrl: e.chainRpcUrl, name: e.chainName };
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        {/* biome-ignore lint/security/noDangerouslySetInnerHtml: static theme bootstrap, no user input */}
        <script nonce={nonce} dangerouslySetInnerHTML={{ __html: themeScript }} />
      </head>
      <body className="min-h-screen bg-white text-slate-900 antialiased dark:bg-slate-950 dark:text-slate-100">
        <Providers chain={chain} config={{ consoleOrigin: e.consoleOrigin }}>
          <AppShell>{children}</AppShell>
        </Providers>
      </body>
    </html>
  );
}
