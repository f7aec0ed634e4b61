import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Hex } from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { z } from "zod";

const ZKeyFile = z.object({ v: z.literal(1), privateKey: z.string().regex(/^0x[0-9a-f]{64}$/) });

/** Where the console's state-store signing key lives (one per data dir, shared by its consoles). */
export function consoleKeyPath(dataDir: string): string {
  return join(dataDir, "statestore-key.json");
}

/**
 * Loads the console's state-store key, generating it on first use. The console has no operator
 * key of its own, so it signs its store writes with this one: a 0600 file under the data dir
 * (protect the data dir like the database). Creation goes through a temp file + `link`, which fails
 * when another process created the key first, so consoles sharing a data dir agree on one key.
 */
export async function loadOrCreateConsoleKey(dataDir: string): Promise<PrivateKeyAccount> {
  const path = consoleKeyPath(dataDir);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const existing = await readKey(path);
  if (existing) return existing;
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const body = { v: 1, privateKey: `0x${randomBytes(32).toString("hex")}` };
  await writeFile(temp, `${JSON.stringify(body)}\n`, { mode: 0o600, flag: "wx" });
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await rm(temp, { force: true });
  }
  await chmod(path, 0o600);
  const created = await readKey(path);
  if (!created) throw new Error(`state-store key ${path} vanished right after it was written`);
  return created;
}

async function readKey(path: string): Promise<PrivateKeyAccount | undefined> {
  let raw: string;
  try {
    raw = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = ZKeyFile.safeParse(JSON.parse(raw));
  if (!parsed.success)
    throw new Error(`state-store key ${path} is not a valid key file`, { cause: parsed.error });
  return privateKeyToAccount(parsed.data.privateKey as Hex);
}
