import type { StoreLock } from './session-store.js';

/**
 * Takes `first`, then `second`, and holds both as one lock: null (with
 * `first` released again) if `second` is taken, and `first` released if
 * `second` throws. For stores that must lock in two places at once.
 */
export async function acquireBoth(
  first: () => Promise<StoreLock | null>,
  second: () => Promise<StoreLock | null>,
): Promise<StoreLock | null> {
  const a = await first();
  if (!a) return null;
  const b = await second().catch(async (err: unknown) => {
    await a.release().catch(() => undefined);
    throw err;
  });
  if (!b) {
    await a.release();
    return null;
  }
  return {
    async release() {
      await Promise.all([b.release(), a.release()]);
    },
  };
}
