/**
 * The store exactly as the gateway builds it from its configuration, opened
 * by the bench itself to seed sessions and to measure what one login writes.
 */
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/ops/logger.js';
import { createStoreFromConfig } from '../src/session/create-store.js';
import type { SessionRecord, SessionStore } from '../src/session/session-store.js';

export function openBenchStore(redisUrl: string, sessionSecret: string): SessionStore {
  const config = loadConfig({
    OIDC_ISSUER: 'http://127.0.0.1:1/realms/bench',
    OIDC_CLIENT_ID: 'bff',
    SESSION_SECRET: sessionSecret,
    REDIS_ENABLED: 'true',
    REDIS_URL: redisUrl,
    // The bench only writes through this store: no cache, no tracking connection.
    REDIS_SESSION_CACHE: 'false',
    LOG_LEVEL: 'warn',
  });
  return createStoreFromConfig(config, { logger: createLogger({ level: 'warn' }), clock: Date.now });
}

/** Creates `count` sessions through `store.create` (same keys and indexes as a login), `batch` in flight at once. */
export async function seedSessions(store: SessionStore, count: number, make: (i: number) => SessionRecord, batch = 500): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(count, start + batch);
    const writes: Promise<void>[] = [];
    for (let i = start; i < end; i++) writes.push(store.create(make(i)));
    await Promise.all(writes);
  }
}

/** Waits until the store answers (its client connects lazily and queues nothing). */
export async function waitForStore(store: SessionStore, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await store.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
