"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useAccount } from "wagmi";
import { parseFormfile } from "@/lib/formfile/parse";
import { ownerCryptSalt } from "@/lib/formfile/sha512-crypt";
import { packBrowserContext, sha256Digest, toBase64 } from "../../_lib/context-pack";
import { saveShipIntent } from "../../_lib/ship-intent";
import { useTRPC, useTRPCClient } from "../../_lib/trpc";
import { useSignedAction } from "../../_lib/use-signed-action";
import type { TContextSource } from "./context-drop";

/** Base64 above this goes through PUT /api/contexts/<digest> (the router's inline cap is 700 KiB). */
const INLINE_LIMIT = 600 * 1024;

export type TSubmitStage = "idle" | "packing" | "uploading" | "signing" | "submitting";

/**
 * Packs the context, uploads it if large, signs `build.create` binding the context digest, submits,
 * then opens the build page (remembering in this tab whether and how to ship it once built).
 */
export function useSubmitBuild(onStage: (s: TSubmitStage) => void) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const router = useRouter();
  const sign = useSignedAction();
  const { address } = useAccount();
  return useMutation({
    mutationKey: trpc.builds.create.mutationKey(),
    mutationFn: async (opts: {
      text: string;
      source: TContextSource;
      replicas: number;
      autoShip: boolean;
    }) => {
      // The owner-derived salt makes the canonical form, and so the build id, reproducible.
      const parsed = parseFormfile(opts.text, address ? { salt: ownerCryptSalt(address) } : {});
      if (!parsed.ok) throw new Error("Fix the Formfile errors first.");
      onStage("packing");
      const packed =
        opts.source.kind === "tarball"
          ? { tarGz: opts.source.bytes, digest: await sha256Digest(opts.source.bytes) }
          : await packBrowserContext(
              opts.source.kind === "files"
                ? [
                    ...opts.source.files.filter((f) => f.path !== "Formfile"),
                    { path: "Formfile", data: new TextEncoder().encode(opts.text) },
                  ]
                : [{ path: "Formfile", data: new TextEncoder().encode(opts.text) }],
            );
      const base64 = toBase64(packed.tarGz);
      if (base64.length > INLINE_LIMIT) {
        onStage("uploading");
        const res = await fetch(`/api/contexts/${packed.digest}`, {
          method: "PUT",
          body: packed.tarGz as Uint8Array<ArrayBuffer>,
          headers: { "content-type": "application/gzip" },
        });
        if (!res.ok)
          throw new Error(`Uploading the build context failed (${res.status}): ${await res.text()}`);
      }
      onStage("signing");
      const params = {
        formfile: parsed.formfile,
        contextDigest: packed.digest,
        ...(base64.length <= INLINE_LIMIT ? { contextBase64: base64 } : {}),
      };
      const envelope = await sign({
        action: "build.create",
        params,
        contentDigest: `0x${packed.digest.slice("sha256:".length)}`,
      });
      onStage("submitting");
      const build = await client.builds.create.mutate(envelope);
      // The ship request stays in this tab, not in the URL: a reopened link never ships.
      if (opts.autoShip) saveShipIntent(build.buildId, opts.replicas);
      router.push(`/builds/${build.buildId}`);
      return build;
    },
    onSettled: () => onStage("idle"),
  });
}
