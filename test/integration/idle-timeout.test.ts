/**
 * SESSION_IDLE_TIMEOUT_SECONDS: "any authenticated request counts as
 * activity; never past the absolute lifetime" (except /auth/me?slide=false,
 * which an SPA polls). Time is moved with a shared
 * test clock instead of waited for; memory and Redis stores alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestClock, loginCookie, type TestClock } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const IDLE_S = 60;
const TTL_S = 300;

let idp: TestIdentityProvider;
let redis: RedisServer;
beforeAll(async () => {
  [idp, redis] = await Promise.all([startIdentityProvider(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([idp?.close(), redis?.stop()]);
});

describe.each(['memory', 'redis'] as const)('idle timeout with the %s store', (kind) => {
  let clock: TestClock;
  let gw: TestGateway;
  beforeAll(async () => {
    clock = createTestClock();
    gw = await startTestGateway({
      idp,
      clock: clock.now,
      ...(kind === 'redis' ? { redisUrl: redis.url } : {}),
      env: { SESSION_IDLE_TIMEOUT_SECONDS: String(IDLE_S), SESSION_TTL_SECONDS: String(TTL_S) },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  const me = async (cookie: string) => (await fetch(`${gw.url}/auth/me`, { headers: { cookie } })).status;
  const seconds = (s: number) => clock.advance(s * 1000);

  it('counts a request made soon after the last one as activity: 59 s after it the session is still there', async () => {
    const cookie = await loginCookie(gw);
    seconds(2);
    expect(await me(cookie)).toBe(200);
    seconds(IDLE_S - 1);
    expect(await me(cookie)).toBe(200);
  });

  it('slides with every request, and ends once a full idle limit passes without one', async () => {
    const cookie = await loginCookie(gw);
    for (let i = 0; i < 3; i++) {
      seconds(IDLE_S - 5);
      expect(await me(cookie)).toBe(200);
    }
    seconds(IDLE_S);
    expect(await me(cookie)).toBe(401);
    seconds(-IDLE_S); // gone for good, not merely hidden by the clock
    expect(await me(cookie)).toBe(401);
  });

  it('never keeps a busy session past its absolute lifetime', async () => {
    const cookie = await loginCookie(gw);
    for (let elapsed = 0; elapsed + 30 < TTL_S; elapsed += 30) {
      seconds(30);
      expect(await me(cookie)).toBe(200);
    }
    seconds(30);
    expect(await me(cookie)).toBe(401);
  });

  const poll = async (cookie: string) => (await fetch(`${gw.url}/auth/me?slide=false`, { headers: { cookie } })).status;
  const session = async (cookie: string, query = '') => {
    const response = await fetch(`${gw.url}/auth/me${query}`, { headers: { cookie } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { session: Record<string, unknown> }).session;
  };

  it('does not count /auth/me?slide=false as activity: a session only polled ends after the idle limit', async () => {
    const cookie = await loginCookie(gw);
    for (let i = 0; i < 3; i++) {
      seconds(IDLE_S / 3 - 1);
      expect(await poll(cookie)).toBe(200);
    }
    seconds(4); // IDLE_S + 1 since the login, the last real activity
    expect(await poll(cookie)).toBe(401);
    expect(await me(cookie)).toBe(401);
  });

  it('keeps counting plain /auth/me (slide=true too) as activity on the same schedule', async () => {
    const cookie = await loginCookie(gw);
    for (let i = 0; i < 3; i++) {
      seconds(IDLE_S / 3 - 1);
      expect(await me(cookie)).toBe(200);
    }
    seconds(4);
    expect((await fetch(`${gw.url}/auth/me?slide=true`, { headers: { cookie } })).status).toBe(200);
    seconds(IDLE_S - 1);
    expect(await poll(cookie)).toBe(200);
  });

  it('reports expires_in and idle_expires_at; a polled answer shows the idle end standing still', async () => {
    const cookie = await loginCookie(gw);
    seconds(10);
    const before = clock.now();
    const slid = await session(cookie);
    const after = clock.now();
    expect(Number.isInteger(slid['expires_in'])).toBe(true);
    const expiresAt = Date.parse(slid['expires_at'] as string);
    expect(slid['expires_in']).toBe(Math.floor((expiresAt - before) / 1000));
    expect(slid['expires_in']).toBeLessThanOrEqual(TTL_S - 10);
    expect(slid['expires_in']).toBeGreaterThan(TTL_S - 20);
    const idleEnd = Date.parse(slid['idle_expires_at'] as string);
    expect(new Date(idleEnd).toISOString()).toBe(slid['idle_expires_at']);
    expect(idleEnd).toBeGreaterThanOrEqual(before + IDLE_S * 1000);
    expect(idleEnd).toBeLessThanOrEqual(after + IDLE_S * 1000);

    seconds(20);
    const polled = await session(cookie, '?slide=false');
    expect(polled['idle_expires_at']).toBe(slid['idle_expires_at']);
    expect(polled['expires_at']).toBe(slid['expires_at']);
    expect(polled['expires_in']).toBeLessThanOrEqual((slid['expires_in'] as number) - 19);
  });

  it('refuses a slide value other than true or false', async () => {
    const cookie = await loginCookie(gw);
    const response = await fetch(`${gw.url}/auth/me?slide=no`, { headers: { cookie } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
  });
});
