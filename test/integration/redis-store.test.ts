import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startRedisCluster, type RedisClusterSetup, type RedisServer } from '../support/start-redis.js';
import { redisStoredText } from '../support/redis-stored-text.js';
import { waitFor } from '../support/wait-for.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { runSessionStoreContract, sampleRecord } from '../support/session-store-contract.js';

let single: RedisServer;
let tls: RedisServer;
let cluster: RedisClusterSetup;

beforeAll(async () => {
  [single, tls, cluster] = await Promise.all([startRedis(), startRedis({ tls: true }), startRedisCluster({ masters: 3 })]);
}, 90_000);
afterAll(async () => {
  await Promise.all([single?.stop(), tls?.stop(), cluster?.stop()]);
});

runSessionStoreContract('redis single', () => redisStoreHarness(redisConfig({ mode: 'single', url: single.url })));
runSessionStoreContract('redis TLS', () =>
  redisStoreHarness(redisConfig({ mode: 'single', url: tls.url }, { ...(tls.caFile ? { tlsCaFile: tls.caFile } : {}) })),
);
runSessionStoreContract('redis cluster', () =>
  redisStoreHarness(redisConfig({ mode: 'cluster', nodes: cluster.nodes, url: 'redis://' })),
);

describe('redis store at rest', () => {
  it('writes the record at exactly session:<id> with a PXAT expiry and no plaintext token anywhere', async () => {
    await single.ok('FLUSHALL'); // the contract suites above left their own keys
    const h = await redisStoreHarness(redisConfig({ mode: 'single', url: single.url }));
    try {
      const record = sampleRecord(Date.now(), { expires_at_ms: Date.now() + 3600_000 });
      await h.store.create(record);
      await h.store.putSettings(record.id, { theme: 'dark' });
      const raw = await single.cli('GET', `session:${record.id}`);
      const stored = JSON.parse(raw);
      expect(stored).toMatchObject({ v: 1, sub: record.sub, sid: record.sid, user_info: record.user_info });
      expect(stored.tokens.split('.')).toHaveLength(5);
      const pttl = Number(await single.cli('PTTL', `session:${record.id}`));
      expect(pttl).toBeGreaterThan(3590_000);
      expect(pttl).toBeLessThanOrEqual(3600_000);

      const keys = (await single.cli('--scan', '--pattern', '*')).split('\n').filter(Boolean);
      const sessionKeys = keys.filter((k) => k.startsWith('session:'));
      expect(sessionKeys).toEqual([`session:${record.id}`]);
      for (const key of keys) {
        expect(Number(await single.cli('PTTL', key)), `${key} expires`).toBeGreaterThan(0);
        const stored = await redisStoredText(single.cli, key);
        for (const token of [record.tokens.access_token, record.tokens.refresh_token!, record.tokens.id_token!]) {
          expect(stored, `${key} holds a token`).not.toContain(token);
        }
      }
      await h.store.delete(record.id);
    } finally {
      await h.close();
    }
  });
});

describe('redis store while Redis hangs', () => {
  it('leaves no orphaned refresh lock when taking it timed out: the SET that lands after the hang is taken back', async () => {
    const h = await redisStoreHarness(redisConfig({ mode: 'single', url: single.url }, { commandTimeoutMs: 300 }));
    try {
      const id = `orphan-${Date.now()}`;
      await single.ok('CLIENT', 'PAUSE', '1500', 'ALL');
      await expect(h.store.acquireLock(id, 60_000)).rejects.toThrow(/SET NX failed/);
      // After the pause the late SET runs, then the compare-and-delete sent behind it: the lock is free again,
      // long before its 60 s TTL, and the next refresh can take it.
      await waitFor(async () => (await h.store.acquireLock(id, 60_000).catch(() => null)) !== null, {
        what: 'the lock to be free again',
        timeoutMs: 20_000,
      });
    } finally {
      await h.close();
    }
  });
});
