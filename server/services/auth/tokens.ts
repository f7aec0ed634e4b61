import { createHash, randomBytes, randomUUID } from "node:crypto";

/** 256-bit random session token, base64url (what the cookie carries). */
export function newSessionToken(): string {
  return randomBytes(32).toString("base64url");
}

/** What the database stores instead of the token. */
export function hashSessionToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function newId(): string {
  return randomUUID();
}
