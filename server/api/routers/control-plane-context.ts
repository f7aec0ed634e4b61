import type { TContext } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import type { ControlPlane } from "@/server/gateway/control-plane";

/** The running control plane of this console (the control-plane module must be started). */
export function controlPlaneOf(ctx: Pick<TContext, "runtime">): ControlPlane {
  const cp = ctx.runtime.services.controlPlane;
  if (!cp) throw new AppError("UNAVAILABLE", "The control plane is not running on this console");
  return cp;
}

/** `sha256:<hex>` ⇄ the `0x<hex>` bytes32 that EIP-712 signatures bind as `contentDigest`. */
export function digestToBytes32(digest: string): `0x${string}` {
  return `0x${digest.slice("sha256:".length)}`;
}
