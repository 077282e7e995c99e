import { acquireBoth } from './lock-pair.js';
import type { SessionRecord, SessionStore, StoreStatus } from './session-store.js';

export interface MigrationStoreDeps {
  /** The new store every session ends up in (e.g. a Redis Cluster). */
  primary: SessionStore;
  /** The old store (REDIS_SECONDARY_URL), read as a fallback until it is retired. */
  secondary: SessionStore;
}

/**
 * Moves sessions from an old store to a new one without logging anyone out
 * (CONTRACT.md "Session store"). Reads try the primary, fall back to the
 * secondary and copy what they find forward with its absolute expiry (so the
 * remaining TTL carries over); writes and deletes hit both, so the old store
 * stays complete and a rollback loses nothing. Backend failures of either
 * side propagate as StoreError: a transient error is never "no session".
 */
export function createMigrationStore(deps: MigrationStoreDeps): SessionStore {
  const { primary, secondary } = deps;
  const copying = new Map<string, Promise<SessionRecord | null>>();

  // Deletes go to the secondary first: a copy-forward re-checks the secondary
  // after writing the primary, so with this order a session deleted during
  // its own copy is never revived in the primary (see copyForward).
  const deleteEverywhere = async (id: string): Promise<SessionRecord | null> => {
    const old = await secondary.delete(id);
    return (await primary.delete(id)) ?? old;
  };

  const copyForward = (record: SessionRecord): Promise<SessionRecord | null> => {
    const pending = copying.get(record.id);
    if (pending) return pending;
    const copy = (async () => {
      // Same expires_at_ms: the key keeps its remaining TTL. Only if absent: another replica may have
      // copied it and refreshed it (rotating the refresh token) since we read the secondary.
      if (!(await primary.createIfAbsent(record))) return primary.get(record.id);
      const settings = await secondary.getSettings(record.id);
      if (settings && (await primary.getSettings(record.id)) === null) await primary.putSettings(record.id, settings);
      if ((await secondary.get(record.id)) === null) {
        await primary.delete(record.id); // logged out while we copied
        return null;
      }
      return record;
    })().finally(() => copying.delete(record.id));
    copying.set(record.id, copy);
    return copy;
  };

  const get = async (id: string): Promise<SessionRecord | null> => {
    const current = await primary.get(id);
    if (current) return current;
    const old = await secondary.get(id);
    return old ? copyForward(old) : null;
  };

  return {
    kind: 'migration',

    async create(record) {
      await Promise.all([primary.create(record), secondary.create(record)]);
    },

    async createIfAbsent(record) {
      const [current, old] = await Promise.all([primary.createIfAbsent(record), secondary.createIfAbsent(record)]);
      return current && old;
    },

    get,

    async update(id, update) {
      let next = await primary.update(id, update);
      if (next === null) {
        if ((await get(id)) === null) return null;
        next = await primary.update(id, update);
        if (next === null) return null;
      }
      await secondary.update(id, update);
      return next;
    },

    delete: deleteEverywhere,

    async deleteBySid(sid) {
      const old = await secondary.deleteBySid(sid);
      return mergeById(await primary.deleteBySid(sid), old);
    },

    async deleteBySub(sub) {
      const old = await secondary.deleteBySub(sub);
      return mergeById(await primary.deleteBySub(sub), old);
    },

    async listBySub(sub) {
      const [current, old] = await Promise.all([primary.listBySub(sub), secondary.listBySub(sub)]);
      return mergeById(current, old);
    },

    // Caches of what the provider hands out again on request (exchanged and client tokens): the new store
    // only. A session read copies forward first, so its values follow from the first request on.
    getSessionValue: (id, name) => primary.getSessionValue(id, name),
    putSessionValue: (id, name, value, expiresAtMs) => primary.putSessionValue(id, name, value, expiresAtMs),
    getShared: (key) => primary.getShared(key),
    putShared: (key, value, ttlMs) => primary.putShared(key, value, ttlMs),

    async getSettings(id) {
      return (await primary.getSettings(id)) ?? secondary.getSettings(id);
    },

    async putSettings(id, settings) {
      if ((await get(id)) === null) return false;
      const [stored] = await Promise.all([primary.putSettings(id, settings), secondary.putSettings(id, settings)]);
      return stored;
    },

    acquireLock(sessionId, ttlMs) {
      // Both, old first: replicas still on the old configuration lock only
      // there, and a refresh must stay single across the whole rollout.
      return acquireBoth(
        () => secondary.acquireLock(sessionId, ttlMs),
        () => primary.acquireLock(sessionId, ttlMs),
      );
    },

    async putOnce(key, value, ttlMs) {
      await Promise.all([primary.putOnce(key, value, ttlMs), secondary.putOnce(key, value, ttlMs)]);
    },

    async takeOnce(key) {
      // Taken from both, so a login transaction is consumed once whichever
      // store (or replica generation) started it.
      const [current, old] = await Promise.all([primary.takeOnce(key), secondary.takeOnce(key)]);
      return current ?? old;
    },

    async markOnce(key, ttlMs) {
      const [current, old] = await Promise.all([primary.markOnce(key, ttlMs), secondary.markOnce(key, ttlMs)]);
      return current && old;
    },

    async clearMark(key) {
      await Promise.all([primary.clearMark(key), secondary.clearMark(key)]);
    },

    async increment(key, windowMs) {
      // Rate-limit windows are short-lived and approximate: the new store alone is enough.
      return primary.increment(key, windowMs);
    },

    async ping() {
      await Promise.all([primary.ping(), secondary.ping()]);
    },

    async status(): Promise<StoreStatus> {
      const [current, old] = await Promise.all([settle(primary.status()), settle(secondary.status())]);
      return {
        ...(current ?? {}),
        store: 'migration',
        connected: Boolean(current?.connected && old?.connected),
        // The primary's count: sessions not yet copied forward are in `secondary.sessions`.
        sessions: current?.sessions ?? 0,
        primary: current ?? { store: primary.kind, connected: false },
        secondary: old ?? { store: secondary.kind, connected: false },
      };
    },

    async close() {
      await Promise.all([primary.close(), secondary.close()]);
    },
  };
}

function mergeById(preferred: SessionRecord[], others: SessionRecord[]): SessionRecord[] {
  const byId = new Map(others.map((r) => [r.id, r]));
  for (const r of preferred) byId.set(r.id, r);
  return [...byId.values()];
}

function settle(status: Promise<StoreStatus>): Promise<StoreStatus | null> {
  return status.then(
    (s) => s,
    () => null,
  );
}
