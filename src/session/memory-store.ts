import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import { deepFreeze } from './deep-freeze.js';
import type { SessionRecord, SessionStore, SessionUpdate, StoreLock, StoreStatus } from './session-store.js';

interface Expiring<T> {
  value: T;
  expiresAtMs: number;
}

/**
 * In-process store: the zero-setup default for development. One process only:
 * replicas would each see their own sessions (said at start-up by main.ts).
 * Expiry is checked against the injected clock on every read, so tests move
 * time instead of waiting. Records are stored as frozen copies and handed
 * out as they are: no copy per read, and no caller can change the stored one.
 */
export function createMemoryStore(deps: { clock: Clock; sweepIntervalMs?: number }): SessionStore {
  const { clock } = deps;
  const sessions = new Map<string, SessionRecord>();
  const settings = new Map<string, Record<string, unknown>>();
  const sessionValues = new Map<string, Map<string, Expiring<string>>>();
  const bySid = new Map<string, Set<string>>();
  const bySub = new Map<string, Set<string>>();
  const values = new Map<string, Expiring<string>>();
  const counters = new Map<string, Expiring<number>>();

  const live = <T>(map: Map<string, Expiring<T>>, key: string): Expiring<T> | undefined => {
    const entry = map.get(key);
    if (entry && entry.expiresAtMs <= clock()) {
      map.delete(key);
      return undefined;
    }
    return entry;
  };

  const index = (map: Map<string, Set<string>>, key: string | undefined, id: string, add: boolean) => {
    if (key === undefined) return;
    const ids = map.get(key) ?? new Set<string>();
    if (add) ids.add(id);
    else ids.delete(id);
    if (ids.size > 0) map.set(key, ids);
    else map.delete(key);
  };

  const getLive = (id: string): SessionRecord | null => {
    const record = sessions.get(id);
    if (!record) return null;
    if (record.expires_at_ms <= clock()) {
      remove(id);
      return null;
    }
    return record;
  };

  const remove = (id: string): SessionRecord | null => {
    const record = sessions.get(id);
    if (!record) return null;
    sessions.delete(id);
    settings.delete(id);
    sessionValues.delete(id);
    index(bySid, record.sid, id, false);
    index(bySub, record.sub, id, false);
    return record;
  };

  const removeAll = (ids: Iterable<string> | undefined): SessionRecord[] => {
    const removed: SessionRecord[] = [];
    for (const id of [...(ids ?? [])]) {
      const record = getLive(id) && remove(id);
      if (record) removed.push(record);
    }
    return removed;
  };

  // Expired records are dropped on read; the sweep bounds memory for sessions never read again.
  const sweep = setInterval(() => {
    for (const id of sessions.keys()) getLive(id);
    for (const key of values.keys()) live(values, key);
    for (const key of counters.keys()) live(counters, key);
  }, deps.sweepIntervalMs ?? 60_000);
  sweep.unref();

  const put = (record: SessionRecord) => {
    remove(record.id);
    sessions.set(record.id, deepFreeze(structuredClone(record)));
    index(bySid, record.sid, record.id, true);
    index(bySub, record.sub, record.id, true);
  };

  return {
    kind: 'memory',

    async create(record) {
      put(record);
    },

    async createIfAbsent(record) {
      if (getLive(record.id)) return false;
      put(record);
      return true;
    },

    async get(id) {
      return getLive(id);
    },

    async update(id, update: SessionUpdate) {
      const record = getLive(id);
      if (!record) return null;
      const next: SessionRecord = deepFreeze(structuredClone({ ...record, ...update }));
      sessions.set(id, next);
      return next;
    },

    async delete(id) {
      return remove(id);
    },

    async deleteBySid(sid) {
      return removeAll(bySid.get(sid));
    },

    async deleteBySub(sub) {
      return removeAll(bySub.get(sub));
    },

    async listBySub(sub) {
      return [...(bySub.get(sub) ?? [])].flatMap((id) => {
        const record = getLive(id);
        return record ? [record] : [];
      });
    },

    async getSettings(id) {
      if (!getLive(id)) return null;
      const stored = settings.get(id);
      return stored ? structuredClone(stored) : null;
    },

    async putSettings(id, value) {
      if (!getLive(id)) return false;
      settings.set(id, structuredClone(value));
      return true;
    },

    async getSessionValue(id, name) {
      if (!getLive(id)) return null;
      const byName = sessionValues.get(id);
      return (byName && live(byName, name)?.value) ?? null;
    },

    async putSessionValue(id, name, value, expiresAtMs) {
      const record = getLive(id);
      if (!record) return false;
      const byName = sessionValues.get(id) ?? new Map<string, Expiring<string>>();
      byName.set(name, { value, expiresAtMs: Math.min(expiresAtMs, record.expires_at_ms) });
      sessionValues.set(id, byName);
      return true;
    },

    async getShared(key) {
      return live(values, `shared:${key}`)?.value ?? null;
    },

    async putShared(key, value, ttlMs) {
      values.set(`shared:${key}`, { value, expiresAtMs: clock() + ttlMs });
    },

    async acquireLock(sessionId, ttlMs) {
      const key = `lock:${sessionId}`;
      if (live(values, key)) return null;
      const owner = randomUUID();
      values.set(key, { value: owner, expiresAtMs: clock() + ttlMs });
      const lock: StoreLock = {
        async release() {
          if (live(values, key)?.value === owner) values.delete(key);
        },
      };
      return lock;
    },

    async putOnce(key, value, ttlMs) {
      values.set(`once:${key}`, { value, expiresAtMs: clock() + ttlMs });
    },

    async takeOnce(key) {
      const entry = live(values, `once:${key}`);
      values.delete(`once:${key}`);
      return entry?.value ?? null;
    },

    async markOnce(key, ttlMs) {
      if (live(values, `mark:${key}`)) return false;
      values.set(`mark:${key}`, { value: '1', expiresAtMs: clock() + ttlMs });
      return true;
    },

    async clearMark(key) {
      values.delete(`mark:${key}`);
    },

    async increment(key, windowMs) {
      const entry = live(counters, key) ?? { value: 0, expiresAtMs: clock() + windowMs };
      entry.value += 1;
      counters.set(key, entry);
      return entry.value;
    },

    async ping() {},

    async status(): Promise<StoreStatus> {
      for (const id of sessions.keys()) getLive(id);
      return { store: 'memory', connected: true, sessions: sessions.size };
    },

    async close() {
      clearInterval(sweep);
    },
  };
}
