import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config, RedisConfig } from '../config/config.js';
import { createFallbackStore } from './fallback-store.js';
import { createMemoryStore } from './memory-store.js';
import { createMigrationStore } from './migration-store.js';
import { createRedisClient, describeRedisTarget } from './redis-client.js';
import { createRedisStore } from './redis-store.js';
import { createSessionRecordCodec, type SessionRecordCodec } from './session-record-codec.js';
import type { SessionStore } from './session-store.js';
import { createTokenSealer } from './token-sealer.js';

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
  const codec = createSessionRecordCodec(createTokenSealer(config.session.secrets));
  let store = redisStore(redis, { codec, clock, logger });
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

function redisStore(config: RedisConfig, deps: { codec: SessionRecordCodec; clock: Clock; logger: Logger }): SessionStore {
  const client = createRedisClient(config, { logger: deps.logger });
  return createRedisStore({ client, codec: deps.codec, clock: deps.clock, keyPrefix: config.keyPrefix });
}
