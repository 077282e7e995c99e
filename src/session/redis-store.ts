import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { forEachMaster, redisServerInfo } from './redis-client.js';
import { createRedisKeys } from './redis-keys.js';
import { defineRedisScripts } from './redis-scripts.js';
import type { SessionRecordCodec } from './session-record-codec.js';
import type { SessionRecord, SessionStore, SessionUpdate, StoreStatus } from './session-store.js';
import { StoreError } from './store-error.js';

const MAX_UPDATE_ATTEMPTS = 5;

export interface RedisStoreDeps {
  /** Built by redis-client.ts for the configured topology (single, TLS, Sentinel, Cluster). */
  client: Redis | Cluster;
  codec: SessionRecordCodec;
  clock: Clock;
  keyPrefix: string;
}

/**
 * Sessions in Redis, shared by every replica. Cluster-safe: multi-key scripts
 * only touch keys of one slot, everything else is one key per command.
 */
export function createRedisStore(deps: RedisStoreDeps): SessionStore {
  const { client, codec, clock, keyPrefix } = deps;
  const keys = createRedisKeys(keyPrefix);
  defineRedisScripts(client);

  // Every backend failure becomes StoreError: callers answer 503, never "no session".
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`redis ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  };

  const readRaw = async (id: string): Promise<{ json: string; record: SessionRecord } | null> => {
    const json = await call('GET', () => client.get(keys.session(id)));
    if (json === null) return null;
    const record = await codec.decode(id, json);
    return record && record.expires_at_ms > clock() ? { json, record } : null;
  };
  const read = async (id: string): Promise<SessionRecord | null> => (await readRaw(id))?.record ?? null;

  const indexSession = (record: SessionRecord) => {
    const now = clock();
    const writes = [
      client.bffIndexAdd(keys.subIndex(record.sub), record.expires_at_ms, record.id, now),
      client.bffIndexAdd(keys.allSessions, record.expires_at_ms, record.id, now),
    ];
    if (record.sid !== undefined) writes.push(client.bffIndexAdd(keys.sidIndex(record.sid), record.expires_at_ms, record.id, now));
    return Promise.all(writes);
  };

  const unindex = (id: string, sub: string | undefined, sid: string | undefined) => {
    const writes: Promise<unknown>[] = [client.del(keys.settings(id)), client.zrem(keys.allSessions, id)];
    if (sub !== undefined) writes.push(client.zrem(keys.subIndex(sub), id));
    if (sid !== undefined) writes.push(client.zrem(keys.sidIndex(sid), id));
    return Promise.all(writes);
  };

  const remove = async (id: string): Promise<SessionRecord | null> => {
    const json = await call('GETDEL', () => client.getdel(keys.session(id)));
    if (json === null) {
      await call('DEL', () => client.del(keys.settings(id)));
      return null;
    }
    // sub/sid are plaintext, so the indexes get cleaned even when the tokens cannot be opened.
    const plain = safeParse(json);
    await call('index cleanup', () => unindex(id, plain?.sub, plain?.sid));
    return codec.decode(id, json);
  };

  const idsOf = (indexKey: string) => call('ZRANGEBYSCORE', () => client.zrangebyscore(indexKey, clock(), '+inf'));

  const removeAll = async (indexKey: string): Promise<SessionRecord[]> => {
    const ids = await idsOf(indexKey);
    const removed = await Promise.all(ids.map(remove));
    await call('DEL', () => client.del(indexKey));
    return removed.filter((r): r is SessionRecord => r !== null);
  };

  return {
    kind: 'redis',

    async create(record) {
      const json = await codec.encode(record);
      await call('SET', () => client.set(keys.session(record.id), json, 'PXAT', record.expires_at_ms));
      await call('index', () => indexSession(record));
    },

    get: read,

    async update(id, update: SessionUpdate) {
      // Read-modify-write with compare-and-set: an idle-time touch racing a refresh must never
      // put back a refresh token the provider has already rotated away.
      for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
        const current = await readRaw(id);
        if (!current) return null;
        const next: SessionRecord = { ...current.record, ...update };
        const json = await codec.encode(next);
        const expected = createHash('sha1').update(current.json).digest('hex');
        const written = await call('update', () =>
          client.bffUpdateSession(keys.session(id), keys.settings(id), expected, json, next.expires_at_ms),
        );
        if (written === 0) return null;
        if (written === -1) continue;
        if (next.expires_at_ms !== current.record.expires_at_ms) await call('index', () => indexSession(next));
        return next;
      }
      throw new StoreError(`session update lost ${MAX_UPDATE_ATTEMPTS} races in a row`);
    },

    delete: remove,

    async deleteBySid(sid) {
      return removeAll(keys.sidIndex(sid));
    },

    async deleteBySub(sub) {
      return removeAll(keys.subIndex(sub));
    },

    async listBySub(sub) {
      const records = await Promise.all((await idsOf(keys.subIndex(sub))).map(read));
      return records.filter((r): r is SessionRecord => r !== null);
    },

    async getSettings(id) {
      const json = await call('GET', () => client.get(keys.settings(id)));
      return json === null ? null : (JSON.parse(json) as Record<string, unknown>);
    },

    async putSettings(id, settings) {
      const json = JSON.stringify(settings);
      return (await call('SET', () => client.bffPutSettings(keys.session(id), keys.settings(id), json))) === 1;
    },

    async acquireLock(sessionId, ttlMs) {
      const key = keys.lock(sessionId);
      const owner = randomUUID();
      const ok = await call('SET NX', () => client.set(key, owner, 'PX', ttlMs, 'NX'));
      if (ok !== 'OK') return null;
      return {
        async release() {
          await call('unlock', () => client.bffReleaseLock(key, owner));
        },
      };
    },

    async putOnce(key, value, ttlMs) {
      await call('SET', () => client.set(keys.once(key), value, 'PX', ttlMs));
    },

    async takeOnce(key) {
      return call('GETDEL', () => client.getdel(keys.once(key)));
    },

    async markOnce(key, ttlMs) {
      return (await call('SET NX', () => client.set(keys.mark(key), '1', 'PX', ttlMs, 'NX'))) === 'OK';
    },

    async increment(key, windowMs) {
      return call('INCR', () => client.bffIncrWindow(keys.counter(key), windowMs));
    },

    async ping() {
      // Every Cluster master: a single dead master would otherwise go unnoticed.
      await call('PING', () => forEachMaster(client, async (node) => void (await node.ping())));
    },

    async status(): Promise<StoreStatus> {
      const now = clock();
      const [info, sessions] = await call('status', () =>
        Promise.all([
          redisServerInfo(client),
          client.zremrangebyscore(keys.allSessions, '-inf', now).then(() => client.zcard(keys.allSessions)),
        ]),
      );
      return { store: 'redis', connected: true, ...info, sessions, key_prefix: keyPrefix };
    },

    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}

function safeParse(json: string): { sub?: string; sid?: string } | null {
  try {
    return JSON.parse(json) as { sub?: string; sid?: string };
  } catch {
    return null;
  }
}
