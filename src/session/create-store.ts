import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisClient, describeRedisTarget } from './redis-client.js';
import { createRedisStore } from './redis-store.js';
import { createSessionRecordCodec } from './session-record-codec.js';
import type { SessionStore } from './session-store.js';
import { createTokenSealer } from './token-sealer.js';

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
  return createRedisStore({ client, codec, clock, keyPrefix: redis.keyPrefix });
}
