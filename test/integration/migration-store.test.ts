/**
 * Moving from an old standalone Redis (A) to a new Redis Cluster without
 * logging anyone out: REDIS_SECONDARY_URL = A, primary = the Cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrationStore } from '../../src/session/migration-store.js';
import { createBrowser } from '../support/browser-login.js';
import { logIn, logLines, logOut, me, sessionIdOf } from '../support/gateway-user.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { runSessionStoreContract } from '../support/session-store-contract.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, startRedisCluster, type RedisClusterSetup, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let oldRedis: RedisServer;
let cluster: RedisClusterSetup;

beforeAll(async () => {
  [idp, oldRedis, cluster] = await Promise.all([startIdentityProvider(), startRedis(), startRedisCluster({ masters: 3 })]);
}, 90_000);
afterAll(async () => {
  await Promise.all([oldRedis?.stop(), cluster?.stop(), idp?.close()]);
});

const clusterConfig = () => redisConfig({ mode: 'cluster', nodes: cluster.nodes, url: 'redis://' });

runSessionStoreContract('migration: cluster over standalone', async () => {
  const [primary, secondary] = await Promise.all([
    redisStoreHarness(clusterConfig()),
    redisStoreHarness(redisConfig({ mode: 'single', url: oldRedis.url })),
  ]);
  const store = createMigrationStore({ primary: primary.store, secondary: secondary.store });
  return { store, now: primary.now, advance: primary.advance, close: () => store.close() };
});

describe('a gateway restarted with the new Cluster as primary and the old Redis as secondary', () => {
  const gateways: TestGateway[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((gw) => gw.close()));
  });
  const inCluster = (cmd: string, key: string) => cluster.servers[0]!.cli('-c', cmd, key);
  const subIndex = (sub: string) => `bff:session:idx:sub:${Buffer.from(sub).toString('base64url')}`;

  it('keeps the user logged in, copies the record forward with its remaining TTL, and logs out of both', async () => {
    await oldRedis.ok('FLUSHALL');
    const before = await startTestGateway({ idp, redisUrl: oldRedis.url });
    gateways.push(before);
    const browser = await logIn(before);
    const other = await logIn(before, createBrowser());
    const sub = (await me(before, browser)).body.user!.sub!;
    const key = `session:${sessionIdOf(before, browser)}`;
    expect(await oldRedis.cli('EXISTS', key)).toBe('1');
    await before.close();

    // Same PUBLIC_URL and port: the browsers cannot tell a new deployment answers.
    const after = await startTestGateway({
      idp,
      publicUrl: before.publicUrl,
      env: {
        PORT: new URL(before.publicUrl).port,
        REDIS_ENABLED: 'true',
        REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
        REDIS_SECONDARY_URL: oldRedis.url,
      },
    });
    gateways.push(after);
    expect(logLines(after, /MIGRATION MODE/)).toHaveLength(1);
    expect(await inCluster('EXISTS', key)).toBe('0');

    const answer = await me(after, browser);
    expect(answer.status).toBe(200);
    expect(answer.body.user?.sub).toBe(sub);
    expect(await inCluster('EXISTS', key)).toBe('1');
    // Absolute expiry times (PEXPIRETIME), so how long apart the two reads ran does not matter.
    const [newEnd, oldEnd] = [Number(await inCluster('PEXPIRETIME', key)), Number(await oldRedis.cli('PEXPIRETIME', key))];
    expect(newEnd).toBeGreaterThan(Date.now());
    expect(newEnd).toBe(oldEnd);

    const status = await fetch(`${after.adminUrl}/status`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      store: 'migration',
      connected: true,
      key_prefix: 'session:',
      primary: { store: 'redis', connected: true },
      secondary: { store: 'redis', connected: true, sessions: 2 },
    });

    expect(await logOut(after, browser)).toBe(200);
    expect(await inCluster('EXISTS', key)).toBe('0');
    expect(await oldRedis.cli('EXISTS', key)).toBe('0');
    expect((await me(after, browser)).status).toBe(401);

    // A session never read since the switch: a back-channel-style delete by subject still reaches the old store and its index.
    const otherKey = `session:${sessionIdOf(before, other)}`;
    expect(await oldRedis.cli('EXISTS', otherKey)).toBe('1');
    expect((await after.store.deleteBySub(sub)).map((r) => `session:${r.id}`)).toEqual([otherKey]);
    expect(await oldRedis.cli('EXISTS', otherKey)).toBe('0');
    expect(await oldRedis.cli('ZCARD', subIndex(sub))).toBe('0');
    expect((await me(after, other)).status).toBe(401);

    // New logins are written to both, so switching back to the old store loses nobody.
    const fresh = await logIn(after, createBrowser());
    const freshKey = `session:${sessionIdOf(after, fresh)}`;
    expect(await inCluster('EXISTS', freshKey)).toBe('1');
    expect(await oldRedis.cli('EXISTS', freshKey)).toBe('1');
  }, 60_000);
});
