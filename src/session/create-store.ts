import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { createCachedStore } from './cached-store.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisClient, describeRedisTarget } from './redis-client.js';
import { createRedisInvalidations } from './redis-invalidations.js';
import { createRedisStore } from './redis-store.js';
import { createSessionRecordCodec } from './session-record-codec.js';
import type { SessionStore } from './session-store.js';
import { createTokenSealer } from './token-sealer.js';

// Local session cache bounds: 10 000 records of ~5 KB decoded is ~50 MB at most;
// an entry is re-read at least every minute even if no invalidation came.
const SESSION_CACHE_MAX_ENTRIES = 10_000;
const SESSION_CACHE_MAX_AGE_MS = 60_000;

/** The store the configuration asks for, announced in one start-up line. */
export function createStoreFromConfig(config: Config, deps: { logger: Logger; clock: Clock }): SessionStore {
  const { logger, clock } = deps;
  const redis = config.redis;
  if (!redis) {
    logger.warn(
      { store: 'memory' },
      'session store: in-memory (this process only; replicas will not share logins; set REDIS_ENABLED=true for production)',
    );
    return createMemoryStore({ clock });
  }
  const codec = createSessionRecordCodec(createTokenSealer(config.session.secrets));
  const client = createRedisClient(redis, { logger });
  logger.info({ store: 'redis', target: describeRedisTarget(redis), key_prefix: redis.keyPrefix }, 'session store: redis');
  const store = createRedisStore({ client, codec, clock, keyPrefix: redis.keyPrefix });
  if (!redis.sessionCache) return store;
  if (client instanceof Cluster) {
    logger.info({}, 'session cache off: not available with Redis Cluster (REDIS_SESSION_CACHE applies to single and Sentinel)');
    return store;
  }
  const invalidations = createRedisInvalidations({ client, keyPrefix: redis.keyPrefix, logger });
  return createCachedStore(store, { invalidations, clock, maxEntries: SESSION_CACHE_MAX_ENTRIES, maxAgeMs: SESSION_CACHE_MAX_AGE_MS });
}
