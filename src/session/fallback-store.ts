import { systemClock, type Clock } from '../clock.js';
import { acquireBoth } from './lock-pair.js';
import type { RedisLogger } from './redis-state-log.js';
import type { SessionRecord, SessionStore, StoreStatus } from './session-store.js';
import { StoreError } from './store-error.js';

export interface FallbackStoreDeps {
  /** The Redis (or migration) store. */
  primary: SessionStore;
  /** Where sessions go while the primary is unreachable: a memory store. */
  fallback: SessionStore;
  logger: RedisLogger;
  /** How often the primary is pinged while the fallback is in use, in milliseconds. */
  probeIntervalMs?: number;
  /**
   * How long after start-up a failure is not yet taken for an outage while
   * Redis has never answered, in milliseconds: the first connection takes a
   * moment, and falling back in it would send the first logins to memory.
   */
  startupGraceMs?: number;
  clock?: Clock;
}

const DEFAULT_PROBE_INTERVAL_MS = 1_000;
// As long as the Redis client's connect timeout (redis-client.ts).
const DEFAULT_STARTUP_GRACE_MS = 5_000;

/**
 * REDIS_FALLBACK=memory, for single-instance deployments only: while Redis is
 * unreachable, new logins and everything they need live in this process's
 * memory; when Redis answers again, the sessions made meanwhile are copied
 * into it. Sessions that live in Redis are never taken for "no session" while
 * it is down: asking for one raises StoreError (503, cookie kept). Deletes by
 * sid/sub made during the outage are replayed on Redis before it is used
 * again. Each switch is logged loudly.
 */
export function createFallbackStore(deps: FallbackStoreDeps): SessionStore {
  const { primary, fallback, logger } = deps;
  const probeIntervalMs = deps.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const clock = deps.clock ?? systemClock;
  const graceEndsAtMs = clock() + (deps.startupGraceMs ?? DEFAULT_STARTUP_GRACE_MS);
  let primaryAnswered = false;
  let usingFallback = false;
  let probe: NodeJS.Timeout | undefined;
  let closed = false;
  // What only the memory store knows, so its misses are not taken for Redis's.
  const memorySessions = new Set<string>();
  const memoryOnceKeys = new Set<string>();
  // Deletes Redis still owes once it is back.
  const owed = { ids: new Set<string>(), sids: new Set<string>(), subs: new Set<string>() };
  const forwarding = new Map<string, Promise<void>>();

  const unavailable = (what: string) =>
    new StoreError(`redis is unreachable and ${what} is not in the memory fallback`);

  const switchToFallback = (err: StoreError): void => {
    if (usingFallback || closed) return;
    usingFallback = true;
    logger.error(
      { store: 'redis', fallback: 'memory', reason: err.message },
      'SESSION STORE FALLBACK: redis unreachable, new sessions are kept in THIS PROCESS ONLY until it returns (REDIS_FALLBACK=memory)',
    );
    probe = setInterval(() => void tryRecover(), probeIntervalMs);
    probe.unref();
  };

  let recovering = false;
  const tryRecover = async (): Promise<void> => {
    if (recovering || !usingFallback) return;
    recovering = true;
    try {
      await primary.ping();
      // Redis must not serve a session that was logged out meanwhile.
      for (const id of owed.ids) await primary.delete(id).then(() => owed.ids.delete(id));
      for (const sid of owed.sids) await primary.deleteBySid(sid).then(() => owed.sids.delete(sid));
      for (const sub of owed.subs) await primary.deleteBySub(sub).then(() => owed.subs.delete(sub));
      usingFallback = false;
      clearInterval(probe);
      logger.warn(
        { store: 'redis', fallback: 'memory', memory_sessions: memorySessions.size },
        'SESSION STORE FALLBACK OFF: redis is back; sessions made meanwhile are copied into it',
      );
      await Promise.all([...memorySessions].map((id) => forward(id).catch(() => undefined)));
    } catch {
      // Still down (or down again): the next probe tries again.
    } finally {
      recovering = false;
    }
  };

  /** Copies a session made during an outage into Redis (once; concurrent callers share it). */
  const forward = (id: string): Promise<void> => {
    if (!memorySessions.has(id)) return Promise.resolve();
    const pending = forwarding.get(id);
    if (pending) return pending;
    const copy = (async () => {
      const record = await fallback.get(id);
      if (record) {
        await primary.create(record);
        const settings = await fallback.getSettings(id);
        if (settings) await primary.putSettings(id, settings);
      }
      memorySessions.delete(id);
      await fallback.delete(id);
    })().finally(() => forwarding.delete(id));
    forwarding.set(id, copy);
    return copy;
  };

  /** Runs `onPrimary`, switching to the fallback (and `onFallback`) when Redis does not answer. */
  const route = async <T>(onPrimary: () => Promise<T>, onFallback: () => Promise<T>): Promise<T> => {
    if (!usingFallback) {
      try {
        const result = await onPrimary();
        primaryAnswered = true;
        return result;
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        if (!primaryAnswered && clock() < graceEndsAtMs) throw err; // still connecting for the first time
        switchToFallback(err);
      }
    }
    return onFallback();
  };

  /** For operations on one session: only sessions made during the outage are in memory. */
  const routeSession = <T>(id: string, onPrimary: () => Promise<T>, onFallback: () => Promise<T>): Promise<T> =>
    route(
      async () => {
        await forward(id);
        return onPrimary();
      },
      async () => {
        if (!memorySessions.has(id)) throw unavailable('this session');
        return onFallback();
      },
    );

  const deleteMany = async (
    kind: 'sids' | 'subs',
    value: string,
    onPrimary: () => Promise<SessionRecord[]>,
    onFallback: () => Promise<SessionRecord[]>,
  ): Promise<SessionRecord[]> => {
    // Memory first, in both modes: it may still hold sessions not yet copied into Redis.
    let removedFromMemory: SessionRecord[] | undefined;
    const fromMemory = async () => {
      removedFromMemory ??= await onFallback();
      for (const r of removedFromMemory) memorySessions.delete(r.id);
      return removedFromMemory;
    };
    return route(
      async () => {
        await Promise.all([...forwarding.values()].map((copy) => copy.catch(() => undefined))); // as in delete()
        const removed = await fromMemory();
        return [...removed, ...(await onPrimary()).filter((r) => !removed.some((m) => m.id === r.id))];
      },
      async () => {
        owed[kind].add(value);
        return fromMemory();
      },
    );
  };

  return {
    kind: primary.kind,

    create: (record) =>
      route(
        () => primary.create(record),
        async () => {
          await fallback.create(record);
          memorySessions.add(record.id);
        },
      ),

    createIfAbsent: (record) =>
      route(
        () => primary.createIfAbsent(record),
        async () => {
          if (!(await fallback.createIfAbsent(record))) return false;
          memorySessions.add(record.id);
          return true;
        },
      ),

    get: (id) => routeSession(id, () => primary.get(id), () => fallback.get(id)),
    update: (id, update) => routeSession(id, () => primary.update(id, update), () => fallback.update(id, update)),

    delete: (id) =>
      route(
        async () => {
          // A copy into Redis under way must land first, or it would bring the session back after this delete.
          await forward(id).catch(() => undefined);
          const inMemory = memorySessions.delete(id) ? await fallback.delete(id) : null;
          return (await primary.delete(id)) ?? inMemory;
        },
        async () => {
          if (!memorySessions.has(id)) owed.ids.add(id);
          memorySessions.delete(id);
          return fallback.delete(id);
        },
      ),

    deleteBySid: (sid) => deleteMany('sids', sid, () => primary.deleteBySid(sid), () => fallback.deleteBySid(sid)),
    deleteBySub: (sub) => deleteMany('subs', sub, () => primary.deleteBySub(sub), () => fallback.deleteBySub(sub)),

    listBySub: (sub) =>
      route(
        () => primary.listBySub(sub),
        () => Promise.reject(unavailable('the full list of sessions')),
      ),

    getSettings: (id) => routeSession(id, () => primary.getSettings(id), () => fallback.getSettings(id)),
    putSettings: (id, settings) =>
      routeSession(id, () => primary.putSettings(id, settings), () => fallback.putSettings(id, settings)),

    getSessionValue: (id, name) => routeSession(id, () => primary.getSessionValue(id, name), () => fallback.getSessionValue(id, name)),
    putSessionValue: (id, name, value, expiresAtMs) =>
      routeSession(id, () => primary.putSessionValue(id, name, value, expiresAtMs), () => fallback.putSessionValue(id, name, value, expiresAtMs)),
    getShared: (key) => route(() => primary.getShared(key), () => fallback.getShared(key)),
    putShared: (key, value, ttlMs) => route(() => primary.putShared(key, value, ttlMs), () => fallback.putShared(key, value, ttlMs)),

    // One process only (that is the premise of this store): an in-memory lock is a real lock. It is taken in
    // both modes, so a lock taken during an outage still holds after Redis returns.
    acquireLock: (sessionId, ttlMs) =>
      acquireBoth(
        () => fallback.acquireLock(sessionId, ttlMs),
        () => route(() => primary.acquireLock(sessionId, ttlMs), async () => ({ release: async () => undefined })),
      ),

    putOnce: (key, value, ttlMs) =>
      route(
        () => primary.putOnce(key, value, ttlMs),
        async () => {
          await fallback.putOnce(key, value, ttlMs);
          memoryOnceKeys.add(key);
        },
      ),

    takeOnce: (key) =>
      route(
        async () => {
          // A login started during the outage may finish after it.
          if (memoryOnceKeys.delete(key)) return fallback.takeOnce(key);
          return primary.takeOnce(key);
        },
        async () => {
          if (!memoryOnceKeys.delete(key)) throw unavailable('this one-shot value');
          return fallback.takeOnce(key);
        },
      ),

    markOnce: (key, ttlMs) => route(() => primary.markOnce(key, ttlMs), () => fallback.markOnce(key, ttlMs)),
    clearMark: (key) => route(() => primary.clearMark(key), () => fallback.clearMark(key)),
    increment: (key, windowMs) => route(() => primary.increment(key, windowMs), () => fallback.increment(key, windowMs)),

    // Serving from memory is what the operator asked for: stay ready.
    ping: () => route(() => primary.ping(), async () => undefined),

    async status(): Promise<StoreStatus> {
      const memory = await fallback.status();
      const current = usingFallback ? null : await primary.status().catch(() => null);
      if (current) return { ...current, fallback: 'memory', fallback_active: false };
      return {
        store: primary.kind,
        connected: false,
        // While the fallback serves, the sessions it holds are the ones that work.
        sessions: memory.sessions,
        fallback: 'memory',
        fallback_active: usingFallback,
      };
    },

    async close() {
      closed = true;
      clearInterval(probe);
      await Promise.all([primary.close(), fallback.close()]);
    },
  };
}
