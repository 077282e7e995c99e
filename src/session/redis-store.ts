import { createHash, randomUUID } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import type { Clock } from '../clock.js';
import { forEachMaster, redisServerInfo } from './redis-client.js';
import { createRedisKeys } from './redis-keys.js';
import type { ConfirmedWrites } from './sentinel-confirmed-writes.js';
import { defineRedisScripts } from './redis-scripts.js';
import { createWriteBatch } from './redis-write-batch.js';
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
  /**
   * Sentinel: locks, and every read and write of a session while this process holds its lock, go through
   * connections whose writes are confirmed to survive a failover (see sentinel-confirmed-writes.ts).
   */
  confirmed?: ConfirmedWrites;
}

/**
 * Sessions in Redis, shared by every replica. Cluster-safe: multi-key scripts
 * only touch keys of one slot, everything else is one key per command.
 */
export function createRedisStore(deps: RedisStoreDeps): SessionStore {
  const { client, codec, clock, keyPrefix, confirmed } = deps;
  const keys = createRedisKeys(keyPrefix);
  defineRedisScripts(client);
  /**
   * Locks held by this process, with the confirmed connection the holder reads and writes on: the one that took
   * the lock, or the promoted replica a later write of the same flight had to move to.
   */
  const held = new Map<string, { conn: Redis }>();
  // Every request reads its session here when the local cache is off: the GETs of one loop turn leave together.
  const batchWrites = createWriteBatch();

  // Every backend failure becomes StoreError: callers answer 503, never "no session".
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`redis ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  };

  /** Takes back a lock whose SET may still land: retried until Redis answers, for as long as the lock could live. */
  const releaseOrphan = async (key: string, owner: string, ttlMs: number, conn: Redis | Cluster = client): Promise<void> => {
    const deadline = Date.now() + ttlMs;
    for (let delayMs = 100; Date.now() < deadline; delayMs = Math.min(delayMs * 2, 2_000)) {
      try {
        // Compare-and-delete: sent on the same connection after the SET, so it runs after it; never someone else's lock.
        await conn.bffReleaseLock(key, owner);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  };

  const readRaw = async (id: string, conn: Redis | Cluster = held.get(id)?.conn ?? client): Promise<{ json: string; record: SessionRecord } | null> => {
    batchWrites(conn);
    const json = await call('GET', () => conn.get(keys.session(id)));
    if (json === null) return null;
    const record = await codec.decode(id, json);
    return record && record.expires_at_ms > clock() ? { json, record } : null;
  };
  const read = async (id: string): Promise<SessionRecord | null> => (await readRaw(id))?.record ?? null;

  // The sorted sets live on other Cluster slots than the record, so they are
  // written by separate single-key commands. Indexes are written *before* the
  // record and removed *after* it: a session never exists without its index
  // entries (back-channel logout and "log out everywhere" always find it),
  // while an index entry without a record is harmless and expires with its score.
  const indexKeysOf = (sub: string | undefined, sid: string | undefined) => [
    keys.allSessions,
    ...(sub !== undefined ? [keys.subIndex(sub)] : []),
    ...(sid !== undefined ? [keys.sidIndex(sid)] : []),
  ];

  const indexSession = (record: SessionRecord, conn: Redis | Cluster = client) => {
    const now = clock();
    return Promise.all(
      indexKeysOf(record.sub, record.sid).map((key) => conn.bffIndexAdd(key, atMs(record.expires_at_ms), record.id, now)),
    );
  };

  const unindex = (id: string, sub: string | undefined, sid: string | undefined, conn: Redis | Cluster = client) =>
    Promise.all([conn.del(keys.settings(id)), conn.del(keys.sessionValues(id)), ...indexKeysOf(sub, sid).map((key) => conn.zrem(key, id))]);

  /** Read-modify-write with compare-and-set, on `conn`. */
  const updateOn = async (conn: Redis | Cluster, id: string, update: SessionUpdate): Promise<SessionRecord | null> => {
    // An idle-time touch racing a refresh must never put back a refresh token the provider has already rotated away.
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const current = await readRaw(id, conn);
      if (!current) return null;
      const next: SessionRecord = { ...current.record, ...update };
      const json = await codec.encode(next);
      const expected = createHash('sha1').update(current.json).digest('hex');
      // A later expiry is indexed first, so the index never expires before the record does.
      const moved = next.expires_at_ms !== current.record.expires_at_ms;
      if (moved) await call('index', () => indexSession(next, conn));
      const written = await call('update', () =>
        conn.bffUpdateSession(keys.session(id), keys.settings(id), expected, json, atMs(next.expires_at_ms)),
      );
      if (written === 1) return next;
      if (written === 0) {
        // Deleted meanwhile: take back what we just indexed so the session count stays right.
        if (moved) await call('index cleanup', () => unindex(id, current.record.sub, current.record.sid, conn));
        return null;
      }
    }
    throw new StoreError(`session update lost ${MAX_UPDATE_ATTEMPTS} races in a row`);
  };

  const remove = async (id: string): Promise<SessionRecord | null> => {
    const json = await call('GETDEL', () => client.getdel(keys.session(id)));
    if (json === null) {
      await call('DEL', () => Promise.all([client.del(keys.settings(id)), client.del(keys.sessionValues(id))]));
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
    // No DEL of the index afterwards: that would also drop a session another
    // replica indexed meanwhile, which then could never be found by sid/sub
    // again. remove() takes out exactly the members it deleted; a member
    // without a record may belong to a create() between its index write and
    // its SET, so it stays and expires with its score.
    const removed = await Promise.all(ids.map(remove));
    return removed.filter((r): r is SessionRecord => r !== null);
  };

  return {
    kind: 'redis',

    async create(record) {
      const json = await codec.encode(record);
      await call('index', () => indexSession(record));
      await call('SET', () => client.set(keys.session(record.id), json, 'PXAT', atMs(record.expires_at_ms)));
    },

    async createIfAbsent(record) {
      const json = await codec.encode(record);
      // Indexing an id twice is harmless, and the existing session needs the entries anyway.
      await call('index', () => indexSession(record));
      return (await call('SET NX', () => client.set(keys.session(record.id), json, 'PXAT', atMs(record.expires_at_ms), 'NX'))) === 'OK';
    },

    get: read,

    async update(id, update: SessionUpdate) {
      const flight = held.get(id);
      if (!flight || !confirmed) return updateOn(client, id, update);
      // Under this process's lock (a refresh writing rotated tokens): confirmed, and written again on a new master
      // if this one was just replaced. Idempotent: the update is merged onto whatever that master holds.
      const written = await call('update', () => confirmed.run((c) => updateOn(c, id, update), { on: flight.conn }));
      flight.conn = written.conn;
      return written.value;
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
      return json === null ? null : parseSettings(json);
    },

    async putSettings(id, settings) {
      const json = JSON.stringify(settings);
      return (await call('SET', () => client.bffPutSettings(keys.session(id), keys.settings(id), json))) === 1;
    },

    async getSessionValue(id, name) {
      const json = await call('HGET', () => client.hget(keys.sessionValues(id), name));
      const stored = json === null ? null : parseSessionValue(json);
      return stored !== null && stored.exp > clock() ? stored.v : null;
    },

    async putSessionValue(id, name, value, expiresAtMs) {
      const json = JSON.stringify({ v: value, exp: atMs(expiresAtMs) });
      return (await call('HSET', () => client.bffPutSessionValue(keys.session(id), keys.sessionValues(id), name, json, forMs(expiresAtMs - clock())))) === 1;
    },

    async getShared(key) {
      return call('GET', () => client.get(keys.shared(key)));
    },

    async putShared(key, value, ttlMs) {
      await call('SET', () => client.set(keys.shared(key), value, 'PX', forMs(ttlMs)));
    },

    async acquireLock(sessionId, ttlMs) {
      const key = keys.lock(sessionId);
      const owner = randomUUID();
      if (confirmed) {
        let taken;
        try {
          // Written again after a failover, where our first SET may have arrived after all: then it is ours.
          taken = await call('SET NX', () =>
            confirmed.run(
              async (c, attempt) => (await c.set(key, owner, 'PX', forMs(ttlMs), 'NX')) === 'OK' || (attempt > 1 && (await c.get(key)) === owner),
              { wrote: (taken) => taken },
            ),
          );
        } catch (err) {
          void releaseOrphan(key, owner, ttlMs);
          throw err;
        }
        if (!taken.value) return null;
        const flight = { conn: taken.conn };
        held.set(sessionId, flight);
        return {
          async release() {
            if (held.get(sessionId) === flight) held.delete(sessionId);
            await call('unlock', () => flight.conn.bffReleaseLock(key, owner));
          },
        };
      }
      let ok;
      try {
        ok = await call('SET NX', () => client.set(key, owner, 'PX', forMs(ttlMs), 'NX'));
      } catch (err) {
        // A command that timed out here still runs once a hung Redis (CLIENT PAUSE, a stall) answers again:
        // the lock would then be held by nobody, and every refresh of this session would wait out its TTL.
        void releaseOrphan(key, owner, ttlMs);
        throw err;
      }
      if (ok !== 'OK') return null;
      return {
        async release() {
          await call('unlock', () => client.bffReleaseLock(key, owner));
        },
      };
    },

    async putOnce(key, value, ttlMs) {
      await call('SET', () => client.set(keys.once(key), value, 'PX', forMs(ttlMs)));
    },

    async takeOnce(key) {
      return call('GETDEL', () => client.getdel(keys.once(key)));
    },

    async markOnce(key, ttlMs) {
      return (await call('SET NX', () => client.set(keys.mark(key), '1', 'PX', forMs(ttlMs), 'NX'))) === 'OK';
    },

    async clearMark(key) {
      await call('DEL', () => client.del(keys.mark(key)));
    },

    async increment(key, windowMs) {
      return call('INCR', () => client.bffIncrWindow(keys.counter(key), forMs(windowMs)));
    },

    async ping() {
      // Every Cluster master: a single dead master would otherwise go unnoticed. The client forgets a
      // master it lost, so the Cluster's own view must also say every slot is served.
      await call('PING', async () => {
        await forEachMaster(client, async (node) => void (await node.ping()));
        if (client instanceof Cluster) {
          const info = String(await client.nodes('master')[0]!.call('CLUSTER', 'INFO'));
          if (!/^cluster_state:ok/m.test(info)) throw new Error('Redis Cluster reports cluster_state:fail');
        }
      });
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
      await confirmed?.close();
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

// Written only by putSettings; anything else there (a hand edit) reads as "no settings", never a 500.
function parseSettings(json: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// Redis takes whole milliseconds only ("value is not an integer"): an instant rounds down (never later
// than asked), a duration up (never shorter than asked, and at least 1 ms).
const atMs = (ms: number) => Math.floor(ms);
const forMs = (ms: number) => Math.max(1, Math.ceil(ms));

/** A per-session value as putSessionValue wrote it; anything else reads as absent. */
function parseSessionValue(json: string): { v: string; exp: number } | null {
  try {
    const parsed = JSON.parse(json) as { v?: unknown; exp?: unknown };
    return typeof parsed.v === 'string' && typeof parsed.exp === 'number' ? { v: parsed.v, exp: parsed.exp } : null;
  } catch {
    return null;
  }
}
