/** Name of the browser session cookie. */
export const SESSION_COOKIE = "formation_session";

/**
 * The session cookie: HttpOnly (scripts cannot read it), SameSite=Lax (not sent on cross-site
 * POSTs, yet a link into the console from elsewhere still lands signed in; Strict would not),
 * Secure whenever the console's public origin is https.
 */
export function sessionCookie(opts: { token: string; expiresAt: Date; origin: string; now?: Date }): string {
  const now = opts.now ?? new Date();
  const maxAge = Math.max(0, Math.floor((opts.expiresAt.getTime() - now.getTime()) / 1000));
  const secure = opts.origin.startsWith("https:") ? "; Secure" : "";
  return `${SESSION_COOKIE}=${encodeURIComponent(opts.token)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
}

export function clearedSessionCookie(origin: string): string {
  const secure = origin.startsWith("https:") ? "; Secure" : "";
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure}`;
}
