/** Numbers out of redis-cli INFO text. */
import type { RedisServer } from '../../test/support/start-redis.js';

export async function usedMemory(redis: RedisServer): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.cli('INFO', 'memory'))?.[1]);
}

/** cmdstat_<name> calls, e.g. { get: 1200, set: 40 }. */
export async function commandCalls(redis: RedisServer): Promise<Map<string, number>> {
  const text = await redis.cli('INFO', 'commandstats');
  return new Map([...text.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}
