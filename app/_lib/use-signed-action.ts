"use client";
import { useCallback } from "react";
import type { Hex } from "viem";
import { useChainId, useConfig, useSignTypedData } from "wagmi";
import { connect, getConnection } from "wagmi/actions";
import { buildCommitmentTypedData } from "@/lib/chain/build-commitment";
import { draftMessage, type TCommitmentDraft, type TSignedCommitment } from "@/lib/chain/commitment";
import { MAX_ACTION_TTL_SECONDS } from "@/lib/signing/actions";
import type { TSignedAction } from "@/lib/signing/envelope";
import { randomNonce } from "@/lib/signing/sign-action";
import { buildActionTypedData, ZERO_DIGEST } from "@/lib/signing/typed-data";
import { useSession } from "../_components/wallet-session";

const short = (a: string) => `${a.slice(0, 6)}…${a.slice(-4)}`;

/**
 * The wallet account to sign with. A page opened with a session cookie may not have reconnected
 * its wallet yet (fresh tab, cleared storage): connect it now instead of telling a signed-in user
 * to connect. The account must be the signed-in one, or the console would refuse the signature.
 */
function useSigningAccount(): () => Promise<`0x${string}`> {
  // Read the wallet's state when signing, not from a render's closure: one user action signs twice
  // (commitment, then the action) and the first may just have connected.
  const config = useConfig();
  const session = useSession();
  return useCallback(async () => {
    let account = getConnection(config).address;
    if (!account) {
      const connector = config.connectors[0];
      if (!connector)
        throw new Error("No browser wallet found. Install MetaMask or another EIP-1193 wallet.");
      try {
        account = (await connect(config, { connector })).accounts[0];
      } catch (cause) {
        // A reconnect that finished meanwhile ("already connected") is fine.
        account = getConnection(config).address;
        if (!account) throw cause;
      }
    }
    if (!account) throw new Error("The wallet returned no account.");
    const signedIn = session.data?.address;
    if (signedIn && account.toLowerCase() !== signedIn.toLowerCase()) {
      throw new Error(
        `Your wallet is on ${short(account)} but you are signed in as ${short(signedIn)}: switch the wallet's account.`,
      );
    }
    return account;
  }, [config, session.data?.address]);
}

/**
 * Signs a Formation action (EIP-712) with the connected wallet and returns the envelope that
 * signed tRPC procedures take as input. The origin is this page's origin: the console checks that
 * it is its own, so a signature made for another site cannot be replayed here.
 */
export function useSignedAction() {
  const signingAccount = useSigningAccount();
  const chainId = useChainId();
  const { signTypedDataAsync } = useSignTypedData();
  return useCallback(
    async <TAction extends string, TParams>(opts: {
      action: TAction;
      params: TParams;
      contentDigest?: Hex;
    }): Promise<Omit<TSignedAction, "action" | "params"> & { action: TAction; params: TParams }> => {
      const address = await signingAccount();
      const fields = {
        action: opts.action,
        params: opts.params,
        contentDigest: opts.contentDigest ?? ZERO_DIGEST,
        origin: window.location.origin,
        nonce: randomNonce(),
        // Short-lived: the user signs right before sending.
        expiresAt: Math.floor(Date.now() / 1000) + Math.min(120, MAX_ACTION_TTL_SECONDS),
        chainId,
      };
      const signature = await signTypedDataAsync({ ...buildActionTypedData(fields), account: address });
      const signer = `0x${address.slice(2).toLowerCase()}` as const;
      const contentDigest = `0x${fields.contentDigest.slice(2).toLowerCase()}` as const;
      return { ...fields, contentDigest, signer, signature };
    },
    [signingAccount, chainId, signTypedDataAsync],
  );
}

/** Error text for a failed signed action: wallet refusals read differently from server errors. */
export function actionErrorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const short = (error as Error & { shortMessage?: string }).shortMessage;
  if (/reject|denied/i.test(error.message)) return "You declined the signature in your wallet.";
  return short ?? error.message;
}

/**
 * Signs the owner's EIP-712 BuildCommitment for a ship (no transaction, no gas): the console hands
 * out the draft (`instances.commitmentDraft`: chain, contract, build id, the build's image digest,
 * the contract's nonce, a short deadline), the wallet signs it, the console relays it on chain.
 * Returns null when the console has no chain configured.
 */
export function useSignBuildCommitment() {
  const signingAccount = useSigningAccount();
  const { signTypedDataAsync } = useSignTypedData();
  return useCallback(
    async (draft: TCommitmentDraft | null): Promise<TSignedCommitment | null> => {
      if (!draft) return null;
      const address = await signingAccount();
      if (draft.owner.toLowerCase() !== address.toLowerCase())
        throw new Error("The build commitment is for another wallet than the one connected.");
      const signature = await signTypedDataAsync({
        ...buildCommitmentTypedData({
          chainId: draft.chainId,
          contract: draft.contract,
          message: draftMessage(draft),
        }),
        account: address,
      });
      return { imageDigest: draft.imageDigest, nonce: draft.nonce, deadline: draft.deadline, signature };
    },
    [signingAccount, signTypedDataAsync],
  );
}
