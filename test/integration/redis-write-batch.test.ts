import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startRedisCluster, type RedisClusterSetup, type RedisServer } from '../support/start-redis.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { sampleRecord } from '../support/session-store-contract.js';
import { waitFor } from '../support/wait-for.js';

// With REDIS_SESSION_CACHE=false every proxied request reads its session from Redis; the reads of one
// event-loop turn leave in one write (redis-write-batch.ts). Redis counts the reads it made from its clients.

let redis: RedisServer;
let cluster: RedisClusterSetup;
beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startRedisCluster({ masters: 3 })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

const readsOf = async (server: RedisServer) => Number(/total_reads_processed:(\d+)/.exec(await server.cli('INFO', 'stats'))?.[1]);

describe('session reads of one event-loop turn', () => {
  it('reach Redis in one read, and each gets its own session', async () => {
    const h = await redisStoreHarness(redisConfig({ mode: 'single', url: redis.url }));
    try {
      const now = Date.now();
      const records = Array.from({ length: 40 }, (_, i) => sampleRecord(now, { sub: `user-${i}`, sid: `sid-${i}` }));
      await Promise.all(records.map((r) => h.store.create(r)));

      const before = await readsOf(redis);
      const read = await Promise.all(records.map((r) => h.store.get(r.id)));
      // 3 as a rule: the two INFO calls (the first is counted after its answer) and the GETs; 40 GETs written one
      // by one would be 42.
      expect((await readsOf(redis)) - before).toBeLessThanOrEqual(4);
      expect(read.map((r) => r?.sub)).toEqual(records.map((r) => r.sub));
      expect(read.map((r) => r?.tokens.access_token)).toEqual(records.map((r) => r.tokens.access_token));
    } finally {
      await h.close();
    }
  });

  it('reach each Cluster master in one read', async () => {
    const h = await redisStoreHarness(redisConfig({ mode: 'cluster', nodes: cluster.nodes, url: 'redis://' }));
    try {
      const now = Date.now();
      const records = Array.from({ length: 60 }, (_, i) => sampleRecord(now, { sub: `user-${i}`, sid: `sid-${i}` }));
      await Promise.all(records.map((r) => h.store.create(r)));

      const before = await Promise.all(cluster.servers.map(readsOf));
      const read = await Promise.all(records.map((r) => h.store.get(r.id)));
      const after = await Promise.all(cluster.servers.map(readsOf));
      // Per master 3 as a rule: the two INFO calls (the first is counted after its answer) and the GETs, with room
      // for the Cluster client's own commands (its slot-map refresh); 60 GETs one by one would be about 20 a master.
      const reads = after.map((n, i) => n - before[i]!);
      reads.forEach((n, i) => expect(n, `master ${i}`).toBeLessThanOrEqual(6));
      expect(reads.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(12);
      expect(read.map((r) => r?.tokens.access_token)).toEqual(records.map((r) => r.tokens.access_token));
    } finally {
      await h.close();
    }
  });

  it('are answered when issued after the turn flushed, and after Redis closed the connection', async () => {
    const h = await redisStoreHarness(redisConfig({ mode: 'single', url: redis.url }));
    try {
      const record = sampleRecord(Date.now());
      await h.store.create(record);
      // From a setImmediate callback: the check phase whose flush already ran this turn.
      const late = await new Promise((resolve, reject) => setImmediate(() => h.store.get(record.id).then(resolve, reject)));
      expect(late).toMatchObject({ id: record.id });

      const killed = (h.client as Redis).stream;
      await redis.cli('CLIENT', 'KILL', 'TYPE', 'normal');
      await waitFor(async () => (await h.store.get(record.id).catch(() => null))?.id === record.id, { what: 'a read after the kill' });
      expect((h.client as Redis).stream).not.toBe(killed);
      const again = await Promise.all([h.store.get(record.id), h.store.get(record.id)]);
      expect(again.map((r) => r?.id)).toEqual([record.id, record.id]);
    } finally {
      await h.close();
    }
  });
});
