import { z } from "zod";

/** Every mutation a wallet must sign. Adding one is a protocol change: update the docs too. */
export const SIGNED_ACTIONS = [
  "build.create",
  "build.cancel",
  "instance.ship",
  "instance.start",
  "instance.stop",
  "instance.restart",
  "instance.delete",
  "deployment.rollback",
  "deployment.delete",
  "formnet.join",
  "formnet.leave",
  "domain.add",
  "domain.verify",
  "domain.remove",
] as const;

export const ZSignedActionName = z.enum(SIGNED_ACTIONS);
export type TSignedActionName = z.infer<typeof ZSignedActionName>;

/** Pseudo-action of the short-lived read token the CLI sends in `Authorization` for queries. */
export const READ_ACTION = "session.read";

/** Longest accepted distance between now and a signature's `expiresAt`, in seconds. */
export const MAX_ACTION_TTL_SECONDS = 600;
/** Longest accepted lifetime of a read token, in seconds. */
export const MAX_READ_TTL_SECONDS = 300;
/** Tolerated clock difference between signer and console (on the issuing side only), in seconds. */
export const CLOCK_SKEW_SECONDS = 30;
