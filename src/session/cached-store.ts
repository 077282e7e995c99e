import type { Clock } from '../clock.js';
import { deepFreeze } from './deep-freeze.js';
import type { SessionRecord, SessionStore, SessionUpdate, StoreLock } from './session-store.js';

/**
 * Where the cache learns that a session changed anywhere (another replica,
 * an operator, an expiry). Implemented for Redis by redis-invalidations.ts.
 */
export interface SessionInvalidations {
  /** True only while every change to a session record is sure to be reported. */
  readonly live: boolean;
  /** Changes whenever `live` changes or everything was dropped; a read begun under another epoch is not cached. */
  readonly epoch: number;
  /** `id` changed or is gone; `null` = anything may have changed (flush everything). */
  subscribe(listener: (id: string | null) => void): void;
  close(): Promise<void>;
}

export interface CachedStoreOptions {
  invalidations: SessionInvalidations;
  clock: Clock;
  /** Bound on memory: the least recently cached entries go first. */
  maxEntries: number;
  /** Bound on how long an entry is served without a read, whatever the feed says (belt and braces). */
  maxAgeMs: number;
}

interface Entry {
  readonly record: SessionRecord;
  readonly cachedAtMs: number;
}

/**
 * A local cache of session records in front of a shared store, so that a
 * proxied request costs no store round trip, no JSON parse and no token
 * decryption once its session has been read.
 *
 * Coherence: an entry is served only while `invalidations` is live, and is
 * dropped as soon as it reports the record changed, so a logout or a
 * back-channel logout on another replica takes effect at once. While the
 * feed is down every read goes to the store and nothing is cached. A read
 * that an invalidation overtook is not cached (the classic client-side
 * caching race), and reads made under the refresh lock always go to the
 * store: the lock holder must see the latest refresh token.
 *
 * Records handed out are frozen and shared between requests; callers build
 * new objects instead of changing them (they are `readonly` already).
 */
export function createCachedStore(inner: SessionStore, options: CachedStoreOptions): SessionStore {
  const { invalidations, clock, maxEntries, maxAgeMs } = options;
  const entries = new Map<string, Entry>();
  // Reads in flight per id, and ids invalidated while one was in flight.
  const reading = new Map<string, number>();
  const overtaken = new Set<string>();
  // Sessions whose refresh lock this process holds: read through, never cached.
  const locked = new Map<string, number>();

  const forget = (id: string) => {
    entries.delete(id);
    if (reading.has(id)) overtaken.add(id);
  };
  invalidations.subscribe((id) => {
    if (id === null) entries.clear();
    else forget(id);
  });

  const cacheable = (id: string, epoch: number) =>
    invalidations.live && invalidations.epoch === epoch && !overtaken.has(id) && !locked.has(id);

  const remember = (id: string, record: SessionRecord) => {
    if (entries.size >= maxEntries) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
    entries.set(id, { record: deepFreeze(record), cachedAtMs: clock() });
  };

  async function readThrough(id: string): Promise<SessionRecord | null> {
    const epoch = invalidations.epoch;
    reading.set(id, (reading.get(id) ?? 0) + 1);
    try {
      const record = await inner.get(id);
      if (record && cacheable(id, epoch)) remember(id, record);
      return record;
    } finally {
      const left = (reading.get(id) ?? 1) - 1;
      if (left > 0) reading.set(id, left);
      else {
        reading.delete(id);
        overtaken.delete(id);
      }
    }
  }

  /** Drops `id` before and after a write, so no read racing the write can leave the old record behind. */
  async function writing<T>(id: string, write: () => Promise<T>): Promise<T> {
    forget(id);
    try {
      return await write();
    } finally {
      forget(id);
    }
  }

  const forgetAll = <T extends { id: string }>(records: T[]) => {
    for (const r of records) forget(r.id);
    return records;
  };

  return {
    kind: inner.kind,

    peek(id) {
      // get()'s cache-hit branch, and nothing else: a miss or a stale entry is get()'s to handle.
      if (!invalidations.live || locked.has(id)) return undefined;
      const entry = entries.get(id);
      if (!entry) return undefined;
      const now = clock();
      return entry.record.expires_at_ms > now && now - entry.cachedAtMs < maxAgeMs ? entry.record : undefined;
    },
    get(id) {
      if (invalidations.live && !locked.has(id)) {
        const entry = entries.get(id);
        if (entry) {
          const now = clock();
          if (entry.record.expires_at_ms > now && now - entry.cachedAtMs < maxAgeMs) return Promise.resolve(entry.record);
          entries.delete(id);
        }
      }
      return readThrough(id);
    },
    create: (record) => writing(record.id, () => inner.create(record)),
    createIfAbsent: (record) => writing(record.id, () => inner.createIfAbsent(record)),
    update: (id, update: SessionUpdate) => writing(id, () => inner.update(id, update)),
    delete: (id) => writing(id, () => inner.delete(id)),
    deleteBySid: async (sid) => forgetAll(await inner.deleteBySid(sid)),
    deleteBySub: async (sub) => forgetAll(await inner.deleteBySub(sub)),
    listBySub: (sub) => inner.listBySub(sub),
    getSettings: (id) => inner.getSettings(id),
    getSessionValue: (id, name) => inner.getSessionValue(id, name),
    putSessionValue: (id, name, value, expiresAtMs) => inner.putSessionValue(id, name, value, expiresAtMs),
    getShared: (key) => inner.getShared(key),
    putShared: (key, value, ttlMs) => inner.putShared(key, value, ttlMs),
    putSettings: (id, settings) => inner.putSettings(id, settings),

    async acquireLock(sessionId, ttlMs): Promise<StoreLock | null> {
      const lock = await inner.acquireLock(sessionId, ttlMs);
      if (!lock) return null;
      locked.set(sessionId, (locked.get(sessionId) ?? 0) + 1);
      forget(sessionId);
      let released = false;
      return {
        async release() {
          if (!released) {
            released = true;
            const left = (locked.get(sessionId) ?? 1) - 1;
            if (left > 0) locked.set(sessionId, left);
            else locked.delete(sessionId);
          }
          await lock.release();
        },
      };
    },

    putOnce: (key, value, ttlMs) => inner.putOnce(key, value, ttlMs),
    takeOnce: (key) => inner.takeOnce(key),
    markOnce: (key, ttlMs) => inner.markOnce(key, ttlMs),
    clearMark: (key) => inner.clearMark(key),
    increment: (key, windowMs) => inner.increment(key, windowMs),
    ping: () => inner.ping(),
    status: () => inner.status(),
    async close() {
      entries.clear();
      await invalidations.close();
      await inner.close();
    },
  };
}
