import type { Cluster, Redis, Result } from 'ioredis';

/**
 * Lua scripts, each touching keys of one Cluster slot only. Registered with
 * defineCommand, so ioredis sends EVALSHA and falls back to EVAL once.
 */
declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** ZADD member at score (expiry ms), prune members expired at now, key expires with its latest member. */
    bffIndexAdd(key: string, scoreMs: number, member: string, nowMs: number): Result<number, Context>;
    /** SET settings with the session's remaining TTL; 0 when the session is gone. */
    bffPutSettings(sessionKey: string, settingsKey: string, json: string): Result<number, Context>;
    /**
     * Compare-and-set: SET session XX PXAT only if it still hashes to `expectedSha1`, and move the settings'
     * expiry with it. 1 = written, 0 = the session is gone, -1 = someone wrote it in between (read again).
     */
    bffUpdateSession(sessionKey: string, settingsKey: string, expectedSha1: string, json: string, expiresAtMs: number): Result<number, Context>;
    /**
     * HSET a per-session value while the session exists; the hash expires with the latest of its values,
     * never after the session. 0 when the session is gone.
     */
    bffPutSessionValue(sessionKey: string, valuesKey: string, field: string, json: string, ttlMs: number): Result<number, Context>;
    /** DEL key only if it still holds our owner token. */
    bffReleaseLock(key: string, owner: string): Result<number, Context>;
    /** INCR, starting a fixed window of windowMs on the first hit. */
    bffIncrWindow(key: string, windowMs: number): Result<number, Context>;
  }
}

const scripts = {
  bffIndexAdd: {
    numberOfKeys: 1,
    lua: `
      redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
      local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
      if top[2] then redis.call('PEXPIREAT', KEYS[1], top[2]) end
      return 1`,
  },
  bffPutSettings: {
    numberOfKeys: 2,
    lua: `
      local ttl = redis.call('PTTL', KEYS[1])
      if ttl <= 0 then return 0 end
      redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
      return 1`,
  },
  bffUpdateSession: {
    numberOfKeys: 2,
    lua: `
      local current = redis.call('GET', KEYS[1])
      if not current then return 0 end
      if redis.sha1hex(current) ~= ARGV[1] then return -1 end
      redis.call('SET', KEYS[1], ARGV[2], 'XX', 'PXAT', ARGV[3])
      redis.call('PEXPIREAT', KEYS[2], ARGV[3])
      return 1`,
  },
  bffPutSessionValue: {
    numberOfKeys: 2,
    lua: `
      local sessionTtl = redis.call('PTTL', KEYS[1])
      if sessionTtl <= 0 then return 0 end
      local ttl = math.min(sessionTtl, tonumber(ARGV[3]))
      redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
      local current = redis.call('PTTL', KEYS[2])
      if current < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
      return 1`,
  },
  bffReleaseLock: {
    numberOfKeys: 1,
    lua: `
      if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
      return 0`,
  },
  bffIncrWindow: {
    numberOfKeys: 1,
    lua: `
      local n = redis.call('INCR', KEYS[1])
      if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
      return n`,
  },
} as const;

export function defineRedisScripts(client: Redis | Cluster): void {
  for (const [name, { numberOfKeys, lua }] of Object.entries(scripts)) {
    client.defineCommand(name, { numberOfKeys, lua });
  }
}
