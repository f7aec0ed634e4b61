/** Who is calling, as far as authentication goes. */
export type TSession = {
  /** Lowercase 0x address. */
  address: `0x${string}`;
  /** `cookie`: browser session from SIWE; `signature`: a signed read token (CLI, queries only). */
  via: "cookie" | "signature";
  /** Database id of the cookie session; null for signature auth. */
  sessionId: string | null;
  expiresAt: Date;
  isAdmin: boolean;
};

/** The signer of an accepted signed action (set by signedProcedure). */
export type TActor = {
  address: `0x${string}`;
  action: string;
  nonce: string;
  auditId: string;
  contentDigest: `0x${string}`;
};
