/**
 * REDIS_SESSION_CACHE (src/session/cached-store.ts + redis-invalidations.ts):
 * two replicas on one Redis, each keeping the sessions it read in memory.
 * A change made anywhere must be seen by the very next request everywhere,
 * and nothing may be served from memory while the invalidation channel is down.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { createCachedStore } from '../../src/session/cached-store.js';
import { createRedisClient, waitUntilReady } from '../../src/session/redis-client.js';
import { createRedisInvalidations } from '../../src/session/redis-invalidations.js';
import { createRedisStore } from '../../src/session/redis-store.js';
import { createSessionRecordCodec } from '../../src/session/session-record-codec.js';
import { createTokenSealer } from '../../src/session/token-sealer.js';
import { loginThroughProvider } from '../support/browser-login.js';
import { redisConfig, TEST_SECRET } from '../support/redis-store-harness.js';
import { runSessionStoreContract } from '../support/session-store-contract.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let redis: RedisServer;
let api: EchoApi;
let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  [idp, redis, api] = await Promise.all([startIdentityProvider(), startRedis(), createEchoApi()]);
  const env = { PROXY_ROUTES: `/api=${api.url}`, REDIS_SESSION_CACHE: 'true' };
  a = await startTestGateway({ idp, redisUrl: redis.url, env });
  b = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: a.publicUrl, env });
  await Promise.all([until(() => cacheOnCount(a) > 0), until(() => cacheOnCount(b) > 0)]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all([idp?.close(), redis?.stop(), api?.close()]);
});

runSessionStoreContract('redis single behind the session cache', async () => {
  const config = redisConfig({ mode: 'single', url: redis.url });
  const client = createRedisClient(config) as Redis; // single mode
  await waitUntilReady(client, 10_000);
  const inner = createRedisStore({ client, codec: createSessionRecordCodec(createTokenSealer([TEST_SECRET])), clock: Date.now, keyPrefix: 'session:' });
  const invalidations = createRedisInvalidations({ client, keyPrefix: 'session:' });
  await until(() => invalidations.live);
  const store = createCachedStore(inner, { invalidations, clock: Date.now, maxEntries: 100, maxAgeMs: 60_000 });
  return { store, now: Date.now, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), close: () => store.close() };
});

const messages = (gw: TestGateway) => gw.logs.map((line) => (JSON.parse(line) as { msg?: string }).msg ?? '');
const cacheOnCount = (gw: TestGateway) => messages(gw).filter((m) => m.startsWith('session cache on')).length;
const cacheOffCount = (gw: TestGateway) => messages(gw).filter((m) => m.startsWith('session cache off')).length;

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function login(): Promise<{ cookie: string; id: string }> {
  const { browser, finalResponse } = await loginThroughProvider(`${a.url}/auth/login`, { username: 'admin', password: 'test' });
  expect(finalResponse.status).toBe(302);
  const value = browser.jar.get(a.publicUrl, 'bff_session')!.value;
  return { cookie: `bff_session=${value}`, id: value.split('.')[0]! };
}

const proxied = async (gw: TestGateway, cookie: string) => {
  const response = await fetch(`${gw.url}/api/orders`, { headers: { cookie, 'x-csrf': '1' } });
  await response.arrayBuffer();
  return response.status;
};
const getCalls = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
const logoutOn = (gw: TestGateway, cookie: string) =>
  fetch(`${gw.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });

describe('session cache on two replicas sharing one Redis', () => {
  it('serves a session it has read without asking Redis again', async () => {
    const { cookie } = await login();
    expect(await proxied(b, cookie)).toBe(200);
    const before = await getCalls();
    for (let i = 0; i < 5; i++) expect(await proxied(b, cookie)).toBe(200);
    expect(await getCalls()).toBe(before);
  });

  it('answers 401 on the other replica at the very next request after a logout', async () => {
    const { cookie } = await login();
    expect(await proxied(b, cookie)).toBe(200);
    expect(await proxied(a, cookie)).toBe(200);
    expect((await logoutOn(a, cookie)).status).toBe(200);
    expect(await proxied(b, cookie)).toBe(401);
  });

  it('ends the session on the other replica at once when one deletes by sid (what a back-channel logout does)', async () => {
    const { cookie, id } = await login();
    expect(await proxied(b, cookie)).toBe(200);
    const sid = (await a.store.get(id))!.sid!;
    await a.store.deleteBySid(sid);
    expect(await proxied(b, cookie)).toBe(401);
  });

  it('sees a session deleted straight in Redis (an operator, an older gateway version) at once', async () => {
    const { cookie, id } = await login();
    expect(await proxied(b, cookie)).toBe(200);
    await redis.cli('DEL', `session:${id}`);
    expect(await proxied(b, cookie)).toBe(401);
  });

  it('reads every session from Redis while the invalidation channel is down, and resumes once it is back', async () => {
    const first = await login();
    expect(await proxied(b, first.cookie)).toBe(200);
    const [onBefore, offBefore] = [cacheOnCount(b), cacheOffCount(b)];
    // Subscribing is refused from now on, so the dropped channels cannot come back until we allow it again.
    await redis.ok('ACL', 'SETUSER', 'default', '-subscribe');
    try {
      await redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await until(() => cacheOffCount(b) > offBefore);

      await redis.cli('DEL', `session:${first.id}`);
      expect(await proxied(b, first.cookie)).toBe(401);
      const second = await login();
      const before = await getCalls();
      for (let i = 0; i < 3; i++) expect(await proxied(b, second.cookie)).toBe(200);
      expect(await getCalls()).toBeGreaterThanOrEqual(before + 3);
      expect(cacheOnCount(b)).toBe(onBefore);

      await redis.ok('ACL', 'SETUSER', 'default', '+subscribe');
      await until(() => cacheOnCount(b) > onBefore);
      expect(await proxied(b, second.cookie)).toBe(200);
      expect((await logoutOn(a, second.cookie)).status).toBe(200);
      expect(await proxied(b, second.cookie)).toBe(401);
    } finally {
      await redis.ok('ACL', 'SETUSER', 'default', '+subscribe');
    }
  });

  it('stops serving from memory while Redis hangs (503, not a stale 200), and after it a logout elsewhere still lands at once', async () => {
    const { cookie } = await login();
    expect(await proxied(b, cookie)).toBe(200);
    const [onBefore, offBefore] = [cacheOnCount(b), cacheOffCount(b)];
    await redis.ok('CLIENT', 'PAUSE', '5000', 'ALL');
    const paused = Date.now();
    let status: number;
    do status = await proxied(b, cookie);
    while (status === 200 && Date.now() - paused < 3_500);
    expect(status).toBe(503);
    expect(cacheOffCount(b)).toBe(offBefore + 1);

    await until(() => cacheOnCount(b) > onBefore);
    expect(await proxied(b, cookie)).toBe(200);
    const before = await getCalls();
    expect(await proxied(b, cookie)).toBe(200);
    expect(await getCalls()).toBe(before); // cached again
    expect((await logoutOn(a, cookie)).status).toBe(200);
    expect(await proxied(b, cookie)).toBe(401);
    expect(cacheOffCount(b)).toBe(offBefore + 1);
  });

  it('drops what it cached when its data connection drops, and tracks the new one', async () => {
    const { cookie } = await login();
    expect(await proxied(b, cookie)).toBe(200);
    const onBefore = cacheOnCount(b);
    await redis.cli('CLIENT', 'KILL', 'TYPE', 'normal');
    // No waiting for the periodic check: the very first answers after the reconnect must already be right.
    await until(async () => (await proxied(a, cookie)) === 200 && (await proxied(b, cookie)) === 200);
    await until(async () => (await logoutOn(a, cookie)).status === 200);
    expect(await proxied(b, cookie)).toBe(401);

    await until(() => cacheOnCount(b) > onBefore);
    const next = await login();
    expect(await proxied(b, next.cookie)).toBe(200);
    expect((await logoutOn(a, next.cookie)).status).toBe(200);
    expect(await proxied(b, next.cookie)).toBe(401);
  });
});
