import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisKeys } from '../../src/session/redis-keys.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { sampleRecord } from '../support/session-store-contract.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { waitFor } from '../support/wait-for.js';

type Harness = Awaited<ReturnType<typeof redisStoreHarness>>;

let redis: RedisServer;
let replicaA: Harness;
let replicaB: Harness;
const keys = createRedisKeys('session:');

beforeAll(async () => {
  redis = await startRedis();
  [replicaA, replicaB] = await Promise.all([
    redisStoreHarness(redisConfig({ mode: 'single', url: redis.url })),
    redisStoreHarness(redisConfig({ mode: 'single', url: redis.url })),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([replicaA?.close(), replicaB?.close()]);
  await redis?.stop();
});

describe('redis sid/sub indexes', () => {
  it('keeps a session findable by sid when another replica logs in with that sid during a deleteBySid', async () => {
    for (let round = 0; round < 40; round += 1) {
      const sid = `sid-race-${round}`;
      await replicaA.store.create(sampleRecord(Date.now(), { sid, sub: `sub-race-${round}` }));
      const late = sampleRecord(Date.now(), { sid, sub: `sub-race-${round}` });
      await Promise.all([replicaA.store.deleteBySid(sid), replicaB.store.create(late)]);
      // Whichever came first, a second back-channel logout must end it.
      await replicaB.store.deleteBySid(sid);
      expect(await replicaA.store.get(late.id), `round ${round}`).toBeNull();
    }
  });

  it('lets each index key expire with its latest session and drops expired members on the next write', async () => {
    const now = Date.now();
    const sid = 'sid-ttl';
    const shortLived = sampleRecord(now, { sid, sub: 'sub-ttl', expires_at_ms: now + 1500 });
    await replicaA.store.create(shortLived);
    await replicaA.store.create(sampleRecord(now, { sid, sub: 'sub-ttl', expires_at_ms: now + 60_000 }));
    const pttl = Number(await redis.cli('PTTL', keys.sidIndex(sid)));
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    // The short-lived record has expired in Redis (the event itself, not a guess at how long that takes).
    await waitFor(async () => Date.now() > shortLived.expires_at_ms && (await redis.cli('EXISTS', `session:${shortLived.id}`)) === '0', {
      what: 'the short-lived session to expire',
    });
    await replicaB.store.create(sampleRecord(Date.now(), { sid, sub: 'sub-ttl', expires_at_ms: Date.now() + 30_000 }));
    expect(await redis.cli('ZCARD', keys.sidIndex(sid))).toBe('2');
    expect(Number(await redis.cli('PTTL', keys.sidIndex(sid)))).toBeGreaterThan(55_000);
    expect(await replicaA.store.deleteBySid(sid)).toHaveLength(2);
    expect(await redis.cli('EXISTS', keys.sidIndex(sid))).toBe('0');
  });

  it('moves the index score with a refresh, so the index outlives a record whose expiry moved later', async () => {
    const now = Date.now();
    const record = sampleRecord(now, { sid: 'sid-move', sub: 'sub-move', expires_at_ms: now + 10_000 });
    await replicaA.store.create(record);
    await replicaB.store.update(record.id, { expires_at_ms: now + 120_000 });
    expect(Number(await redis.cli('ZSCORE', keys.sidIndex('sid-move'), record.id))).toBe(now + 120_000);
    expect(Number(await redis.cli('PTTL', keys.subIndex('sub-move')))).toBeGreaterThan(110_000);
    await replicaA.store.delete(record.id);
    expect(await redis.cli('EXISTS', keys.sidIndex('sid-move'), keys.subIndex('sub-move'))).toBe('0');
  });

  it('does not index a session that was deleted while its refresh was being written', async () => {
    const now = Date.now();
    const before = (await replicaA.store.status()).sessions;
    const record = sampleRecord(now, { sid: 'sid-gone', sub: 'sub-gone', expires_at_ms: now + 10_000 });
    await replicaA.store.create(record);
    await replicaB.store.delete(record.id);
    expect(await replicaA.store.update(record.id, { expires_at_ms: now + 60_000 })).toBeNull();
    expect((await replicaA.store.status()).sessions).toBe(before);
    expect(await redis.cli('EXISTS', keys.sidIndex('sid-gone'))).toBe('0');
  });

  it('reads settings it cannot parse as none, not as a server error', async () => {
    const record = sampleRecord(Date.now());
    await replicaA.store.create(record);
    await redis.ok('SET', keys.settings(record.id), '{not json', 'PX', '60000');
    expect(await replicaB.store.getSettings(record.id)).toBeNull();
    await replicaA.store.delete(record.id);
  });
});
