import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import { sampleRecord } from '../../support/session-store-contract.js';

describe('memory store sid/sub indexes', () => {
  it('forgets sessions in its indexes once they expire, and keeps the live ones', async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = createMemoryStore({ clock: () => now });
    const short = sampleRecord(now, { sid: 'sid-1', sub: 'alice', expires_at_ms: now + 1000 });
    const long = sampleRecord(now, { sid: 'sid-2', sub: 'alice', expires_at_ms: now + 60_000 });
    await store.create(short);
    await store.create(long);
    now += 2000;
    expect(await store.deleteBySid('sid-1')).toEqual([]);
    expect((await store.listBySub('alice')).map((r) => r.id)).toEqual([long.id]);
    expect((await store.deleteBySub('alice')).map((r) => r.id)).toEqual([long.id]);
    expect(await store.listBySub('alice')).toEqual([]);
    await store.close();
  });

  it('drops settings and index entries with a session ended by sid', async () => {
    const now = Date.UTC(2026, 0, 1);
    const store = createMemoryStore({ clock: () => now });
    const record = sampleRecord(now, { sid: 'sid-x', sub: 'bob' });
    await store.create(record);
    await store.putSettings(record.id, { theme: 'dark' });
    expect(await store.deleteBySid('sid-x')).toHaveLength(1);
    expect(await store.getSettings(record.id)).toBeNull();
    expect(await store.listBySub('bob')).toEqual([]);
    await store.close();
  });
});
