import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import { createMigrationStore } from '../../../src/session/migration-store.js';
import type { SessionStore } from '../../../src/session/session-store.js';
import { runSessionStoreContract, sampleRecord } from '../../support/session-store-contract.js';

function stores(): { now: () => number; advance: (ms: number) => void; primary: SessionStore; secondary: SessionStore; store: SessionStore } {
  let now = Date.UTC(2026, 0, 1);
  const clock = () => now;
  const primary = createMemoryStore({ clock });
  const secondary = createMemoryStore({ clock });
  return {
    now: clock,
    advance: (ms) => {
      now += ms;
    },
    primary,
    secondary,
    store: createMigrationStore({ primary, secondary }),
  };
}

runSessionStoreContract('migration (memory over memory)', async () => {
  const s = stores();
  return { store: s.store, now: s.now, advance: async (ms) => s.advance(ms), close: () => s.store.close() };
});

describe('migration store', () => {
  it('reads a session only the old store has, and copies it forward with its expiry and settings', async () => {
    const { store, primary, secondary, now } = stores();
    const record = sampleRecord(now(), { expires_at_ms: now() + 90_000 });
    await secondary.create(record);
    await secondary.putSettings(record.id, { theme: 'dark' });

    expect(await store.get(record.id)).toEqual(record);
    expect(await primary.get(record.id)).toEqual(record);
    expect((await primary.get(record.id))?.expires_at_ms).toBe(now() + 90_000);
    expect(await primary.getSettings(record.id)).toEqual({ theme: 'dark' });
    expect(await secondary.get(record.id)).toEqual(record); // the old store stays complete
  });

  it('updates a session not yet copied forward, in both stores', async () => {
    const { store, primary, secondary, now } = stores();
    const record = sampleRecord(now());
    await secondary.create(record);
    const tokens = { ...record.tokens, access_token: 'rotated' };

    expect((await store.update(record.id, { tokens }))?.tokens.access_token).toBe('rotated');
    expect((await primary.get(record.id))?.tokens.access_token).toBe('rotated');
    expect((await secondary.get(record.id))?.tokens.access_token).toBe('rotated');
  });

  it('deletes from both stores and their sid/sub indexes, whichever holds the session', async () => {
    const { store, primary, secondary, now } = stores();
    const onlyOld = sampleRecord(now(), { sub: 'alice', sid: 'sid-old' });
    const both = sampleRecord(now(), { sub: 'alice', sid: 'sid-new' });
    await secondary.create(onlyOld);
    await store.create(both);

    expect((await store.deleteBySub('alice')).map((r) => r.id).sort()).toEqual([onlyOld.id, both.id].sort());
    for (const s of [primary, secondary]) {
      expect(await s.listBySub('alice')).toEqual([]);
      expect(await s.get(onlyOld.id)).toBeNull();
      expect(await s.get(both.id)).toBeNull();
    }
    const bySid = sampleRecord(now(), { sid: 'sid-x' });
    await secondary.create(bySid);
    expect((await store.deleteBySid('sid-x')).map((r) => r.id)).toEqual([bySid.id]);
    expect(await secondary.get(bySid.id)).toBeNull();
  });

  it('never revives a session logged out while it was being copied forward', async () => {
    const { primary, secondary, now } = stores();
    // Hold the copy between reading the old store and writing the new one, and log out right there.
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let copyStarted = () => {};
    const copying = new Promise<void>((resolve) => {
      copyStarted = resolve;
    });
    const slowPrimary: SessionStore = {
      ...primary,
      async createIfAbsent(record) {
        copyStarted();
        await gate;
        return primary.createIfAbsent(record);
      },
    };
    const store = createMigrationStore({ primary: slowPrimary, secondary });
    const record = sampleRecord(now());
    await secondary.create(record);

    const read = store.get(record.id);
    await copying;
    expect(await store.delete(record.id)).toEqual(record);
    openGate();

    expect(await read).toBeNull();
    expect(await primary.get(record.id)).toBeNull();
    expect(await secondary.get(record.id)).toBeNull();
  });

  it('never overwrites a session another replica copied forward and refreshed meanwhile', async () => {
    const { primary, secondary, now } = stores();
    const record = sampleRecord(now());
    await secondary.create(record);
    // This replica read the primary before the other one's copy landed...
    let firstRead = true;
    const lagging: SessionStore = { ...primary, get: async (id) => (firstRead ? ((firstRead = false), null) : primary.get(id)) };
    // ...which then refreshed it there, rotating the refresh token.
    const refreshed = { ...record, tokens: { ...record.tokens, refresh_token: 'rotated' } };
    await primary.create(refreshed);
    const store = createMigrationStore({ primary: lagging, secondary });

    expect((await store.get(record.id))?.tokens.refresh_token).toBe('rotated');
    expect((await primary.get(record.id))?.tokens.refresh_token).toBe('rotated');
  });

  it('holds a refresh lock against replicas still locking only in the old store', async () => {
    const { store, secondary } = stores();
    const oldReplicaLock = await secondary.acquireLock('session-1', 10_000);
    expect(await store.acquireLock('session-1', 10_000)).toBeNull();
    await oldReplicaLock!.release();

    const lock = await store.acquireLock('session-1', 10_000);
    expect(lock).not.toBeNull();
    expect(await secondary.acquireLock('session-1', 10_000)).toBeNull();
    await lock!.release();
    expect(await secondary.acquireLock('session-1', 10_000)).not.toBeNull();
  });

  it('consumes a login transaction started against the old store exactly once', async () => {
    const { store, secondary } = stores();
    await secondary.putOnce('tx:abc', 'payload', 60_000);
    const taken = await Promise.all([store.takeOnce('tx:abc'), store.takeOnce('tx:abc')]);
    expect(taken.filter((t) => t === 'payload')).toHaveLength(1);
    expect(await secondary.takeOnce('tx:abc')).toBeNull();
  });

  it('refuses a replay mark the old store has already seen', async () => {
    const { store, secondary } = stores();
    await secondary.markOnce('jti-1', 60_000);
    expect(await store.markOnce('jti-1', 60_000)).toBe(false);
  });

  it('says it is migrating in its status, with both sides', async () => {
    const { store, now } = stores();
    await store.create(sampleRecord(now()));
    expect(await store.status()).toMatchObject({
      store: 'migration',
      connected: true,
      sessions: 1,
      primary: { store: 'memory', sessions: 1 },
      secondary: { store: 'memory', sessions: 1 },
    });
  });
});
