import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import type { SessionRecord, SessionStore } from '../../src/session/session-store.js';
import { newSessionId } from '../../src/session/session-cookie.js';

/** A store under test plus a way to move its clock forward. */
export interface StoreHarness {
  store: SessionStore;
  /** Advances the store's notion of time (and real time where the backend expires keys itself). */
  advance(ms: number): Promise<void>;
  now(): number;
  /** Raw backend view (Redis only): every key name and value, for "no plaintext token" checks. */
  dump?(): Promise<Map<string, string>>;
  close(): Promise<void>;
}

const HOUR = 3600_000;

/** Stores under test may be shared by several tests (one redis-server per file): keep names apart. */
const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2, 10)}`;

export function sampleRecord(now: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: newSessionId(),
    sub: 'user-1',
    sid: 'sid-1',
    user_info: { sub: 'user-1', name: 'Admin User', roles: ['admin'] },
    tokens: {
      access_token: `access-${Math.random().toString(36).slice(2)}`,
      refresh_token: `refresh-${Math.random().toString(36).slice(2)}`,
      id_token: `idtoken-${Math.random().toString(36).slice(2)}`,
      token_type: 'Bearer',
      access_expires_at_ms: now + 300_000,
    },
    created_at_ms: now,
    expires_at_ms: now + 8 * HOUR,
    ...overrides,
  };
}

/**
 * The behaviour every SessionStore promises (session-store.ts), run against
 * memory, Redis (single, TLS, Sentinel, Cluster) and migration stores alike.
 */
export function runSessionStoreContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.close();
    });

    it('returns what was created, and null for an unknown id', async () => {
      const record = sampleRecord(h.now());
      await h.store.create(record);
      expect(await h.store.get(record.id)).toEqual(record);
      expect(await h.store.get(newSessionId())).toBeNull();
    });

    it('creates only an absent session with createIfAbsent, leaving an existing one as it is', async () => {
      const record = sampleRecord(h.now());
      expect(await h.store.createIfAbsent(record)).toBe(true);
      expect(await h.store.get(record.id)).toEqual(record);
      const other = { ...record, tokens: { ...record.tokens, refresh_token: 'someone-else' } };
      expect(await h.store.createIfAbsent(other)).toBe(false);
      expect((await h.store.get(record.id))?.tokens.refresh_token).toBe(record.tokens.refresh_token);
      expect((await h.store.listBySub(record.sub)).map((r) => r.id)).toContain(record.id);
    });

    it('forgets a session once its expiry has passed', async () => {
      const record = sampleRecord(h.now(), { expires_at_ms: h.now() + 1500 });
      await h.store.create(record);
      await h.advance(2000);
      expect(await h.store.get(record.id)).toBeNull();
    });

    it('updates only a session that still exists', async () => {
      const record = sampleRecord(h.now());
      await h.store.create(record);
      const tokens = { ...record.tokens, access_token: 'new-access', refresh_token: 'new-refresh' };
      const updated = await h.store.update(record.id, { tokens, refreshed_at_ms: h.now() });
      expect(updated?.tokens.access_token).toBe('new-access');
      expect((await h.store.get(record.id))?.tokens.refresh_token).toBe('new-refresh');

      await h.store.delete(record.id);
      expect(await h.store.update(record.id, { tokens })).toBeNull();
      expect(await h.store.get(record.id)).toBeNull();
    });

    it('loses no field when two updates race', async () => {
      const t = h.now();
      const record = sampleRecord(t);
      await h.store.create(record);
      const tokens = { ...record.tokens, refresh_token: 'rotated-refresh' };
      await Promise.all([
        h.store.update(record.id, { tokens, refreshed_at_ms: t + 1 }),
        h.store.update(record.id, { last_seen_at_ms: t + 2 }),
        h.store.update(record.id, { last_seen_at_ms: t + 3 }),
      ]);
      const stored = await h.store.get(record.id);
      expect(stored?.tokens.refresh_token).toBe('rotated-refresh');
      expect(stored?.refreshed_at_ms).toBe(t + 1);
      expect(stored?.last_seen_at_ms).toBeGreaterThanOrEqual(t + 2);
    });

    it('moves the expiry when an update says so', async () => {
      const record = sampleRecord(h.now());
      await h.store.create(record);
      await h.store.update(record.id, { expires_at_ms: h.now() + 1500 });
      expect(await h.store.get(record.id)).not.toBeNull();
      await h.advance(2000);
      expect(await h.store.get(record.id)).toBeNull();
    });

    it('takes fractional expiries and TTLs (a provider may state refresh_expires_in or iat with a fraction)', async () => {
      const record = sampleRecord(h.now(), { expires_at_ms: h.now() + 60_000.5 });
      await h.store.create(record);
      expect(await h.store.get(record.id)).not.toBeNull();
      expect(await h.store.update(record.id, { expires_at_ms: h.now() + 90_000.25 })).not.toBeNull();
      expect(await h.store.markOnce(`frac-${record.id}`, 1_500.7)).toBe(true);
      await h.store.putOnce(`frac-${record.id}`, 'v', 1_500.7);
      expect(await h.store.takeOnce(`frac-${record.id}`)).toBe('v');
      const lock = await h.store.acquireLock(record.id, 1_500.7);
      expect(lock).not.toBeNull();
      await lock!.release();
      expect(await h.store.increment(`frac-${record.id}`, 1_500.7)).toBe(1);
    });

    it('deletes a session and returns it once', async () => {
      const record = sampleRecord(h.now());
      await h.store.create(record);
      expect((await h.store.delete(record.id))?.tokens.refresh_token).toBe(record.tokens.refresh_token);
      expect(await h.store.delete(record.id)).toBeNull();
      expect(await h.store.get(record.id)).toBeNull();
    });

    it('deletes by sid only the sessions of that provider session', async () => {
      const [sidA, sidB, sub] = [unique('sid-a'), unique('sid-b'), unique('alice')];
      const a = sampleRecord(h.now(), { sid: sidA, sub });
      const a2 = sampleRecord(h.now(), { sid: sidA, sub });
      const b = sampleRecord(h.now(), { sid: sidB, sub });
      for (const r of [a, a2, b]) await h.store.create(r);
      const removed = await h.store.deleteBySid(sidA);
      expect(removed.map((r) => r.id).sort()).toEqual([a.id, a2.id].sort());
      expect(await h.store.get(a.id)).toBeNull();
      expect(await h.store.get(b.id)).not.toBeNull();
      expect(await h.store.deleteBySid(sidA)).toEqual([]);
    });

    it('lists and deletes by sub every session of that user and no other', async () => {
      const alice = unique('alice');
      const a = sampleRecord(h.now(), { sub: alice, sid: unique('s1') });
      const a2 = sampleRecord(h.now(), { sub: alice, sid: unique('s2') });
      const bob = sampleRecord(h.now(), { sub: unique('bob'), sid: unique('s3') });
      for (const r of [a, a2, bob]) await h.store.create(r);
      expect((await h.store.listBySub(alice)).map((r) => r.id).sort()).toEqual([a.id, a2.id].sort());
      const removed = await h.store.deleteBySub(alice);
      expect(removed).toHaveLength(2);
      expect(await h.store.listBySub(alice)).toEqual([]);
      expect(await h.store.get(bob.id)).not.toBeNull();
    });

    it('keeps settings beside the session and drops them with it', async () => {
      const record = sampleRecord(h.now());
      await h.store.create(record);
      expect(await h.store.getSettings(record.id)).toBeNull();
      expect(await h.store.putSettings(record.id, { theme: 'dark' })).toBe(true);
      expect(await h.store.getSettings(record.id)).toEqual({ theme: 'dark' });
      await h.store.delete(record.id);
      expect(await h.store.getSettings(record.id)).toBeNull();
      expect(await h.store.putSettings(record.id, { theme: 'light' })).toBe(false);
    });

    it('keeps per-session values until their expiry or the session ends, whichever comes first', async () => {
      const record = sampleRecord(h.now());
      await h.store.create(record);
      expect(await h.store.getSessionValue(record.id, 'exchange:orders')).toBeNull();
      expect(await h.store.putSessionValue(record.id, 'exchange:orders', 'sealed-1', h.now() + 60_000)).toBe(true);
      expect(await h.store.putSessionValue(record.id, 'exchange:billing', 'sealed-2', h.now() + 1_000)).toBe(true);
      expect(await h.store.getSessionValue(record.id, 'exchange:orders')).toBe('sealed-1');
      expect(await h.store.getSessionValue(record.id, 'exchange:billing')).toBe('sealed-2');
      await h.advance(1_100);
      expect(await h.store.getSessionValue(record.id, 'exchange:billing')).toBeNull();
      expect(await h.store.getSessionValue(record.id, 'exchange:orders')).toBe('sealed-1');
      await h.store.delete(record.id);
      expect(await h.store.getSessionValue(record.id, 'exchange:orders')).toBeNull();
      expect(await h.store.putSessionValue(record.id, 'exchange:orders', 'sealed-3', h.now() + 60_000)).toBe(false);
      expect(await h.store.getSessionValue(record.id, 'exchange:orders')).toBeNull();
      if (h.dump) expect([...(await h.dump()).keys()].filter((k) => k.includes(record.id))).toEqual([]);
    });

    it('keeps shared values for their TTL', async () => {
      const key = unique('client-credentials');
      expect(await h.store.getShared(key)).toBeNull();
      await h.store.putShared(key, 'sealed', 1_000);
      expect(await h.store.getShared(key)).toBe('sealed');
      await h.advance(1_100);
      expect(await h.store.getShared(key)).toBeNull();
    });

    it('hands a lock to one holder at a time, releasable only by its owner', async () => {
      const id = newSessionId();
      const first = await h.store.acquireLock(id, 10_000);
      expect(first).not.toBeNull();
      expect(await h.store.acquireLock(id, 10_000)).toBeNull();
      await first!.release();
      const second = await h.store.acquireLock(id, 10_000);
      expect(second).not.toBeNull();
      await first!.release(); // stale owner: must not free the second holder's lock
      expect(await h.store.acquireLock(id, 10_000)).toBeNull();
    });

    it('lets a lock lapse after its TTL', async () => {
      const id = newSessionId();
      expect(await h.store.acquireLock(id, 1000)).not.toBeNull();
      await h.advance(1500);
      expect(await h.store.acquireLock(id, 1000)).not.toBeNull();
    });

    it('gives a one-shot value exactly once', async () => {
      const key = unique('tx');
      await h.store.putOnce(key, 'payload', 60_000);
      const results = await Promise.all([h.store.takeOnce(key), h.store.takeOnce(key)]);
      expect(results.filter((r) => r === 'payload')).toHaveLength(1);
      expect(await h.store.takeOnce(key)).toBeNull();
    });

    it('marks a key once until it expires', async () => {
      const jti = unique('jti');
      expect(await h.store.markOnce(jti, 1000)).toBe(true);
      expect(await h.store.markOnce(jti, 1000)).toBe(false);
      await h.advance(1500);
      expect(await h.store.markOnce(jti, 1000)).toBe(true);
      await h.store.clearMark(jti);
      expect(await h.store.markOnce(jti, 1000)).toBe(true);
    });

    it('counts within a window and starts over after it', async () => {
      const ip = unique('ip');
      expect(await h.store.increment(ip, 1000)).toBe(1);
      expect(await h.store.increment(ip, 1000)).toBe(2);
      await h.advance(1500);
      expect(await h.store.increment(ip, 1000)).toBe(1);
    });

    it('counts live sessions in its status', async () => {
      const before = (await h.store.status()).sessions;
      const a = sampleRecord(h.now());
      const b = sampleRecord(h.now(), { expires_at_ms: h.now() + 1500 });
      await h.store.create(a);
      await h.store.create(b);
      expect((await h.store.status()).sessions).toBe(before + 2);
      await h.advance(2000);
      expect((await h.store.status()).sessions).toBe(before + 1);
      await h.store.delete(a.id);
      expect((await h.store.status()).sessions).toBe(before);
    });

    it('answers ping while the backend is up', async () => {
      await expect(h.store.ping()).resolves.toBeUndefined();
    });
  });
}
