import type { Prisma, TDatabase } from "@/server/db/client";

/** A repository works on the client or inside `db.$transaction(async (tx) => …)`. */
export type TDbClient = TDatabase | Prisma.TransactionClient;

/** Prisma's unique-constraint violation (P2002), the signal for "already exists". */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === "P2002";
}
