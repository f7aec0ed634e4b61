import { appendFile, rename, stat } from "node:fs/promises";

/** A VM's serial log is rotated to `<path>.1` once it passes this size (the older one is dropped). */
export const SERIAL_LOG_ROTATE_BYTES = 8 * 1024 * 1024;

/**
 * Prepares a VM's serial log for a (re)start: QEMU appends to it (`append=on`), so the earlier
 * boots' output stays readable, separated by a marker line the console shows as is; a log past
 * `rotateBytes` moves to `<path>.1` first, so it stays bounded.
 */
export async function prepareSerialLog(opts: {
  path: string;
  now?: Date;
  rotateBytes?: number;
}): Promise<void> {
  const size = await stat(opts.path).then(
    (s) => s.size,
    () => 0,
  );
  if (size > (opts.rotateBytes ?? SERIAL_LOG_ROTATE_BYTES)) await rename(opts.path, `${opts.path}.1`);
  const marker = `${size > 0 ? "\n" : ""}──── VM started at ${(opts.now ?? new Date()).toISOString()} (earlier boots above) ────\n`;
  await appendFile(opts.path, size > 0 ? marker : "", { mode: 0o600 });
}
