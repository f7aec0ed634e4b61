"use client";
import type { ReactNode } from "react";
import { EmptyState, ListSkeleton } from "./ui";
import { useSession } from "./wallet-session";

/**
 * Renders children only for a signed-in wallet; otherwise explains why the page is empty and how
 * to sign in (the button lives in the top bar, so there is one sign-in flow).
 */
export function SessionGate(props: { what: string; children: ReactNode }) {
  const session = useSession();
  if (session.isLoading) return <ListSkeleton />;
  if (!session.data) {
    return (
      <div data-testid="sign-in-prompt">
        <EmptyState title={`Sign in to see your ${props.what}`}>
          Use <strong>Sign in with wallet</strong> at the top right. Your wallet signs a one-time message; no
          transaction and no gas.
        </EmptyState>
      </div>
    );
  }
  return <>{props.children}</>;
}
