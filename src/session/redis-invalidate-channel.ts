import type { Redis } from 'ioredis';

/** Where Redis pushes tracking invalidations to a RESP2 connection (CLIENT TRACKING … REDIRECT). */
export const INVALIDATE_CHANNEL = '__redis__:invalidate';

/**
 * Reads the invalidation pushes arriving on `subscriber` and reports, for each
 * key under `keyPrefix`, the session id it names. A null or empty payload is
 * FLUSHDB/FLUSHALL or a tracking-table overflow: anything may have changed.
 */
export function onInvalidations(
  subscriber: Redis,
  keyPrefix: string,
  report: { changed(id: string): void; everything(): void },
): void {
  subscriber.on('messageBuffer', (channel: Buffer, message: Buffer[] | Buffer | null) => {
    if (channel.toString() !== INVALIDATE_CHANNEL) return;
    if (!Array.isArray(message)) {
      report.everything();
      return;
    }
    for (const key of message) {
      const name = key.toString();
      if (name.startsWith(keyPrefix)) report.changed(name.slice(keyPrefix.length));
    }
  });
}
