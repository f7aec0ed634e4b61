/**
 * The request header Next.js reads a page's CSP nonce from (besides the CSP itself): the console's
 * proxy (proxy.ts) sets it, the root layout puts it on its inline script.
 */
export const NONCE_HEADER = "x-nonce";
