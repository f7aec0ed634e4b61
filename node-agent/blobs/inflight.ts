/**
 * Runs `start` unless a run for `key` is in flight in this process, whose promise is then shared
 * (a boot and a prefetch of one image into one destination make one transfer).
 */
export function sharedInFlight<T>(
  runs: Map<string, Promise<T>>,
  key: string,
  start: () => Promise<T>,
): Promise<T> {
  const existing = runs.get(key);
  if (existing !== undefined) return existing;
  const run = start().finally(() => runs.delete(key));
  runs.set(key, run);
  return run;
}
