"use client";
import { useCallback } from "react";
import type { Hex } from "viem";
import { useAccount, useChainId, useSignTypedData } from "wagmi";
import { buildCommitmentTypedData } from "@/lib/chain/build-commitment";
import { draftMessage, type TCommitmentDraft, type TSignedCommitment } from "@/lib/chain/commitment";
import { MAX_ACTION_TTL_SECONDS } from "@/lib/signing/actions";
import type { TSignedAction } from "@/lib/signing/envelope";
import { randomNonce } from "@/lib/signing/sign-action";
import { buildActionTypedData, ZERO_DIGEST } from "@/lib/signing/typed-data";

/**
 * Signs a Formation action (EIP-712) with the connected wallet and returns the envelope that
 * signed tRPC procedures take as input. The origin is this page's origin: the console checks that
 * it is its own, so a signature made for another site cannot be replayed here.
 */
export function useSignedAction() {
  const { address } = useAccount();
  const chainId = useChainId();
  const { signTypedDataAsync } = useSignTypedData();
  return useCallback(
    async <TAction extends string, TParams>(opts: {
      action: TAction;
      params: TParams;
      contentDigest?: Hex;
    }): Promise<Omit<TSignedAction, "action" | "params"> & { action: TAction; params: TParams }> => {
      if (!address) throw new Error("Connect your wallet (Sign in with wallet) before signing actions.");
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
    [address, chainId, signTypedDataAsync],
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
  const { address } = useAccount();
  const { signTypedDataAsync } = useSignTypedData();
  return useCallback(
    async (draft: TCommitmentDraft | null): Promise<TSignedCommitment | null> => {
      if (!draft) return null;
      if (!address) throw new Error("Connect your wallet (Sign in with wallet) before signing actions.");
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
    [address, signTypedDataAsync],
  );
}
