/**
 * What one login costs in Redis: MEMORY USAGE of every key it writes (the
 * record, its sid and sub indexes, the all-sessions index), measured on an
 * empty Redis so that every key there belongs to that login.
 */
import type { RedisServer } from '../test/support/start-redis.js';
import type { SessionRecord, SessionStore } from '../src/session/session-store.js';

export interface KeyBytes {
  readonly key: string;
  readonly bytes: number;
  /** STRLEN for strings: the payload without Redis' overhead. */
  readonly valueBytes?: number;
}

export async function bytesOfOneLogin(redis: RedisServer, store: SessionStore, record: SessionRecord): Promise<KeyBytes[]> {
  await redis.cli('FLUSHALL');
  await store.create(record);
  const keys = (await redis.cli('--scan')).split('\n').filter(Boolean).sort();
  const out: KeyBytes[] = [];
  for (const key of keys) {
    const bytes = Number(await redis.cli('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const type = await redis.cli('TYPE', key);
    out.push({ key: redactId(key, record.id), bytes, ...(type === 'string' ? { valueBytes: Number(await redis.cli('STRLEN', key)) } : {}) });
  }
  await redis.cli('FLUSHALL');
  return out;
}

const redactId = (key: string, id: string) => key.replace(id, '<id>');
