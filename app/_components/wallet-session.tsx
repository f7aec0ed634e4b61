"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect } from "react";
import { getAddress } from "viem";
import { createSiweMessage } from "viem/siwe";
import { useAccount, useConnect, useDisconnect, useSignMessage } from "wagmi";
import { canonicalUrl, useConsoleConfig } from "../_lib/console-config";
import { useTRPC } from "../_lib/trpc";

function shortAddress(address: string): string {
  const checksummed = getAddress(address);
  return `${checksummed.slice(0, 6)}…${checksummed.slice(-4)}`;
}

/** Current session from the console (null when signed out). */
export function useSession() {
  const trpc = useTRPC();
  return useQuery(trpc.auth.me.queryOptions({}));
}

/**
 * Sign-in with Ethereum: connect the injected wallet, fetch a one-time nonce, sign the EIP-4361
 * message, and exchange it for an httpOnly session cookie. Refused before any signature on a page
 * that is not on the console's canonical origin (CanonicalOrigin moves the browser there).
 */
export function useSignIn() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { address, isConnected } = useAccount();
  const { connectAsync, connectors } = useConnect();
  const { signMessageAsync } = useSignMessage();
  const nonce = useMutation(trpc.auth.nonce.mutationOptions());
  const signIn = useMutation(trpc.auth.signIn.mutationOptions());
  const { consoleOrigin } = useConsoleConfig();
  return useMutation({
    mutationFn: async () => {
      const elsewhere = canonicalUrl(window.location, consoleOrigin);
      if (elsewhere) {
        window.location.replace(elsewhere);
        throw new Error(`This console lives at ${consoleOrigin}: sign in there.`);
      }
      let account = address;
      if (!isConnected || !account) {
        const connector = connectors[0];
        if (!connector)
          throw new Error("No browser wallet found. Install MetaMask or another EIP-1193 wallet.");
        const result = await connectAsync({ connector });
        account = result.accounts[0];
      }
      if (!account) throw new Error("The wallet returned no account.");
      const challenge = await nonce.mutateAsync({});
      const message = createSiweMessage({
        address: account,
        chainId: challenge.chainId,
        domain: challenge.domain,
        nonce: challenge.nonce,
        uri: challenge.uri,
        version: challenge.version,
        statement: "Sign in to the Formation console.",
        expirationTime: challenge.expiresAt,
      });
      const signature = await signMessageAsync({ message, account });
      await signIn.mutateAsync({ message, signature });
    },
    onSettled: () => queryClient.invalidateQueries(),
  });
}

/**
 * The top bar's session control: the signed-in address and Sign out, or Sign in with wallet. When
 * the wallet switches to another account, the session of the previous address is revoked rather
 * than reused.
 */
export function WalletSession() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const session = useSession();
  const { address } = useAccount();
  const { disconnectAsync } = useDisconnect();
  const signOut = useMutation(trpc.auth.signOut.mutationOptions());
  const start = useSignIn();

  const sessionAddress = session.data?.address?.toLowerCase();
  const invalidate = useCallback(() => queryClient.invalidateQueries(), [queryClient]);

  useEffect(() => {
    if (sessionAddress && address && address.toLowerCase() !== sessionAddress) {
      signOut.mutateAsync({}).then(invalidate, invalidate);
    }
  }, [address, sessionAddress, signOut.mutateAsync, invalidate]);

  if (session.isLoading) return <span className="text-sm text-slate-500">…</span>;
  if (session.data) {
    return (
      <div className="flex items-center gap-1 text-sm sm:gap-3">
        <span
          className="whitespace-nowrap rounded bg-slate-100 px-2 py-1 font-mono dark:bg-slate-800"
          data-testid="session-address"
        >
          {shortAddress(session.data.address)}
        </span>
        <button
          type="button"
          className="whitespace-nowrap rounded px-2 py-1 text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
          onClick={() =>
            signOut
              .mutateAsync({})
              .then(() => disconnectAsync())
              .finally(invalidate)
          }
        >
          Sign out
        </button>
      </div>
    );
  }
  return (
    <div className="flex items-center gap-3">
      {start.error ? (
        <span className="max-w-xs truncate text-sm text-red-600" role="alert" title={start.error.message}>
          {start.error.message}
        </span>
      ) : null}
      <button
        type="button"
        className="rounded-md bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-700 disabled:opacity-50"
        disabled={start.isPending}
        onClick={() => start.mutate()}
      >
        {start.isPending ? "Check your wallet…" : "Sign in with wallet"}
      </button>
    </div>
  );
}
