import { describe, expect, it } from 'vitest';
import { ProviderUnavailableError } from '../../../src/errors.js';
import { createSharedTokenCache, type IssuedToken } from '../../../src/proxy/shared-token-cache.js';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import { createTokenSealer } from '../../../src/session/token-sealer.js';
import { TEST_SECRET } from '../../support/redis-store-harness.js';

/** The cache over a real (memory) store and sealer, on a clock the test moves. */
function cacheWithClock() {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const store = createMemoryStore({ clock, sweepIntervalMs: 60_000 });
  const cache = createSharedTokenCache({
    clock,
    sealer: createTokenSealer([TEST_SECRET]),
    skewMs: 30_000,
    lockTtlMs: 10_000,
    read: (key) => store.getShared(key),
    write: async (key, sealed, expiresAtMs) => {
      await store.putShared(key, sealed, expiresAtMs - clock());
      return true;
    },
    lock: (key, ttlMs) => store.acquireLock(key, ttlMs),
  });
  return { cache, advance: (ms: number) => (now += ms), now: () => now, close: () => store.close() };
}

describe('shared token cache after a failed grant', () => {
  it('backs off: 100 calls in the second after a failure cause no second grant, and the attempts space out 1 s, 2 s, 4 s', async () => {
    const { cache, advance, now, close } = cacheWithClock();
    let grants = 0;
    let up = false;
    const obtain = async (): Promise<IssuedToken> => {
      grants += 1;
      if (!up) throw new ProviderUnavailableError(new Error('provider down'));
      return { accessToken: `token-${grants}`, expiresAtMs: now() + 300_000 };
    };

    await expect(cache.get('route:a', obtain)).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(grants).toBe(1);
    for (let i = 0; i < 100; i++) {
      advance(9);
      await expect(cache.get('route:a', obtain)).rejects.toBeInstanceOf(ProviderUnavailableError);
    }
    expect(grants).toBe(1); // 900 ms later: still backing off

    advance(100); // 1 s after the failure
    await expect(cache.get('route:a', obtain)).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(grants).toBe(2);
    advance(1_999);
    await expect(cache.get('route:a', obtain)).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(grants).toBe(2); // the second failure waits 2 s
    advance(1);
    await expect(cache.get('route:a', obtain)).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(grants).toBe(3);

    // Another key is not held back by this one's failures.
    up = true;
    await expect(cache.get('route:b', obtain)).resolves.toBe('token-4');

    advance(4_000); // the third failure's 4 s
    await expect(cache.get('route:a', obtain)).resolves.toBe('token-5');
    await expect(cache.get('route:a', obtain)).resolves.toBe('token-5'); // cached, no grant
    expect(grants).toBe(5);
    await close();
  });
});
