import type { RedisConfig } from '../../src/config/config.js';
import { Redis } from 'ioredis';
import { createRedisClient, waitUntilReady, type RedisClient } from '../../src/session/redis-client.js';
import { createRedisStore } from '../../src/session/redis-store.js';
import { createSentinelConfirmedWrites } from '../../src/session/sentinel-confirmed-writes.js';
import { createSessionRecordCodec } from '../../src/session/session-record-codec.js';
import { createTokenSealer } from '../../src/session/token-sealer.js';
import type { StoreHarness } from './session-store-contract.js';

export const TEST_SECRET = 'test-session-secret-0123456789abcdef';

export function redisConfig(topology: RedisConfig['topology'], extra: Partial<RedisConfig> = {}): RedisConfig {
  return { topology, keyPrefix: 'session:', commandTimeoutMs: 1000, fallback: 'none', ...extra };
}

/** A Redis store on a real server; time is real (Redis expires keys itself), so `advance` sleeps. */
export async function redisStoreHarness(
  config: RedisConfig,
  opts: { /** Sentinel: confirm lock and under-lock writes as the gateway does (default true). */ confirmedWrites?: boolean } = {},
): Promise<StoreHarness & { client: RedisClient }> {
  const client = createRedisClient(config);
  await waitUntilReady(client, 10_000);
  const confirmed =
    config.topology.mode === 'sentinel' && client instanceof Redis && opts.confirmedWrites !== false
      ? createSentinelConfirmedWrites(client, config)
      : undefined;
  const store = createRedisStore({
    ...(confirmed ? { confirmed } : {}),
    client,
    codec: createSessionRecordCodec(createTokenSealer([TEST_SECRET])),
    clock: () => Date.now(),
    keyPrefix: config.keyPrefix,
  });
  return {
    store,
    client,
    now: () => Date.now(),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: () => store.close(),
  };
}
