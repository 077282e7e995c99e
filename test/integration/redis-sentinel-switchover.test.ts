/**
 * A planned Sentinel failover (SENTINEL FAILOVER): the old master stays up and
 * keeps accepting writes until Sentinel reconfigures it as a replica, seconds
 * later, and then throws them away when it resyncs. The store must follow the
 * switch the moment Sentinel announces it, so that a write made after the
 * switch (a rotated refresh token, a login) survives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { sampleRecord } from '../support/session-store-contract.js';
import { demotedResynced, failOver } from '../support/sentinel-failover.js';
import { startRedisSentinel, type RedisSentinelSetup } from '../support/start-redis.js';

let setup: RedisSentinelSetup;
beforeAll(async () => {
  setup = await startRedisSentinel();
}, 90_000);
afterAll(async () => {
  await setup?.stop();
});

describe('a planned Sentinel failover', () => {
  it('sends writes made after the switch to the new master, so none is discarded when the old one resyncs', async () => {
    const h = await redisStoreHarness(
      redisConfig({ mode: 'sentinel', sentinels: setup.sentinels, name: setup.masterName, url: 'redis://localhost:6379/0' }),
    );
    try {
      await h.store.ping();
      const { from, to } = await failOver(setup);
      // Sentinel's announcement reaches the store's client within moments; writes from then on must land on the new master.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const written: string[] = [];
      // Twenty writes, however long a loaded machine takes for them (a count within 3 s measured its speed).
      const until = Date.now() + 30_000;
      while (written.length < 20 && Date.now() < until) {
        const record = sampleRecord(Date.now(), { expires_at_ms: Date.now() + 3_600_000 });
        try {
          await h.store.create(record);
          written.push(record.id);
        } catch {
          // 503 territory while the client reconnects: nothing was promised for these.
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(written).toHaveLength(20);
      // The old master is reconfigured as a replica of the new one and resyncs: whatever only it had is gone now.
      await demotedResynced(setup, from);
      const promoted = to === setup.master.port ? setup.master : setup.replica;
      const missing: string[] = [];
      for (const id of written) if ((await promoted.cli('EXISTS', `session:${id}`)) !== '1') missing.push(id);
      expect(missing).toEqual([]);
    } finally {
      await h.close();
    }
  }, 120_000);
});
