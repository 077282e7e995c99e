import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishLogin, loginThroughProvider, startLogin, type Browser } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { redisStoredText } from '../support/redis-stored-text.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const admin = { username: 'admin', password: 'test' };
let idp: TestIdentityProvider;
let redis: RedisServer;
let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  [idp, redis] = await Promise.all([startIdentityProvider(), startRedis()]);
  a = await startTestGateway({ idp, redisUrl: redis.url });
  // One deployment, two replicas: same PUBLIC_URL, same secret, same Redis.
  b = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: a.publicUrl });
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all([idp?.close(), redis?.stop()]);
});

const cookieOf = (browser: Browser) => `bff_session=${browser.jar.get(a.publicUrl, 'bff_session')!.value}`;
const me = (gw: TestGateway, cookie: string) => fetch(`${gw.url}/auth/me`, { headers: { cookie } });

async function loginVia(gw: TestGateway): Promise<Browser> {
  const { browser, finalResponse } = await loginThroughProvider(`${gw.url}/auth/login`, admin);
  expect(finalResponse.status).toBe(302);
  return browser;
}

describe('two replicas sharing one Redis', () => {
  it('serve a login made on one from the other, even when the callback lands on the other replica', async () => {
    // Login starts on B; the provider sends the browser to PUBLIC_URL, which is A. Behind a real load
    // balancer both share one host; here they have two ports, so carry B's cookies over to A by hand.
    const pending = await startLogin(`${b.url}/auth/login`, admin);
    for (const c of pending.jar.list(b.url)) pending.jar.set(a.publicUrl, c.name, c.value, c.path);
    const { finalResponse, browser } = await finishLogin(pending);
    expect(finalResponse.status).toBe(302);
    const cookie = cookieOf(browser);
    const [onA, onB] = await Promise.all([me(a, cookie), me(b, cookie)]);
    expect(onA.status).toBe(200);
    expect(onB.status).toBe(200);
    expect((await json(onA)).user.preferred_username).toBe('admin');
  });

  it('end the session on both when it is logged out on one', async () => {
    const browser = await loginVia(a);
    const cookie = cookieOf(browser);
    const logout = await fetch(`${b.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
    expect(logout.status).toBe(200);
    expect((await me(a, cookie)).status).toBe(401);
    expect((await me(b, cookie)).status).toBe(401);
  });

  it('keep the session at session:<id> with an 8-hour-or-less TTL, and no token in plaintext anywhere in Redis', async () => {
    const { browser, callbackUrl } = await loginThroughProvider(`${a.url}/auth/login`, admin);
    const id = browser.jar.get(a.publicUrl, 'bff_session')!.value.split('.')[0]!;
    const key = `session:${id}`;
    expect(await redis.cli('EXISTS', key)).toBe('1');
    const ttl = Number(await redis.cli('PTTL', key));
    // The dev provider states refresh_expires_in = 1800 s, which caps the 8 h lifetime (contract: min of both).
    expect(ttl).toBeGreaterThan(1790_000);
    expect(ttl).toBeLessThanOrEqual(1800_000);
    const record = JSON.parse(await redis.cli('GET', key));
    expect(Object.keys(record).sort()).toEqual(expect.arrayContaining(['v', 'user_info', 'created_at', 'expires_at', 'sid', 'sub', 'tokens']));
    expect(record.tokens.split('.')).toHaveLength(5);
    expect(JSON.parse(Buffer.from(record.tokens.split('.')[0], 'base64url').toString())).toMatchObject({ alg: 'dir', enc: 'A256GCM' });

    // Open the record the way the gateway does (same secret) to learn the real tokens, then look for them raw.
    const reader = await redisStoreHarness(redisConfig({ mode: 'single', url: redis.url }));
    const tokens = (await reader.store.get(id))!.tokens;
    await reader.close();
    const secrets = [tokens.access_token, tokens.refresh_token!, tokens.id_token!];
    expect(secrets.every((t) => t.length > 20)).toBe(true);
    const code = new URL(callbackUrl).searchParams.get('code')!;
    const keys = (await redis.cli('--scan')).split('\n').filter(Boolean);
    expect(keys.filter((k) => k.startsWith('session:'))).toContain(key);
    for (const k of keys) {
      expect(Number(await redis.cli('PTTL', k)), `${k} must expire`).toBeGreaterThan(0);
      const value = await redisStoredText(redis.cli, k);
      expect(value, `${k} holds a JWT`).not.toMatch(/eyJ[\w-]{10,}\.eyJ[\w-]{10,}/);
      expect(value).not.toContain(code);
      for (const token of secrets) expect(value, `${k} holds a token`).not.toContain(token);
    }
  });

  it('only session records match session:*', async () => {
    const id = (await loginVia(a)).jar.get(a.publicUrl, 'bff_session')!.value.split('.')[0]!;
    const sessionKeys = (await redis.cli('--scan', '--pattern', 'session:*')).split('\n').filter(Boolean);
    expect(sessionKeys).toContain(`session:${id}`);
    for (const k of sessionKeys) expect(k).toMatch(/^session:[\w-]{43}$/);
  });

  it('report the Redis store on /status', async () => {
    const status = await json(await fetch(`${b.adminUrl}/status`));
    expect(status).toMatchObject({
      store: 'redis',
      connected: true,
      version: expect.stringMatching(/^\d+\.\d+/),
      used_memory: expect.any(String),
      connected_clients: expect.any(Number),
      key_prefix: 'session:',
    });
    expect(status.sessions).toBeGreaterThan(0);
  });
});
