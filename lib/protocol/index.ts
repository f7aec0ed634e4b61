/**
 * The console ⇄ node-agent wire protocol: zod schemas validated on receipt by both sides, the
 * version constant with its history, and the blob paths agents use. See docs/control-plane.md.
 */
export * from "./blobs";
export * from "./common";
export * from "./jobs";
export * from "./messages";
export * from "./parse";
export * from "./paths";
export * from "./peers-for-protocol";
export * from "./serial";
export * from "./version";
