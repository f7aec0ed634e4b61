// Types for the parts of scripts/prisma.mjs that TypeScript code (server/db/testing.ts) imports.
export declare const root: string;
export declare const schemaDir: string;
export declare const providers: readonly ["sqlite", "postgresql"];
export declare function schemaDirFor(provider: "sqlite" | "postgresql"): string;
export declare function prismaEnv(
  provider: "sqlite" | "postgresql",
  extra?: Record<string, string>,
): Record<string, string | undefined>;
export declare function currentSchemaSql(): string;
export declare function runPrisma(
  args: string[],
  options?: { provider?: "sqlite" | "postgresql"; env?: Record<string, string>; capture?: boolean },
): string;
