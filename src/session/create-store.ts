import { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config, RedisConfig } from '../config/config.js';
import { createCachedStore } from './cached-store.js';
import { memoizeDecode } from './decode-memo.js';
import { createFallbackStore } from './fallback-store.js';
import { createMemoryStore } from './memory-store.js';
import { createMigrationStore } from './migration-store.js';
import { createRedisClient, describeRedisTarget } from './redis-client.js';
import { createRedisClusterInvalidations } from './redis-cluster-invalidations.js';
import { createRedisInvalidations } from './redis-invalidations.js';
import { createRedisStore } from './redis-store.js';
import { createSentinelConfirmedWrites } from './sentinel-confirmed-writes.js';
import { createSessionRecordCodec, type SessionRecordCodec } from './session-record-codec.js';
import type { SessionStore } from './session-store.js';
import { createTokenSealer } from './token-sealer.js';

// Local session cache bounds: 10 000 records of ~5 KB decoded is ~50 MB at most;
// an entry is re-read at least every minute even if no invalidation came.
const SESSION_CACHE_MAX_ENTRIES = 10_000;
const SESSION_CACHE_MAX_AGE_MS = 60_000;
// Decoded records remembered next to the exact bytes they came from (~10 KB each: ~10 MB at most).
const DECODE_MEMO_MAX_ENTRIES = 1_000;

/**
 * The store the configuration asks for, announced at start-up: memory, or
 * Redis (any topology), wrapped in a migration store when
 * REDIS_SECONDARY_URL names the old Redis, and in the memory fallback when
 * REDIS_FALLBACK=memory.
 */
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
  const codec = memoizeDecode(createSessionRecordCodec(createTokenSealer(config.session.secrets)), DECODE_MEMO_MAX_ENTRIES);
  let store = redisStore(redis, { codec, clock, logger, sessionCache: redis.sessionCache });
  logger.info({ store: 'redis', target: describeRedisTarget(redis), key_prefix: redis.keyPrefix }, 'session store: redis');

  if (redis.secondaryUrl) {
    // The old Redis: a plain URL (credentials, db, rediss://) sharing the prefix, timeout and CA file.
    const old: RedisConfig = {
      topology: { mode: 'single', url: redis.secondaryUrl },
      keyPrefix: redis.keyPrefix,
      commandTimeoutMs: redis.commandTimeoutMs,
      fallback: 'none',
      ...(redis.tlsCaFile ? { tlsCaFile: redis.tlsCaFile } : {}),
    };
    store = createMigrationStore({ primary: store, secondary: redisStore(old, { codec, clock, logger }) });
    logger.warn(
      { store: 'migration', primary: describeRedisTarget(redis), secondary: describeRedisTarget(old) },
      'session store: MIGRATION MODE: sessions missing from the primary are read from the secondary and copied forward; writes and deletes hit both. Unset REDIS_SECONDARY_URL once the secondary holds no live session.',
    );
  }

  if (redis.fallback === 'memory') {
    logger.warn(
      { store: store.kind, fallback: 'memory' },
      'session store: REDIS_FALLBACK=memory: while redis is unreachable, new sessions live in THIS PROCESS ONLY. Never use with more than one replica.',
    );
    store = createFallbackStore({ primary: store, fallback: createMemoryStore({ clock }), logger });
  }
  return store;
}

function redisStore(
  config: RedisConfig,
  deps: { codec: SessionRecordCodec; clock: Clock; logger: Logger; sessionCache?: boolean },
): SessionStore {
  const { codec, clock, logger } = deps;
  const client = createRedisClient(config, { logger });
  // Sentinel: the refresh lock and the rotated tokens written under it must survive a failover.
  const confirmed =
    config.topology.mode === 'sentinel' && client instanceof Redis ? createSentinelConfirmedWrites(client, config, { logger }) : undefined;
  const store = createRedisStore({ client, codec, clock, keyPrefix: config.keyPrefix, ...(confirmed ? { confirmed } : {}) });
  if (!deps.sessionCache) return store;
  // Decoded records kept in this process, dropped the moment Redis reports a change to their key.
  const feed = { keyPrefix: config.keyPrefix, logger, staleAfterMs: config.commandTimeoutMs };
  const invalidations =
    client instanceof Cluster ? createRedisClusterInvalidations({ cluster: client, ...feed }) : createRedisInvalidations({ client, ...feed });
  return createCachedStore(store, { invalidations, clock, maxEntries: SESSION_CACHE_MAX_ENTRIES, maxAgeMs: SESSION_CACHE_MAX_AGE_MS });
}
