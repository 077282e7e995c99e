import { describe, expect, it } from 'vitest';
import { createCachedStore, type SessionInvalidations } from '../../../src/session/cached-store.js';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import type { SessionRecord, SessionStore } from '../../../src/session/session-store.js';
import { runSessionStoreContract, sampleRecord } from '../../support/session-store-contract.js';

/** An invalidation feed the test switches by hand (the Redis one is tested in test/integration/session-cache.test.ts). */
function manualFeed(initiallyLive = true) {
  const listeners: ((id: string | null) => void)[] = [];
  const feed = {
    live: initiallyLive,
    epoch: 0,
    subscribe: (listener: (id: string | null) => void) => void listeners.push(listener),
    close: async () => undefined,
    invalidate(id: string | null) {
      if (id === null) feed.epoch += 1;
      for (const l of listeners) l(id);
    },
    setLive(live: boolean) {
      feed.live = live;
      feed.invalidate(null);
    },
  };
  return feed satisfies SessionInvalidations;
}

function setUp(opts: { live?: boolean; maxEntries?: number; maxAgeMs?: number } = {}) {
  let now = Date.UTC(2026, 0, 1);
  const clock = () => now;
  const inner = createMemoryStore({ clock });
  const feed = manualFeed(opts.live ?? true);
  const store = createCachedStore(inner, { invalidations: feed, clock, maxEntries: opts.maxEntries ?? 100, maxAgeMs: opts.maxAgeMs ?? 60_000 });
  return { inner, feed, store, advance: (ms: number) => void (now += ms), now: clock };
}

/** Changes the record behind the cache's back, as another replica would. */
async function changeBehind(inner: SessionStore, record: SessionRecord): Promise<void> {
  await inner.update(record.id, { refreshed_at_ms: record.created_at_ms + 1 });
}

runSessionStoreContract('memory behind the session cache', async () => {
  const { store, now, advance } = setUp();
  return { store, now, advance: async (ms) => advance(ms), close: () => store.close() };
});

describe('session cache', () => {
  it("peek answers what get would, without a promise, only on a cache hit: never a record get would not serve", async () => {
    const { inner, feed, store, advance } = setUp({ maxAgeMs: 60_000 });
    const record = sampleRecord(Date.UTC(2026, 0, 1));
    await store.create(record);
    expect(store.peek!(record.id)).toBeUndefined(); // not read yet: get reads the store
    await store.get(record.id);
    expect(store.peek!(record.id)).toEqual(record);
    await changeBehind(inner, record);
    feed.invalidate(record.id);
    expect(store.peek!(record.id)).toBeUndefined(); // changed elsewhere: only get may answer now
    await store.get(record.id);
    expect(store.peek!(record.id)?.refreshed_at_ms).toBe(record.created_at_ms + 1);
    advance(60_000);
    expect(store.peek!(record.id)).toBeUndefined(); // older than the cache's maximum age
    await store.get(record.id);
    feed.setLive(false);
    expect(store.peek!(record.id)).toBeUndefined(); // no invalidation feed: every read goes to the store
  });

  it('serves a read session from memory until the feed says it changed', async () => {
    const { inner, feed, store } = setUp();
    const record = sampleRecord(Date.UTC(2026, 0, 1));
    await store.create(record);
    expect(await store.get(record.id)).toEqual(record);
    await changeBehind(inner, record);
    expect((await store.get(record.id))?.refreshed_at_ms).toBeUndefined(); // still the cached copy
    feed.invalidate(record.id);
    expect((await store.get(record.id))?.refreshed_at_ms).toBe(record.created_at_ms + 1);
  });

  it('reads the store every time while the feed is down, and starts empty when it comes back', async () => {
    const { inner, feed, store } = setUp();
    const record = sampleRecord(Date.UTC(2026, 0, 1));
    await store.create(record);
    await store.get(record.id);
    feed.setLive(false);
    await changeBehind(inner, record);
    expect((await store.get(record.id))?.refreshed_at_ms).toBe(record.created_at_ms + 1);
    await inner.delete(record.id);
    expect(await store.get(record.id)).toBeNull();
    await inner.create(record);
    await store.get(record.id); // read while down: must not be remembered
    feed.setLive(true);
    await inner.delete(record.id);
    expect(await store.get(record.id)).toBeNull();
  });

  it('does not keep a read that an invalidation overtook', async () => {
    const { inner, feed } = setUp();
    const record = sampleRecord(Date.UTC(2026, 0, 1));
    await inner.create(record);
    // An inner store whose read is answered only after the invalidation arrived.
    let answer!: () => void;
    const slow: SessionStore = { ...inner, get: (id) => new Promise((resolve) => (answer = () => resolve(inner.get(id)))) };
    const store = createCachedStore(slow, { invalidations: feed, clock: Date.now, maxEntries: 10, maxAgeMs: 60_000 });
    const read = store.get(record.id);
    feed.invalidate(record.id);
    answer();
    expect(await read).toEqual(record);
    await inner.delete(record.id);
    answer = () => undefined;
    const next = store.get(record.id);
    answer();
    expect(await next).toBeNull();
  });

  it('reads through while this process holds the refresh lock, so the holder sees the latest tokens', async () => {
    const { inner, store } = setUp();
    const record = sampleRecord(Date.UTC(2026, 0, 1));
    await store.create(record);
    await store.get(record.id);
    const lock = await store.acquireLock(record.id, 5_000);
    await changeBehind(inner, record);
    expect((await store.get(record.id))?.refreshed_at_ms).toBe(record.created_at_ms + 1);
    await lock!.release();
  });

  it('drops its own writes and deletions at once, including by sid and sub', async () => {
    const { store } = setUp();
    const now = Date.UTC(2026, 0, 1);
    const [a, b, c] = [sampleRecord(now, { sid: 'sid-a', sub: 'u1' }), sampleRecord(now, { sid: 'sid-b', sub: 'u2' }), sampleRecord(now, { sid: 'sid-c', sub: 'u2' })];
    for (const r of [a, b, c]) {
      await store.create(r);
      await store.get(r.id);
    }
    expect((await store.update(a.id, { refreshed_at_ms: now + 5 }))?.refreshed_at_ms).toBe(now + 5);
    expect((await store.get(a.id))?.refreshed_at_ms).toBe(now + 5);
    await store.deleteBySid('sid-a');
    await store.deleteBySub('u2');
    expect(await Promise.all([a, b, c].map((r) => store.get(r.id)))).toEqual([null, null, null]);
  });

  it('never serves an expired session, and re-reads an entry older than its maximum age', async () => {
    const { inner, store, advance } = setUp({ maxAgeMs: 10_000 });
    const now = Date.UTC(2026, 0, 1);
    const record = sampleRecord(now, { expires_at_ms: now + 30_000 });
    await store.create(record);
    await store.get(record.id);
    await changeBehind(inner, record);
    advance(10_000);
    expect((await store.get(record.id))?.refreshed_at_ms).toBe(now + 1);
    advance(20_000);
    expect(await store.get(record.id)).toBeNull();
  });

  it('keeps at most maxEntries records, dropping the oldest', async () => {
    const { inner, store } = setUp({ maxEntries: 2 });
    const now = Date.UTC(2026, 0, 1);
    const records = [sampleRecord(now), sampleRecord(now), sampleRecord(now)];
    for (const r of records) {
      await store.create(r);
      await store.get(r.id);
    }
    for (const r of records) await changeBehind(inner, r);
    const seen = await Promise.all(records.map((r) => store.get(r.id)));
    expect(seen.map((r) => r?.refreshed_at_ms)).toEqual([now + 1, undefined, undefined]);
  });

  it('hands out frozen records, so no request can change what the next one sees', async () => {
    const { store } = setUp();
    const record = sampleRecord(Date.UTC(2026, 0, 1));
    await store.create(record);
    const got = (await store.get(record.id))!;
    expect(Object.isFrozen(got) && Object.isFrozen(got.tokens) && Object.isFrozen(got.user_info)).toBe(true);
  });
});
